"""Shards as Ray tasks: `abl run SPEC --executor ray [--ray-address ADDRESS]`.

Each shard is one task (`run_shard`) asking for `threads` CPUs (one by default) and, where the
run uses CUDA, one GPU. The tasks form a DAG: a network's conditions shards take its recording
shard's result as an argument (an ObjectRef: Ray runs them once the recording is done and hands
them its statistics through the object store; a recording finished by an earlier, resumed run
is put there from the run folder). A worker process keeps the latest run's stimuli and its last
models (loading.SHARED_MODELS), so a network's shards on one worker build it once. A task builds
its models otherwise: trained networks come from the cache
directory when it is shared (a network filesystem named with --cache-dir or ABL_CACHE_DIR on
every node) and are trained on the worker otherwise; stimuli are loaded on the worker from the
spec's sources (embedded datasets, or folders at the same path on every node). The plan goes
to the workers once through the object store; shard results come back through it and are
written into the run folder by the driver as they arrive. A task whose worker dies (a lost
node, a killed process) is retried by Ray (`max_retries`); a spec error in a task is not
retried and is reported as it would be locally.
"""

from __future__ import annotations

from typing import Callable

from abl.interpreter.errors import RunError, import_extra
from abl.interpreter.plan.plan import Plan
from abl.interpreter.progress import Progress, SilentProgress
from abl.interpreter.run.outputs import ShardResult
from abl.interpreter.plan.shards import Shard

MAX_RETRIES = 3


def import_ray():
    return import_extra("ray", "`--executor ray`", "Ray", "ray")


_WORKER_STIMULI: dict[str, dict] = {}       # run id -> stimuli loaded by this worker process
_WORKER_MODELS: dict[str, dict] = {}        # run id -> the last models it built (loading.Loader)


def run_shard(plan: Plan, shard: Shard, options, recording: ShardResult | None = None) -> ShardResult:
    """The task body, on a worker: one shard, with torch's threads set to the task's CPUs. The
    worker keeps the run's loaded stimuli and last models for its next shard (of the latest run
    only). A conditions shard gets its recording shard's result (Ray resolved the reference)."""
    from abl.interpreter.run.executor import Executor

    if options.run_id not in _WORKER_STIMULI:
        _WORKER_STIMULI.clear()
        _WORKER_MODELS.clear()
    loaded = _WORKER_STIMULI.setdefault(options.run_id, {})
    models = _WORKER_MODELS.setdefault(options.run_id, {})
    executor = Executor(plan, SilentProgress(), options.cache_dir, options.device,
                        memory_budget=options.memory_budget, threads=options.threads, keep_state=False,
                        loaded_stimuli=loaded, loaded_models=models)
    result = executor.run_shard(shard, recording)
    import dataclasses

    node = import_ray().get_runtime_context().get_node_id()      # two nodes may share a host name
    return dataclasses.replace(result, node=f"{result.node} (Ray node {node[:8]})")


def run_on_ray(plan: Plan, shards: tuple[Shard, ...], finished: dict[int, ShardResult], options,
               progress: Progress, on_finished: Callable[[ShardResult], None],
               address: str | None) -> list[ShardResult]:
    ray = import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        try:
            ray.init(address=address, include_dashboard=False, logging_level="ERROR", log_to_driver=False,
                     configure_logging=True)
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise RunError(f"cannot reach the Ray cluster at {address or 'a new local instance'}: {error}",
                           help="start one with `ray start --head` and pass its address (host:6379), or leave "
                                "--ray-address out for a local instance; a cluster with token authentication "
                                "(the default of `ray start` since Ray 2.59) also needs RAY_AUTH_MODE=token here, "
                                "with its token in ~/.ray/auth_token or RAY_AUTH_TOKEN") from None
    try:
        return _schedule(ray, plan, shards, finished, options, progress, on_finished)
    finally:
        if started_here:
            ray.shutdown()


def _schedule(ray, plan, shards, finished, options, progress, on_finished) -> list[ShardResult]:
    import dataclasses

    from ray.exceptions import RayError, RayTaskError, TaskCancelledError, WorkerCrashedError

    resources = ray.cluster_resources()
    gpus = 1 if _wants_gpu(plan, options, resources) else 0
    threads = options.threads or 1
    if threads > resources.get("CPU", 0):
        raise RunError(f"each shard asks for {threads} CPUs, but the Ray cluster has {resources.get('CPU', 0):g}",
                       help="lower --threads or add workers to the cluster")
    asked = options.device or plan.device       # MPS is no Ray GPU: a shard asking for it runs there
    options = dataclasses.replace(options, threads=threads,
                                  device="cuda" if gpus else "mps" if asked == "mps" else "cpu")
    task = ray.remote(run_shard).options(num_cpus=threads, num_gpus=gpus, max_retries=MAX_RETRIES,
                                         retry_exceptions=False, name="abl shard")
    plan_ref = ray.put(plan)
    needed = {s.after for s in shards if s.kind == "conditions" and s.index not in finished}
    refs: dict[int, object] = {}             # recording shard -> its result's reference
    pending = {}
    for shard in shards:
        if shard.index in finished:
            if shard.index in needed:
                refs[shard.index] = ray.put(finished[shard.index])
            continue
        if shard.kind == "recording" and shard.index not in needed:
            continue
        ref = task.remote(plan_ref, shard, options, refs.get(shard.after) if shard.after is not None else None)
        refs[shard.index] = ref
        pending[ref] = shard
    del refs                                 # the object store frees a recording once its shards ran
    results: list[ShardResult] = []
    where = f"Ray, {resources.get('CPU', 0):g} CPUs" + (f", {resources.get('GPU', 0):g} GPUs" if gpus else "")
    total = len(pending)
    try:
        with progress.task(f"{total} shards on {where}", total) as bar:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
                for ref in ready:
                    shard = pending.pop(ref)
                    try:
                        result = ray.get(ref)
                    except RayTaskError as error:
                        cause = getattr(error, "cause", None)
                        if isinstance(cause, (RunError, KeyboardInterrupt)):
                            raise cause from None
                        raise
                    except (WorkerCrashedError, TaskCancelledError) as error:
                        raise RunError(f"{shard.label} failed on Ray after {MAX_RETRIES} retries: "
                                       f"{type(error).__name__}",
                                       help="a worker kept dying (out of memory?); check `ray status` "
                                            "and the workers' logs") from None
                    except RayError as error:       # the cluster itself failed: a raylet died, ...
                        raise RunError(f"the Ray cluster failed while running {shard.label}: "
                                       f"{type(error).__name__}: {str(error).splitlines()[0]}",
                                       help="check `ray status`; `abl run --resume RUN_DIR` completes the run "
                                            "with the shards that finished") from None
                    on_finished(result)
                    results.append(result)
                    bar.advance()
                    bar.describe(_describe(total, where, shard, result, results))
    except BaseException:
        for ref in pending:                  # the cluster is left clean: nothing of this run runs on
            ray.cancel(ref, force=True)
        raise
    return results


def _describe(total: int, where: str, shard: Shard, result: ShardResult, results: list[ShardResult]) -> str:
    """The bar's line: the shards done, the conditions shards counted apart, and where the last ran."""
    conditions = sum(r.kind == "conditions" for r in results)
    counted = f", {conditions} conditions shards" if conditions else ""
    return (f"{total} shards on {where}{counted}: {shard.label} done on {result.node} (pid {result.pid}) "
            f"in {result.seconds:.1f} s")


def _wants_gpu(plan: Plan, options, resources: dict) -> bool:
    device = options.device or plan.device
    if device.startswith("cuda"):
        if not resources.get("GPU"):
            raise RunError(f"device `{device}` was asked for, but the Ray cluster has no GPU",
                           help="start workers with GPUs (`ray start --num-gpus 1 ...`) or use `--device cpu`")
        return True
    return device == "auto" and bool(resources.get("GPU"))


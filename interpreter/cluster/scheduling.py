"""Running a plan's shards on an executor, local (this process) or Ray (a cluster), keeping
what finishes: each shard's result is handed to `on_finished` (the run folder writes it) the
moment it is done, and shards already finished (a resumed run) are not run again."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from abl.interpreter.plan.plan import Plan
from abl.interpreter.progress import Progress, SilentProgress
from abl.interpreter.results.run_result import RunResult, merge
from abl.interpreter.run.outputs import ShardResult
from abl.interpreter.plan.shards import plan_shards


@dataclass(frozen=True)
class ExecutionOptions:
    """How shards run, wherever they run. `threads`: torch's intra-op threads per shard (None:
    torch's default here; on Ray, one per task's CPU)."""

    cache_dir: Path | None = None
    device: str | None = None
    memory_budget: int | None = None
    threads: int | None = None
    run_id: str = ""                  # workers keep one run's loaded stimuli between its shards
    split: bool = True                # a network's conditions in shards of their own (plan/shards.py)


def run_plan(plan: Plan, options: ExecutionOptions, progress: Progress | None = None, executor: str = "local",
             ray_address: str | None = None, finished: dict[int, ShardResult] | None = None,
             on_finished: Callable[[ShardResult], None] | None = None) -> RunResult:
    progress = progress or SilentProgress()
    finished = dict(finished or {})
    on_finished = on_finished or (lambda result: None)
    if executor == "ray":
        from abl.interpreter.cluster.ray_executor import run_on_ray

        done = run_on_ray(plan, plan_shards(plan, options.split), finished, options, progress, on_finished,
                          ray_address)
        return merge(plan, list(finished.values()) + done)
    from abl.interpreter.cluster.local import run_locally
    from abl.interpreter.run.executor import Executor

    runner = Executor(plan, progress, options.cache_dir, options.device, memory_budget=options.memory_budget,
                      threads=options.threads, keep_state=False)
    return run_locally(runner, finished, on_finished, options.split)

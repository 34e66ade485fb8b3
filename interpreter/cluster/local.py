"""The local shard loop: a plan's shards one after another in this process, on one Executor. A
network split below itself (plan/shards.py) is recorded once and its conditions shards read that
recording, in order, with the model built once."""

from __future__ import annotations

import contextlib
from typing import Callable

from abl.interpreter.plan.shards import plan_shards
from abl.interpreter.results.run_result import RunResult, merge
from abl.interpreter.run.executor import Executor
from abl.interpreter.run.outputs import ShardResult


def run_locally(executor: Executor, finished: dict[int, ShardResult] | None = None,
                on_finished: Callable[[ShardResult], None] | None = None, split: bool = True) -> RunResult:
    """The whole plan, shard after shard in this process (see plan/shards.py): shards already
    `finished` (a resumed run) are not run again; each new result goes to `on_finished`. A
    recording whose conditions shards are all finished is not run again either."""
    plan = executor.plan
    shards = plan_shards(plan, split)
    results = dict(finished or {})
    needed = {s.after for s in shards if s.kind == "conditions" and s.index not in results}
    with contextlib.ExitStack() as stack:
        overall = stack.enter_context(executor.progress.task(f"{len(shards)} shards", len(shards))) \
            if len(shards) > 1 else None
        if overall is not None:
            overall.advance(len(results))
        for shard in shards:
            if shard.index in results or (shard.kind == "recording" and shard.index not in needed):
                continue
            if overall is not None:
                overall.describe(f"{shard.label} of {len(shards)}")
            recording = results.get(shard.after) if shard.after is not None else None
            results[shard.index] = executor.run_shard(shard, recording)
            if on_finished is not None:
                on_finished(results[shard.index])
            if overall is not None:
                overall.advance()
    return merge(plan, list(results.values()), executor.loaded_stimuli, executor.loaded_models)

"""The local shard loop: a plan's shards one after another in this process, on one Executor."""

from __future__ import annotations

import contextlib
from typing import Callable

from abl.interpreter.plan.shards import plan_shards
from abl.interpreter.results.run_result import RunResult, merge
from abl.interpreter.run.executor import Executor
from abl.interpreter.run.outputs import ShardResult


def run_locally(executor: Executor, finished: dict[int, ShardResult] | None = None,
                on_finished: Callable[[ShardResult], None] | None = None) -> RunResult:
    """The whole plan, shard after shard in this process (see plan/shards.py): shards already
    `finished` (a resumed run) are not run again; each new result goes to `on_finished`."""
    plan = executor.plan
    shards = plan_shards(plan)
    results = dict(finished or {})
    with contextlib.ExitStack() as stack:
        overall = stack.enter_context(executor.progress.task(f"{len(shards)} shards", len(shards))) \
            if len(shards) > 1 else None
        if overall is not None:
            overall.advance(len(results))
        for shard in shards:
            if shard.index in results:
                continue
            if overall is not None:
                overall.describe(f"{shard.label} of {len(shards)}")
            results[shard.index] = executor.run_shard(shard)
            if on_finished is not None:
                on_finished(results[shard.index])
            if overall is not None:
                overall.advance()
    return merge(plan, list(results.values()), executor.loaded_stimuli, executor.loaded_models)

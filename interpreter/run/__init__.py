"""Running a plan: the Executor and everything it computes, up to the verdicts.

Owns the executor's phases (loading, recording, unit selection, conditions, measuring, probes,
feature visualisation), the measures read off outputs, the statistics (intervals, tests, Holm),
the results table's rows (table.py), what a shard hands back (outputs.py) and the decision of
every claim (decide.py): the verdict is reached before anything is written. It may import plan,
backend, data, models and the shared top-level modules; never report, results, cluster or cli."""

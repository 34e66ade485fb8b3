"""A finished run and its files: merging shards, the run folder, reading it back.

Owns RunResult and merge (the shards' rows in plan order, claims decided over the whole table),
the run folder (spec, manifest, results.csv/jsonl/parquet, expectations, selections, figures,
report.txt), the shard store that makes runs resumable, pandas frames, loading a run back,
comparing two runs and MLflow tracking. It may import plan, run and report (to draw a folder's
figures); never cluster or cli."""

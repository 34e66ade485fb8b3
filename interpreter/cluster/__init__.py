"""Where shards run: one after another in this process, or as Ray tasks on a cluster.

Owns the local shard loop, the scheduler that picks an executor and keeps finished shards, and
the Ray executor (tasks, retries, a worker's loaded stimuli kept between shards). It may import
plan, backend, data, models, run and results; only cli and the API import it."""

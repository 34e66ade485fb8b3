"""The interpreter: a checked abl program (abl.spec) planned, run and reported.

The phases are subpackages, each importing only those below it (tests/test_imports.py holds the
rules; docs/architecture.md draws them): plan -> backend -> data -> models -> run -> report ->
results -> cluster -> cli. The modules directly here are shared by all of them (errors, atomic
writes, progress, version, the cache folder, the selectivity formulas) or sit on top of all of
them (api: Experiment, run_file, load_run).
"""

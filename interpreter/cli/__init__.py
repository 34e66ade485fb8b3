"""The commands (`abl run`, `lint`, `fmt`, `plan`, `layers`, `compare`, `explain`): argument
parsing, exit codes and what is printed, and `lint --deep` (cli/deep.py), which builds models to
check layers. The top of the house: it may import every other subpackage and the shared
top-level modules, and nothing imports it (the console script `abl` is `main` here).
"""

from abl.interpreter.cli.main import main

__all__ = ["main"]

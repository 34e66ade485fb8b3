"""`python -m abl.interpreter.cli`: the `abl` command."""

import sys

from abl.interpreter.cli.main import main

sys.exit(main())

"""The root of every error abl reports to a user.

    AblError
    ├── SourceReadError   a spec that cannot be read (missing, a folder, not UTF-8)   spec/source.py
    ├── SpecError         diagnostics: syntax, checking, planning (PlanError)        spec/diagnostics.py
    ├── SettingsError     a `[tool.abl]` table that cannot be used                   spec/settings.py
    └── RunError          a run-time problem, with help, code and span               interpreter/errors.py

The CLI prints all of them as diagnostics (`path:line:col: CODE ...`, or a plain `error:` line
when there is no position) and exits 2; anything else is an internal error.
"""

from __future__ import annotations


class AblError(Exception):
    """An error the user can act on (never a bug in abl)."""

"""How bad a diagnostic is; its own module so that the code table and the records both use it."""

from __future__ import annotations

import enum


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"

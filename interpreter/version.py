"""abl's installed version, for `--version` and the run folder's manifest."""

from __future__ import annotations


def abl_version() -> str:
    try:
        from importlib.metadata import version

        return version("abl")
    except Exception:
        return "0+unknown"

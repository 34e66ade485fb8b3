"""Where trained models are cached: `$ABL_CACHE_DIR`, else `$XDG_CACHE_HOME/abl`, else
`~/.cache/abl`."""

from __future__ import annotations

from pathlib import Path


def default_cache_dir() -> Path:
    import os

    root = os.environ.get("ABL_CACHE_DIR")
    if root:
        return Path(root)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "abl"

"""Where trained models are cached: `$ABL_CACHE_DIR`, else the platform's user cache folder
(platformdirs: `$XDG_CACHE_HOME/abl` or `~/.cache/abl` on Linux, `~/Library/Caches/abl` on macOS,
`%LOCALAPPDATA%\\abl\\Cache` on Windows). An empty variable counts as unset."""

from __future__ import annotations

from pathlib import Path


def default_cache_dir() -> Path:
    import os

    root = os.environ.get("ABL_CACHE_DIR", "").strip()
    if root:
        return Path(root)
    try:
        import platformdirs
    except ImportError:          # the light install: the XDG rule by hand
        xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
        return (Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache") / "abl"
    return Path(platformdirs.user_cache_dir("abl", appauthor=False))

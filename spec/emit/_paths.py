"""Path helpers shared by the machine formats (GitHub annotations, SARIF)."""

from __future__ import annotations

import os
from pathlib import Path


def relative_path(path: str, root: str | os.PathLike | None = None) -> str:
    """`path` relative to `root` (default: the working directory) with forward slashes.

    Paths outside `root`, and pseudo-paths such as `<string>`, are returned unchanged apart from
    the slashes: both GitHub and SARIF want repository-relative paths, and abl is normally run
    from the repository root.
    """
    if path.startswith("<"):
        return path
    p = Path(path)
    if p.is_absolute():
        base = Path(root) if root is not None else Path.cwd()
        try:
            p = p.relative_to(base)
        except ValueError:
            try:
                p = p.resolve().relative_to(base.resolve())
            except (ValueError, OSError):
                pass
    text = p.as_posix()
    return text[2:] if text.startswith("./") else text

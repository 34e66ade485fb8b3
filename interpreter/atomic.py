"""Files written whole or not at all: a temporary file beside the target, renamed over it.

A full disk, Ctrl-C or a crash leaves the earlier file (or none), never a truncated one; and the
rename replaces a symbolic link planted at the target rather than writing through it."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path to write; renamed to `path` when the block ends without an exception."""
    path = Path(path)
    temporary = None
    try:
        with _signals_held():       # a Ctrl-C between creating the file and naming it would leak it
            handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            os.close(handle)
        yield Path(temporary)
        os.chmod(temporary, _mode_for(path))     # mkstemp's 0600 is not what the file should have
        os.replace(temporary, path)
    finally:
        if temporary is not None and os.path.exists(temporary):
            os.unlink(temporary)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM wait until the block ends (then they are delivered as usual)."""
    import signal

    held = {signal.SIGINT, signal.SIGTERM}
    try:
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    except (AttributeError, OSError, ValueError):     # no POSIX signal masks here
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _mode_for(path: Path) -> int:
    """The mode the written file should have: the replaced file's (a spec keeps its own), else what
    a plain `open` would give (0666 less the umask)."""
    try:
        if not path.is_symlink():
            return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        pass
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_text(path: Path, text: str) -> None:
    with atomic_path(path) as temporary:
        with open(temporary, "w", encoding="utf-8", newline="") as handle:   # the text's own newlines
            handle.write(text)

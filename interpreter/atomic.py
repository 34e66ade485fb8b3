"""Files written whole or not at all: a temporary file beside the target, renamed over it.

A full disk, Ctrl-C or a crash leaves the earlier file (or none), never a truncated one; and the
rename replaces a symbolic link planted at the target rather than writing through it."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path to write; flushed to disk (fsync) and renamed to `path` when the block
    ends without an exception, then the folder's entry is flushed too (where the platform can)."""
    path = Path(path)
    temporary = None
    try:
        with _signals_held():       # a Ctrl-C between creating the file and naming it would leak it
            temporary = _create_beside(path)
        yield Path(temporary)
        mode = _replaced_mode(path)
        if mode is not None:        # a rewritten file keeps its mode (a spec keeps its own)
            os.chmod(temporary, mode)
        _fsync_file(temporary)       # the bytes are on disk before the name points at them
        os.replace(temporary, path)
        _fsync_folder(path.parent)
    finally:
        if temporary is not None and os.path.exists(temporary):
            os.unlink(temporary)


def _create_beside(path: Path) -> str:
    """A new empty file beside `path`, created with mode 0666 so that the process's umask applies
    as it does to a plain `open` (no process-wide umask read and reset: other threads may be
    creating files)."""
    for _ in range(100):
        name = os.path.join(path.parent, f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            os.close(os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_BINARY", 0), 0o666))
            return name
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


def _fsync_file(name: str) -> None:
    handle = os.open(name, os.O_RDWR | getattr(os, "O_BINARY", 0))
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def _fsync_folder(folder: Path) -> None:
    """The rename itself on disk: fsync of the folder, where folders can be opened (POSIX)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    try:
        handle = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:          # some file systems refuse fsync on a folder: the file itself is flushed
        pass
    finally:
        os.close(handle)


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


def _replaced_mode(path: Path) -> int | None:
    """The mode of the file being replaced (a symbolic link planted there is replaced, not
    followed), else None: the new file keeps what its creation gave it (0666 less the umask)."""
    try:
        if not path.is_symlink():
            return stat.S_IMODE(path.stat().st_mode)
    except (FileNotFoundError, NotADirectoryError):
        pass
    return None


def write_text(path: Path, text: str) -> None:
    with atomic_path(path) as temporary:
        with open(temporary, "w", encoding="utf-8", newline="") as handle:   # the text's own newlines
            handle.write(text)

"""Run-time errors with a user-facing message; the CLI turns these into exit code 2, never a traceback."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

from abl.spec.errors import AblError


class RunError(AblError):
    """Something the user can fix: a missing file, an unknown layer, a class that does not exist.

    `message` is lowercase, without a trailing period; `help` says what to do.
    `code` is a diagnostic code from abl.spec.codes when one applies (E4xx).
    """

    def __init__(self, message: str, help: str | None = None, code: str | None = None, span=None):
        message, help = _plain(message), _plain(help)      # a library's bold text stays out of ours
        super().__init__(message)
        self.message = message
        self.help = help
        self.code = code
        self.span = span            # where in the spec, when known (abl.spec.source.Span)

    def __reduce__(self):            # pickled whole (Ray sends a worker's errors to the driver)
        return (type(self), (self.message, self.help, self.code, self.span))

    def at(self, span) -> "RunError":
        """The same error, located at `span` unless it already has a place."""
        if self.span is None and span is not None and getattr(span, "line", 0):
            self.span = span
        return self

    def __str__(self) -> str:
        return self.message if not self.help else f"{self.message} (help: {self.help})"


def user_path(raw) -> Path:
    """`raw` as a Path with `~` and `~user` expanded, or a RunError when there is no such user or
    no home folder to expand it to (pathlib raises RuntimeError)."""
    try:
        return Path(raw).expanduser()
    except RuntimeError:
        head = str(raw).replace("\\", "/").split("/", 1)[0]
        raise RunError(f"cannot expand `{head}` in {raw}: no such user or home folder",
                       help="give the path without `~`, or one that names an existing user") from None


# a TorchScript model's layers cannot be hooked (models/build.py, backend/hooks.py)
SCRIPT_HELP = ("save a state dict (`torch.save(net.state_dict(), path)`) and load it with `file \"PATH\" arch A`, "
               "or build it with `python \"module:factory\"`; measurements of the whole network (accuracy, "
               "loss, ...) work on TorchScript")


def check_range(indices, size: int, what: str, where: str) -> None:
    """E403, the one check of indices against a size: units of a layer (selections, edits, feature
    visualisation), rows or columns of a weight matrix, tokens of a sequence. `what`: "unit",
    "token"; `where`: "layer `fc2`", "the outgoing weights of `fc1`"."""
    bad = [i for i in indices if i < 0 or i >= size]
    if bad:
        raise RunError(f"{what} {bad[0]} does not exist in {where} ({size} {what}s)",
                       help=f"{what}s run from 0 to {size - 1}", code="E403")


def check_count(count: int, size: int, what: str) -> None:
    """E403 for `top N`/`random N` asking more units than `what` has."""
    if count > size:
        raise RunError(f"{what} asks for {count} units, but the layer has {size}",
                       help=f"choose at most {size}", code="E403")


def import_extra(module: str, feature: str, name: str, extra: str):
    """`module`, or a RunError saying that `feature` needs the optional extra that provides it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ModuleNotFoundError:
        raise RunError(f"{feature} needs {name}, which this install of abl lacks",
                       help=f"pip install 'abl[{extra}]'   (from a checkout: pip install -e \".[{extra}]\")") from None


@contextlib.contextmanager
def at_statement(span):
    """A RunError raised inside points at the statement `span` (the declaration being loaded or
    the measurement being made) unless it already knows a more precise place."""
    try:
        yield
    except RunError as error:
        if error.span is None:
            error.span = span
        raise


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b")


def _plain(text: str | None) -> str | None:
    """The text without terminal escape sequences (torch's messages carry bold ones)."""
    return _ANSI.sub("", text) if text else text


def user_frame(traceback) -> str | None:
    """`file:line` of the innermost frame when it lies outside abl, torch and the standard
    library: the user's model raised, not abl (None otherwise). The executor and the model
    checks both ask it."""
    import sysconfig

    ours = (Path(__file__).resolve().parent,)     # the whole interpreter package
    library = (Path(sysconfig.get_paths()["stdlib"]).resolve(),)
    last = None
    while traceback is not None:
        last = traceback
        traceback = traceback.tb_next
    if last is None:
        return None
    filename = Path(last.tb_frame.f_code.co_filename)
    try:
        resolved = filename.resolve()
    except OSError:
        return None
    import torch as _torch

    foreign = (Path(_torch.__file__).resolve().parent,) + ours + library
    if filename.name.startswith("<") or any(resolved.is_relative_to(root) for root in foreign):
        return None
    return f"{filename}:{last.tb_lineno}"

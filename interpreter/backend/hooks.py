"""Forward hooks that always come off again, and module lookup by path.

Every hook abl puts on a model goes through `HookSession`: paths are resolved before anything is
registered, all handles live on one `contextlib.ExitStack`, and `__exit__` removes them whether
the forward pass succeeded or raised. One hook signature is used throughout:
`fn(module, inputs, output) -> new output or None` (None keeps the output).
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from typing import Any, Callable, Iterator

import torch
from torch import nn

from abl.interpreter.errors import SCRIPT_HELP, RunError

OutputHook = Callable[[nn.Module, tuple, Any], Any]

SHARED_MODULE_HELP = ("address a module that runs once per forward pass: a block output "
                      "(e.g. `layer1.0`) or the conv/bn modules inside it, not a shared activation "
                      "module such as ResNet's `relu`")


def module_at(model: nn.Module, path: str) -> nn.Module:
    """The submodule at `path` ("" is the model itself); RunError E401 when there is none, and
    when the model is TorchScript (which has no forward hooks)."""
    if isinstance(model, torch.jit.ScriptModule):
        raise RunError(f"the model is TorchScript, whose layers cannot be hooked: `{path or 'the model'}` "
                       f"cannot be recorded or edited (TorchScript has no forward hooks)",
                       help=SCRIPT_HELP, code="E401")
    try:
        return model.get_submodule(path)
    except AttributeError:
        known = [name for name, _ in model.named_modules() if name]
        shown = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")
        raise RunError(f"the model has no module `{path}`", help=f"its modules: {shown}",
                       code="E401") from None


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """model.eval() for the block; every submodule's own training flag is restored afterwards."""
    flags = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, flag in flags:
            module.training = flag


class HookSession:
    """Forward hooks registered on enter and all removed on exit (also on error).

        session = HookSession(model)
        session.add_output_hook("layer1.0", fn)
        with session:
            model(x)

    With `once=True` (the default) a hooked module that runs more than once in one forward pass of
    the model (a shared module such as ResNet's `relu`) raises RunError: its hook would otherwise
    edit or record several different tensors. The per-forward call counts are reset by a forward
    pre-hook on the model itself.
    """

    def __init__(self, model: nn.Module, once: bool = True):
        self.model = model
        self.once = once
        self._pending: list[tuple[str, OutputHook]] = []
        self._stack: contextlib.ExitStack | None = None
        self.calls: dict[int, int] = defaultdict(int)

    def add_output_hook(self, path: str, fn: OutputHook) -> None:
        """Hook the output of the module at `path`; registered on enter (at once if already entered)."""
        if self._stack is not None:
            module = module_at(self.model, path)
            self._register(len(self._pending), path, module, fn)
        self._pending.append((path, fn))

    def _register(self, index: int, path: str, module: nn.Module, fn: OutputHook) -> None:
        def hook(mod, inputs, output):
            self.calls[index] += 1
            if self.once and self.calls[index] > 1:
                raise RunError(f"layer `{path}` runs {self.calls[index]} times in one forward pass "
                               "(a shared module), so it has no single output to record or edit",
                               help=SHARED_MODULE_HELP)
            return fn(mod, inputs, output)

        handle = module.register_forward_hook(hook)
        self._stack.callback(handle.remove)

    def reset_calls(self) -> None:
        self.calls.clear()

    def __enter__(self) -> "HookSession":
        resolved = [(path, module_at(self.model, path), fn) for path, fn in self._pending]
        self._stack = contextlib.ExitStack()
        try:
            if self.once:
                handle = self.model.register_forward_pre_hook(lambda mod, inputs: self.reset_calls())
                self._stack.callback(handle.remove)
            for index, (path, module, fn) in enumerate(resolved):
                self._register(index, path, module, fn)
        except BaseException:
            self._stack.close()
            self._stack = None
            raise
        return self

    def __exit__(self, *exc) -> bool:
        stack, self._stack = self._stack, None
        if stack is not None:
            stack.close()
        return False


def hooks_left(model: nn.Module) -> list[str]:
    """Paths of submodules that still carry forward (pre-)hooks: for tests and sanity checks."""
    return [name for name, module in model.named_modules()
            if module._forward_hooks or module._forward_pre_hooks]


def forward(model: nn.Module, x: torch.Tensor, what: str = "the model") -> torch.Tensor:
    """model(x), with a model failure turned into a RunError (RunErrors from hooks pass through)."""
    try:
        out = model(x)
    except RunError:
        raise
    except RuntimeError as error:
        raise RunError(f"the forward pass of {what} failed on the stimuli: {str(error).splitlines()[0]}",
                       help="check that the stimuli match the model's input (channels, image size)") from error
    if not isinstance(out, torch.Tensor):
        raise RunError(f"{what} returned {type(out).__name__}, not a tensor of logits",
                       help="use a model whose forward returns one (N, classes) tensor")
    return out

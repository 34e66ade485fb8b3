"""Shared test helpers."""

import pytest
import torch
from torch.nn.modules import module as _module_globals


def assert_no_hooks(module: torch.nn.Module) -> None:
    """Fail if any submodule (or torch's global registry) still carries a forward (pre-)hook."""
    left = [(name or "<root>", kind) for name, sub in module.named_modules()
            for kind in ("_forward_hooks", "_forward_pre_hooks", "_forward_hooks_with_kwargs",
                         "_forward_pre_hooks_with_kwargs")
            if getattr(sub, kind, None)]
    assert not left, f"hooks left behind: {left}"
    assert not _module_globals._global_forward_hooks, "global forward hooks left behind"
    assert not _module_globals._global_forward_pre_hooks, "global forward pre-hooks left behind"


@pytest.fixture
def no_hooks_left():
    """`no_hooks_left(model)` asserts that no forward hooks remain on any submodule of `model`."""
    return assert_no_hooks

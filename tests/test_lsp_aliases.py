"""The language server's layer aliases (spec/lsp/layer_aliases.py, plain data: no torch) name
layers the interpreter resolves, and include every alias the interpreter gives, for the built-in
networks and the torchvision families the table covers."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

from abl.interpreter.models import zoo  # noqa: E402
from abl.interpreter.models.networks import MLP, DigitsCNN  # noqa: E402
from abl.spec.lsp.layer_aliases import aliases_of  # noqa: E402

ARCHITECTURES = ["alexnet", "vgg11", "vgg16", "vgg19_bn", "resnet18", "resnet101", "resnext50_32x4d",
                 "wide_resnet50_2", "mobilenet_v2"]


def _check(offered: set[str], aliases: set[str], paths: set[str]) -> None:
    assert aliases <= offered, f"aliases the server does not offer: {sorted(aliases - offered)}"
    assert offered <= aliases | paths, f"offered names no layer answers to: {sorted(offered - aliases - paths)}"


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_torchvision_aliases_match_the_interpreter(arch):
    with torch.device("meta"):
        module = getattr(torchvision.models, arch)()
    paths = {name for name, _ in module.named_modules() if name}
    _check(set(aliases_of(arch)), set(zoo.aliases(arch, module)), paths)


def test_builtin_aliases_match_the_interpreter():
    mlp = MLP([64, 128, 64, 32, 10])
    _check(set(aliases_of("mlp", 5)), set(mlp.aliases()), {n for n, _ in mlp.named_modules() if n})
    cnn = DigitsCNN(1, 8, 10)
    _check(set(aliases_of("cnn")), set(cnn.aliases()), {n for n, _ in cnn.named_modules() if n})

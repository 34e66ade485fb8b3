"""Models: the built-in trainable networks, torchvision networks, files and Python factories.

Built-in networks (trained by the spec, see training.py). Each hidden layer is an
`nn.Sequential(Linear or Conv2d, nn.ReLU())` registered under its alias, so the alias is a module
path whose OUTPUT is the post-ReLU tensor, and its separate (non-inplace) ReLU module can be
addressed too (`fc1.1`). Modules are registered in execution order.

| network | alias | module | which tensor |
| --- | --- | --- | --- |
| `mlp [in, h1, ..., hk, out]` | fc1 ... fck | fc1 ... fck (Linear `fcK.0`, ReLU `fcK.1`) | post-ReLU output of hidden layer K (hK units) |
| mlp | logits, fc(k+1) | logits | the class logits (Linear, no ReLU) |
| `cnn` (widths [c1, c2, f], default [16, 32, 64]) | conv1 | conv1 (Conv2d 3x3 pad 1 `conv1.0`, ReLU `conv1.1`) | post-ReLU output, c1 channels at full resolution |
| cnn | conv2 | conv2 | post-ReLU output, c2 channels, before the 2x2 max-pool |
| cnn | fc1 | fc1 | post-ReLU output of the hidden fully connected layer (f units) |
| cnn | logits | logits | the class logits |

An mlp flattens its input: its first width must be C*H*W of the training images (64 for digits,
784 for MNIST) and its last the number of classes (10). The cnn takes any square C x S x S input
(S even or odd; pooling floors).

Other kinds: `torchvision NAME` (see zoo.py for aliases and weights), `timm NAME` (timm_zoo.py),
`file "net.pt"` (TorchScript,
or a state dict plus `arch NAME`; built-in widths are read off the state dict), `python
"package.module:callable"` (called with no arguments; must return an nn.Module; a module may carry
an `abl_aliases` dict of alias -> module path). Every model is put in eval() mode and fingerprinted
(sha256 over its state dict, sorted by name).
"""

from __future__ import annotations

import hashlib
import importlib
import os
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import torch
from torch import nn

from abl.interpreter.seeding import seed63
from abl.interpreter.models import zoo
from abl.interpreter.errors import SCRIPT_HELP, RunError, user_path
from abl.interpreter.models.layer_names import layer_names, resolve_layer
from abl.interpreter.models.weights_policy import weights_file
from abl.interpreter.progress import Progress, SilentProgress
from abl.interpreter.models.networks import BUILTINS, MLP, DigitsCNN, _builtin_from_state  # noqa: F401  (re-exported)
from abl.interpreter.plan.specs import ModelSpec

__all__ = ["ModelSpec", "LoadedModel", "MLP", "DigitsCNN", "build_model", "state_fingerprint", "BUILTINS"]

# ---- the loaded model -----------------------------------------------------------------------------
@dataclass
class LoadedModel:
    spec: ModelSpec
    module: nn.Module
    aliases: dict[str, str]
    input_shape: tuple[int, int, int] | None
    num_classes: int | None
    weights_fingerprint: str
    pretrained: bool               # False only for random initialisation (trained/loaded = True)
    cached: bool = False           # kind train: the weights came from the training cache

    def resolve_layer(self, name: str) -> str:
        if isinstance(self.module, torch.jit.ScriptModule):     # said here with the model's name
            raise RunError(f"model `{self.spec.name}` is TorchScript, whose layers cannot be hooked: "
                           f"`{name}` cannot be recorded or edited (TorchScript has no forward hooks)",
                           help=SCRIPT_HELP, code="E401")
        return resolve_layer(self.spec.name, name, self.aliases, self._paths())

    def _paths(self) -> list[str]:
        return [path for path, _ in self.module.named_modules() if path]

    def layer_names(self) -> list[str]:
        return layer_names(self.aliases, self._paths())


def state_fingerprint(module: nn.Module) -> str:
    """sha256 over the state dict: name, dtype, shape and bytes of each tensor, sorted by name."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        if not isinstance(tensor, torch.Tensor):
            continue
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def _finish(spec: ModelSpec, module: nn.Module, aliases: dict[str, str], input_shape, num_classes,
            pretrained: bool, cached: bool = False) -> LoadedModel:
    module.eval()
    paths = {path for path, _ in module.named_modules()}
    aliases = {alias: path for alias, path in aliases.items() if path in paths}
    return LoadedModel(spec, module, aliases, input_shape, num_classes, state_fingerprint(module),
                       pretrained, cached)


def _generic_aliases(module: nn.Module) -> dict[str, str]:
    if hasattr(module, "aliases") and callable(module.aliases) and isinstance(module, (MLP, DigitsCNN)):
        return module.aliases()
    declared = getattr(module, "abl_aliases", None)
    if isinstance(declared, Mapping):
        return {str(k): str(v) for k, v in declared.items()}
    linear = [name for name, sub in module.named_modules()
              if isinstance(sub, nn.Linear) or getattr(sub, "original_name", None) == "Linear"]
    return {"logits": linear[-1]} if linear and linear[-1] else {}


def _last_linear_out(module: nn.Module) -> int | None:
    linear = [sub for _, sub in module.named_modules() if isinstance(sub, nn.Linear)]
    return int(linear[-1].out_features) if linear else None


# ---- building ----------------------------------------------------------------------------------------
def build_model(spec: ModelSpec, stimuli_by_name: Mapping[str, object], progress: Progress | None = None,
                cache_dir: Path | None = None) -> LoadedModel:
    """Build, train (or load from the training cache), or load a model; in eval() mode."""
    progress = progress or SilentProgress()
    if spec.kind == "train":
        from abl.interpreter.models.training import train_model

        if spec.train_on not in stimuli_by_name:
            raise RunError(f"model `{spec.name}`: its training stimuli `{spec.train_on}` were not loaded")
        stimuli = stimuli_by_name[spec.train_on]
        if cache_dir is None:
            from abl.interpreter.cache import default_cache_dir

            cache_dir = default_cache_dir()
        module, cached = train_model(spec, stimuli, progress, Path(cache_dir))
        return _finish(spec, module, module.aliases(), tuple(int(s) for s in stimuli.shape),
                       int(module.logits.out_features), True, cached)
    if spec.kind == "torchvision":
        return _torchvision(spec, progress)
    if spec.kind == "file":
        return _file(spec)
    if spec.kind == "factory":
        return _factory(spec)
    if spec.kind == "timm":
        return _timm(spec, progress)
    raise RunError(f"model `{spec.name}`: unknown kind `{spec.kind}`",
                   help="models are `train`, `torchvision`, `timm`, `file` or `python`")


def _seeded(seed: int):
    """Random initialisation under a fixed seed without touching the global RNG state."""
    import contextlib

    @contextlib.contextmanager
    def block():
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed63(seed))
            yield

    return block()


def _read_state(path: Path, name: str) -> dict:
    try:
        state = torch.load(str(path), weights_only=True, map_location="cpu")
    except Exception as error:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise RunError(f"model `{name}`: cannot read weights from {path} ({type(error).__name__}: "
                       f"{str(error).splitlines()[0] if str(error) else ''})",
                       help="give a state dict saved with torch.save(model.state_dict(), path), or a "
                            "TorchScript file saved with torch.jit.save") from None
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise RunError(f"model `{name}`: {path} does not hold a state dict (name -> tensor)",
                       help="save it with torch.save(model.state_dict(), path)")
    if state and all(k.startswith("module.") for k in state):      # saved from DataParallel
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def _load_state(module: nn.Module, state: dict, name: str, path: Path) -> None:
    result_keys = set(module.state_dict())
    missing = sorted(result_keys - set(state))
    unexpected = sorted(set(state) - result_keys)
    if missing or unexpected:
        bits = []
        if missing:
            bits.append(f"missing {', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''} ({len(missing)})")
        if unexpected:
            bits.append(f"unexpected {', '.join(unexpected[:4])}{' ...' if len(unexpected) > 4 else ''} "
                        f"({len(unexpected)})")
        raise RunError(f"model `{name}`: the weights in {path} do not fit the architecture: "
                       + "; ".join(bits), help="check the `arch` (or torchvision name) the file was saved from")
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as error:
        lines = [line.strip() for line in str(error).splitlines() if "size mismatch" in line]
        raise RunError(f"model `{name}`: the weights in {path} do not fit the architecture: "
                       f"{'; '.join(lines[:3]) or str(error).splitlines()[0]}",
                       help="check the `arch` (or torchvision name) and the widths it was saved with") from None


def _torchvision(spec: ModelSpec, progress: Progress) -> LoadedModel:
    arch = zoo.check_architecture(spec.arch)
    weights = spec.weights or "auto"
    found, preferred = zoo.find_weights(arch)
    where = str(preferred or zoo.checkpoint_dir() / f"<{arch} weights>.pth")
    file = weights_file(spec.name, arch, weights, found, where, "torchvision", progress)
    state = zoo.fix_state_dict(arch, _read_state(file, spec.name)) if file is not None else {}
    with _seeded(spec.seed):
        # torchvision's own checkpoints expect its input re-normalisation (GoogLeNet, Inception)
        module = zoo.construct(arch, aux_logits=zoo.has_aux_keys(state),
                               transform_input=file is not None and weights in ("auto", "imagenet"))
    if file is not None:
        _load_state(module, state, spec.name, file)
    module = zoo.finish(arch, module)
    return _finish(spec, module, zoo.aliases(arch, module), zoo.input_shape(arch), _last_linear_out(module),
                   file is not None)


def _timm(spec: ModelSpec, progress: Progress) -> LoadedModel:
    from abl.interpreter.models import timm_zoo

    with _seeded(spec.seed):
        module, pretrained = timm_zoo.build(spec, progress)
    return _finish(spec, module, timm_zoo.aliases(module), timm_zoo.input_shape(module),
                   timm_zoo.num_classes(module), pretrained)


def _is_torchscript(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.endswith("constants.pkl") or "/code/" in name for name in archive.namelist())


def _file(spec: ModelSpec) -> LoadedModel:
    if not spec.path:
        raise RunError(f"model `{spec.name}`: a file model needs a path", help='file "net.pt"')
    path = spec_path(spec, spec.path)
    if spec.factory:                    # `file "w.pt" arch python "mynet:SmallCNN"`
        return _factory(spec, spec.factory, str(path))
    if not path.is_file():
        raise RunError(f"model `{spec.name}`: no model file {path}",
                       help="give the path of a TorchScript file or a state dict (with `arch NAME`)")
    if _is_torchscript(path):
        try:
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)     # "torch.jit.load is deprecated"
                module = torch.jit.load(str(path), map_location="cpu")
        except Exception as error:  # noqa: BLE001
            raise RunError(f"model `{spec.name}`: cannot load TorchScript from {path} ({error})") from None
        return _finish(spec, module, _generic_aliases(module), None, None, True)
    state = _read_state(path, spec.name)
    arch = spec.arch
    if not arch:
        raise RunError(f"model `{spec.name}`: {path} is a state dict, which needs its architecture",
                       help=f'name it: file "{spec.path}" arch mlp (or cnn, alexnet, resnet18, ...)')
    if arch in BUILTINS:
        module = _builtin_from_state(arch, state, spec.name)
        _load_state(module, state, spec.name, path)
        shape = ((module.in_channels, module.image_size, module.image_size)
                 if isinstance(module, DigitsCNN) else None)
        return _finish(spec, module, module.aliases(), shape, int(module.logits.out_features), True)
    if not zoo.is_torchvision(arch):
        from abl.spec.diagnostics import did_you_mean

        raise RunError(f"model `{spec.name}`: unknown architecture `{arch}`",
                       help=did_you_mean(arch, list(BUILTINS) + zoo.architectures()) or
                       "use mlp, cnn or a torchvision name")
    state = zoo.fix_state_dict(arch, state)
    with _seeded(spec.seed):
        module = zoo.construct(arch, aux_logits=zoo.has_aux_keys(state))
    _load_state(module, state, spec.name, path)
    module = zoo.finish(arch, module)
    return _finish(spec, module, zoo.aliases(arch, module), zoo.input_shape(arch), _last_linear_out(module), True)


def spec_path(spec: ModelSpec, raw: str) -> Path:
    """A path as written: relative to the spec's folder when it exists there, else to the working folder."""
    path = user_path(raw)
    if not path.is_absolute() and spec.folder and (Path(spec.folder) / path).exists():
        return Path(spec.folder) / path
    return path


def _call_factory(spec: ModelSpec, target: str, kwargs: Mapping[str, object]) -> nn.Module:
    """`package.module:callable` imported (the spec's folder, then the working folder, first on
    the path) and called with `kwargs`, seeded with the model's seed."""
    if target.count(":") != 1 or not all(target.split(":")):
        raise RunError(f"model `{spec.name}`: `{target}` is not `package.module:callable`",
                       help='python "mypackage.nets:make_net"')
    module_name, attribute = target.split(":")
    added = [folder for folder in dict.fromkeys([spec.folder or "", os.getcwd()]) if folder and folder not in sys.path]
    sys.path[:0] = added
    try:
        try:
            imported = importlib.import_module(module_name)
        except ImportError as error:
            raise RunError(f"model `{spec.name}`: cannot import `{module_name}` ({error})",
                           help="put the module beside the spec, install the package, or run abl from the "
                                "folder that holds the module") from None
        except (Exception, SystemExit) as error:  # noqa: BLE001 - the user's module failed to import
            raise RunError(f"model `{spec.name}`: importing `{module_name}` raised "
                           f"{type(error).__name__}: {error}", help="fix the module; abl runs it as trusted code") from None
        factory = imported
        for part in attribute.split("."):
            if not hasattr(factory, part):
                raise RunError(f"model `{spec.name}`: `{module_name}` has no `{attribute}`",
                               help=f"define `{attribute}()` in {getattr(imported, '__file__', module_name)}")
            factory = getattr(factory, part)
        if not callable(factory):
            raise RunError(f"model `{spec.name}`: `{target}` is not callable")
        with _seeded(spec.seed):
            try:
                module = factory(**kwargs)
            except (Exception, SystemExit) as error:  # noqa: BLE001 - the user's code failed
                given = ", ".join(f"{k}={v!r}" for k, v in kwargs.items()) or "no arguments"
                raise RunError(f"model `{spec.name}`: `{target}()` raised {type(error).__name__}: {error}",
                               help=f"fix the factory; it is called with {given}") from None
    finally:
        for folder in added:
            if folder in sys.path:
                sys.path.remove(folder)
    if not isinstance(module, nn.Module):
        raise RunError(f"model `{spec.name}`: `{target}()` returned a {type(module).__name__}, not a torch.nn.Module",
                       help="return the network (an nn.Module)")
    return module


def _factory(spec: ModelSpec, target: str | None = None, state_path: str | None = None) -> LoadedModel:
    """`python "m:f" [with k=v, ..., weights="w.pt"]`, or `file "w.pt" arch python "m:f"`: the
    network the callable builds, with the state dict of `weights` (or the file) loaded into it."""
    kwargs = dict(spec.kwargs)
    weights = state_path or kwargs.pop("weights", None)
    module = _call_factory(spec, target or spec.path or "", kwargs)
    if weights is not None:
        path = spec_path(spec, str(weights))
        if not path.is_file():
            raise RunError(f"model `{spec.name}`: no weights file {path}", help="give the state dict's path")
        _load_state(module, _read_state(path, spec.name), spec.name, path)
    shape = getattr(module, "abl_input_shape", None)
    if isinstance(module, DigitsCNN):
        shape = (module.in_channels, module.image_size, module.image_size)
    return _finish(spec, module, _generic_aliases(module), tuple(shape) if shape else None,
                   _last_linear_out(module), True)

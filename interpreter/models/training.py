"""Training the built-in networks (`train mlp ...`, `train cnn ...`), deterministically and cached.

Adam (learning rate `lr`), cross entropy, mini-batches of `batch` images shuffled by a generator
seeded with `seed`, `epochs` passes; weights initialised under `torch.manual_seed(seed)` (the
global RNG state is restored afterwards) and `torch.use_deterministic_algorithms(True,
warn_only=True)` during training (the previous setting is restored). Training runs on the CPU.

Selectivity regulariser (Leavitt & Morcos): with `regularize selectivity ALPHA [in LAYERS]` the
loss is `cross_entropy - ALPHA * mu_SI`, where mu_SI is the mean over the regularised layers (by
default every hidden layer: mlp fc1..fck, cnn conv1, conv2, fc1) of the mean over units of the
class selectivity index `(mu_max - mu_-max) / (mu_max + mu_-max + eps)`, computed on each batch
from that batch's class-conditional mean activations (conv channels averaged over space first),
over the classes present in the batch (a layer is skipped in a batch with fewer than two).
ALPHA > 0 pushes units to be class selective, ALPHA < 0 away from it.

The regulariser's index uses eps = REGULARIZER_EPS = 1e-3 in the denominator (measurements use
selectivity.py's 1e-6). With a vanishing eps a unit reaches SI ~ 1 with vanishing activations,
and on the small built-in networks a positive ALPHA then kills most hidden units: digits cnn, 15
epochs, ALPHA = 1 with eps 1e-6 left 7 of 64 fc1 units alive and 30% test accuracy, and fc1's
test-set SI fell. With 1e-3 the test-set SI of conv1 / conv2 / fc1 rose from 0.04 / 0.05 / 0.22
(ALPHA = 0) to 0.26 / 0.37 / 0.43 (ALPHA = 1) at 97% accuracy, and fell with ALPHA = -1.

Cache: the trained state dict is kept in `CACHE/models/KEY.pt`, KEY the sha256 of a canonical JSON
of everything that determines the weights (architecture, widths, epochs, lr, batch size,
regulariser and its layers, seed, the training stimuli's fingerprint, the network's input shape
and classes, the torch version, torch's thread count and this trainer's version: training's
reductions are split across threads, so weights trained with 1 and with 2 threads differ in their
last bits, and so do measurements taken from them). A later run with the same KEY loads
the weights instead of training. Delete the folder to retrain.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path

import torch
from torch import nn

from abl.interpreter.seeding import seed63
from abl.interpreter.atomic import atomic_path
from abl.interpreter.backend.hooks import HookSession
from abl.interpreter.backend.units import units_first
from abl.interpreter.errors import RunError
from abl.interpreter.models.layer_names import resolve_layer
from abl.interpreter.progress import Progress, SilentProgress
from abl.interpreter.selectivity import class_selectivity_index
from abl.interpreter.plan.specs import ModelSpec

TRAINER_VERSION = 1
REGULARIZER_EPS = 1e-3


def cache_key(spec: ModelSpec, stimuli, module: nn.Module | None = None) -> str:
    """sha256 of everything that determines the trained weights (not the model's name)."""
    record = {
        "trainer": TRAINER_VERSION,
        "kind": spec.kind,
        "arch": spec.arch,
        "widths": list(getattr(module, "widths", spec.widths)),
        "epochs": int(spec.epochs),
        "lr": float(spec.lr),
        "batch_size": int(spec.batch_size),
        "regularize": float(spec.regularize),
        "regularize_layers": list(spec.regularize_layers),
        "seed": int(spec.seed),
        "stimuli": stimuli.fingerprint,
        "input_shape": [int(s) for s in stimuli.shape],
        "classes": len(stimuli.class_names),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),     # the weights' last bits depend on it
        "regularizer_eps": REGULARIZER_EPS,
    }
    text = json.dumps(record, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@contextlib.contextmanager
def deterministic():
    """torch.use_deterministic_algorithms(True, warn_only=True) for the block; restored after."""
    enabled = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)


def regularised_paths(spec: ModelSpec, module: nn.Module) -> list[str]:
    """Module paths of the layers the selectivity regulariser acts on."""
    aliases: dict[str, str] = module.aliases()
    hidden = [path for alias, path in aliases.items() if path != "logits"]
    hidden = list(dict.fromkeys(hidden))
    if not spec.regularize_layers:
        return hidden
    paths = dict(module.named_modules())
    chosen = []
    for name in spec.regularize_layers:
        chosen.append(resolve_layer(spec.name, name, aliases, [path for path in paths if path],
                                    f"model `{spec.name}`: no layer `{name}` to regularise"))
    return list(dict.fromkeys(chosen))


def batch_selectivity(activations: torch.Tensor, labels: torch.Tensor) -> torch.Tensor | None:
    """Mean class selectivity index over units from one batch (differentiable); None with < 2 classes."""
    if activations.dim() > 2:
        activations = activations.flatten(2).mean(2)
    activations = activations.flatten(1)
    classes, inverse = torch.unique(labels, return_inverse=True)
    if classes.numel() < 2:
        return None
    onehot = torch.nn.functional.one_hot(inverse, classes.numel()).to(activations.dtype)
    class_means = (onehot.T @ activations) / onehot.sum(0).unsqueeze(1)
    return class_selectivity_index(class_means, eps=REGULARIZER_EPS).mean()


def _cache_problem(cache_file: Path, module: nn.Module) -> str | None:
    """Why a cache entry cannot be used as it is (None: it can): unreadable, other tensors or
    shapes or dtypes than the module's, or non-finite values. Checked before anything is loaded,
    so a bad entry never touches the module."""
    try:
        state = torch.load(str(cache_file), weights_only=True, map_location="cpu")
    except Exception as error:  # noqa: BLE001 - any unreadable file is a damaged entry
        return f"cannot be read ({type(error).__name__})"
    if not isinstance(state, dict):
        return "are not a state dict"
    expected = module.state_dict()
    if set(state) != set(expected):
        return "hold other tensors than the network's"
    for name, tensor in expected.items():
        value = state[name]
        if not isinstance(value, torch.Tensor) or value.shape != tensor.shape or value.dtype != tensor.dtype:
            return f"do not match the network at `{name}`"
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            return f"hold non-finite values (NaN/inf) at `{name}`"
    return None


def _atomic_save(state: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary:
        torch.save(state, temporary)


def train_model(spec: ModelSpec, stimuli, progress: Progress | None = None,
                cache_dir: Path | None = None) -> tuple[nn.Module, bool]:
    """Train (or load from the cache) the built-in network of `spec` on `stimuli`.

    Returns (module in eval() mode, whether the weights came from the cache). With `cache_dir`
    None nothing is cached.
    """
    from abl.interpreter.models.networks import builtin_for_stimuli

    progress = progress or SilentProgress()
    if spec.epochs < 1 or spec.batch_size < 1 or not spec.lr > 0:
        raise RunError(f"model `{spec.name}`: epochs and batch must be >= 1 and lr > 0 "
                       f"(got {spec.epochs}, {spec.batch_size}, {spec.lr:g})")
    if stimuli.n == 0:
        raise RunError(f"model `{spec.name}`: the training stimuli `{stimuli.spec.name}` hold no images")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed63(spec.seed))
        module = builtin_for_stimuli(spec, stimuli)
        paths = regularised_paths(spec, module) if spec.regularize else []
        cache_file = None
        if cache_dir is not None:
            cache_file = Path(cache_dir) / "models" / f"{cache_key(spec, stimuli, module)}.pt"
            if cache_file.is_file():
                problem = _cache_problem(cache_file, module)
                if problem is None:
                    state = torch.load(str(cache_file), weights_only=True, map_location="cpu")
                    module.load_state_dict(state)
                    return module.eval(), True
                # a damaged entry is deleted and the model retrained from a clean start
                progress.note(f"the cached weights of `{spec.name}` ({cache_file}) {problem}; "
                              "deleted, retraining")
                try:
                    cache_file.unlink()
                except OSError:
                    pass
        _train(spec, module, stimuli, paths, progress)
    module.eval()
    if cache_file is not None:
        try:
            _atomic_save(module.state_dict(), cache_file)
        except (OSError, RuntimeError) as error:    # torch.save on a full disk raises RuntimeError
            progress.note(f"could not cache the trained `{spec.name}` in {cache_file.parent} ({error})")
    return module, False


def _train(spec: ModelSpec, module: nn.Module, stimuli, paths: list[str], progress: Progress) -> None:
    images = stimuli.images.to(torch.float32).cpu()
    labels = stimuli.labels.to(torch.int64).cpu()
    n = labels.shape[0]
    batch = int(spec.batch_size)
    batches = (n + batch - 1) // batch
    generator = torch.Generator().manual_seed(seed63(spec.seed))
    optimiser = torch.optim.Adam(module.parameters(), lr=float(spec.lr))
    alpha = float(spec.regularize)
    captured: dict[str, torch.Tensor] = {}
    session = HookSession(module)
    for path in paths:
        def hook(hooked, _inputs, output, path=path):
            captured[path] = units_first(hooked, output)
        session.add_output_hook(path, hook)
    try:
        with session, deterministic(), progress.task(f"training {spec.name}", spec.epochs * batches) as task:
            module.train()
            for epoch in range(int(spec.epochs)):
                order = torch.randperm(n, generator=generator)
                losses = []
                for start in range(0, n, batch):
                    index = order[start:start + batch]
                    x, y = images[index], labels[index]
                    captured.clear()
                    logits = module(x)
                    loss = nn.functional.cross_entropy(logits, y)
                    if alpha and paths:
                        values = [v for v in (batch_selectivity(captured[p], y) for p in paths) if v is not None]
                        if values:
                            loss = loss - alpha * torch.stack(values).mean()
                    optimiser.zero_grad(set_to_none=True)
                    loss.backward()
                    optimiser.step()
                    losses.append(float(loss.detach()))
                    task.advance()
                task.describe(f"training {spec.name}: epoch {epoch + 1}/{spec.epochs}, "
                              f"loss {sum(losses) / len(losses):.4f}")
    finally:
        captured.clear()

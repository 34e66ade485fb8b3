"""Training: determinism, the cache, the selectivity regulariser."""

import time

import pytest
import torch

from abl.interpreter.errors import RunError
from abl.interpreter.models.build import ModelSpec, build_model
from abl.interpreter.progress import SilentProgress
from abl.interpreter.selectivity import class_selectivity_index
from abl.interpreter.data.stimuli import StimuliSpec, load_stimuli
from abl.interpreter.models.training import batch_selectivity, cache_key, train_model


@pytest.fixture(scope="module")
def train():
    return load_stimuli(StimuliSpec("train", "digits", split="train"))


@pytest.fixture(scope="module")
def test():
    return load_stimuli(StimuliSpec("test", "digits", split="test"))


def mlp(**kwargs):
    fields = dict(arch="mlp", widths=(64, 32, 10), train_on="train", epochs=2)
    fields.update(kwargs)
    return ModelSpec(fields.pop("name", "net"), "train", **fields)


def test_training_is_deterministic_and_leaves_global_state(train):
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    deterministic = torch.are_deterministic_algorithms_enabled()
    a, cached_a = train_model(mlp(), train, SilentProgress(), None)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert torch.are_deterministic_algorithms_enabled() == deterministic
    b, cached_b = train_model(mlp(), train, SilentProgress(), None)
    assert not cached_a and not cached_b
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    c, _ = train_model(mlp(seed=1), train, SilentProgress(), None)
    assert not torch.equal(c.state_dict()["fc1.0.weight"], sa["fc1.0.weight"])
    assert not a.training
    assert not any(m._forward_hooks for m in a.modules())


def test_training_learns(train, test):
    model, _ = train_model(mlp(epochs=3, widths=(64, 64, 10)), train, SilentProgress(), None)
    with torch.no_grad():
        accuracy = (model(test.images).argmax(1) == test.labels).float().mean().item()
    assert accuracy > 0.8


def test_cache_hit_skips_training(train, tmp_path):
    spec = mlp(epochs=2)
    first = build_model(spec, {"train": train}, SilentProgress(), tmp_path)
    assert not first.cached
    files = list((tmp_path / "models").glob("*.pt"))
    assert len(files) == 1 and files[0].stem == cache_key(spec, train, first.module)
    start = time.perf_counter()
    again = build_model(ModelSpec("other-name", "train", arch="mlp", widths=(64, 32, 10), train_on="train",
                                  epochs=2), {"train": train}, SilentProgress(), tmp_path)
    assert again.cached and again.weights_fingerprint == first.weights_fingerprint
    assert time.perf_counter() - start < 2.0
    longer = build_model(mlp(epochs=3), {"train": train}, SilentProgress(), tmp_path)
    assert not longer.cached and len(list((tmp_path / "models").glob("*.pt"))) == 2
    assert not list((tmp_path / "models").glob("*.tmp"))


def mean_si(module, stimuli, layers):
    values = []
    seen = {}
    handles = [module.get_submodule(p).register_forward_hook(lambda m, i, o, p=p: seen.__setitem__(p, o))
               for p in layers]
    try:
        with torch.no_grad():
            module(stimuli.images)
    finally:
        for handle in handles:
            handle.remove()
    for layer in layers:
        act = seen[layer]
        if act.dim() > 2:
            act = act.mean((2, 3))
        means = torch.stack([act[stimuli.labels == c].mean(0) for c in range(10)])
        values.append(float(class_selectivity_index(means).mean()))
    return sum(values) / len(values)


def test_regulariser_sign(train):
    layers = ["conv1", "conv2", "fc1"]
    spec = dict(arch="cnn", widths=(8, 16, 32), train_on="train", epochs=2)
    up, _ = train_model(ModelSpec("up", "train", regularize=1.0, **spec), train, SilentProgress(), None)
    down, _ = train_model(ModelSpec("down", "train", regularize=-1.0, **spec), train, SilentProgress(), None)
    plain, _ = train_model(ModelSpec("plain", "train", **spec), train, SilentProgress(), None)
    si_up, si_down, si_plain = (mean_si(m, train, layers) for m in (up, down, plain))
    assert si_up > si_plain > si_down
    assert not any(m._forward_hooks for m in up.modules())
    only, _ = train_model(ModelSpec("fc", "train", regularize=1.0, regularize_layers=("fc1",), **spec),
                          train, SilentProgress(), None)
    assert mean_si(only, train, ["fc1"]) > mean_si(plain, train, ["fc1"])
    with pytest.raises(RunError) as error:
        train_model(ModelSpec("x", "train", regularize=1.0, regularize_layers=("fc9",), **spec),
                    train, SilentProgress(), None)
    assert error.value.code == "E401"


def test_batch_selectivity_is_differentiable_and_needs_two_classes():
    acts = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]], requires_grad=True)
    value = batch_selectivity(acts, torch.tensor([0, 0, 1]))
    # unit 0: class means (1, 0) -> SI 1; unit 1: (0.5, 1) -> (1 - .5) / 1.5 = 1/3
    assert value.item() == pytest.approx((1 + 1 / 3) / 2, abs=2e-3)
    value.backward()
    assert acts.grad is not None
    assert batch_selectivity(acts, torch.tensor([2, 2, 2])) is None
    conv = torch.rand(6, 3, 4, 4)
    assert batch_selectivity(conv, torch.tensor([0, 1, 2, 0, 1, 2])).shape == ()


@pytest.mark.parametrize("damage", ["wrong shape", "nan", "garbage"])
def test_a_damaged_cache_entry_is_deleted_and_the_model_retrained_from_a_clean_start(train, tmp_path, damage):
    spec = mlp(epochs=2)
    clean, _ = train_model(spec, train, SilentProgress(), None)
    first, _ = train_model(spec, train, SilentProgress(), tmp_path)
    (entry,) = (tmp_path / "models").glob("*.pt")
    state = {k: v.clone() for k, v in first.state_dict().items()}
    if damage == "wrong shape":
        state["fc1.0.weight"] = torch.zeros(3, 3)
        torch.save(state, entry)
    elif damage == "nan":
        state["fc1.0.bias"][0] = float("nan")
        torch.save(state, entry)
    else:
        entry.write_bytes(b"not a torch file")
    progress = SilentProgress()
    again, cached = train_model(spec, train, progress, tmp_path)
    assert not cached and any(str(entry) in note and "retraining" in note for note in progress.notes)
    for name, tensor in clean.state_dict().items():       # the same weights as a clean training
        assert torch.equal(again.state_dict()[name], tensor), name
    reloaded, cached = train_model(spec, train, SilentProgress(), tmp_path)
    assert cached and torch.equal(reloaded.state_dict()["fc1.0.weight"], clean.state_dict()["fc1.0.weight"])

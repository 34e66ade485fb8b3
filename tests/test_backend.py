"""Backend: hooks, recording, batched conditions, weight edits, checked against plain torch."""


import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from abl.interpreter.backend.hooks import HookSession, hooks_left, module_at
from abl.interpreter.backend.record import record_layers, spatial_means
from abl.interpreter.backend.run import run_conditions, run_conditions_naive
from abl.interpreter.backend.weights import applied_weight_edits, weight_module_for
from abl.interpreter.backend.conditions import (BASELINE, ActivationEdit, Condition, EditMode, WeightEdit,
                                        WeightTarget)
from abl.interpreter.errors import RunError


def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 10))


def cnn():
    torch.manual_seed(1)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, padding=1),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(64, 10))


def data(n=37, shape=(64,), classes=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((n,) + shape, generator=g)
    y = torch.arange(n) % classes
    return x, y


def batches(x, y, size=16):
    return [(x[i:i + size], y[i:i + size]) for i in range(0, len(x), size)]


def zero(layer, units):
    return Condition(f"zero {layer} {units}", (ActivationEdit(layer, tuple(units), EditMode.ZERO),))


def state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def same_state(model, saved):
    now = model.state_dict()
    return now.keys() == saved.keys() and all(torch.equal(now[k], saved[k]) for k in saved)


# ---- hooks -----------------------------------------------------------------------------------------
def test_hook_session_resolves_all_paths_before_registering(no_hooks_left):
    model = mlp()
    session = HookSession(model)
    session.add_output_hook("0", lambda m, i, o: None)
    session.add_output_hook("nope", lambda m, i, o: None)
    with pytest.raises(RunError) as error:
        with session:
            pass
    assert error.value.code == "E401"
    no_hooks_left(model)


def test_hook_session_removes_hooks_on_error_and_edits_output(no_hooks_left):
    model = mlp()
    x, _ = data(4)
    session = HookSession(model)
    session.add_output_hook("1", lambda m, i, o: torch.zeros_like(o))
    with pytest.raises(ValueError):
        with session:
            out = model(x)
            raise ValueError("boom")
    no_hooks_left(model)
    expected = model[4](model[3](model[2](torch.zeros(4, 32))))
    assert torch.allclose(out, expected)


def test_module_at():
    model = mlp()
    assert module_at(model, "2") is model[2]
    assert module_at(model, "") is model
    with pytest.raises(RunError):
        module_at(model, "9")


def test_shared_module_is_refused(no_hooks_left):
    model = torchvision.models.resnet18(num_classes=10)
    x = torch.randn(2, 3, 32, 32)
    with pytest.raises(RunError, match="runs 2 times"):
        record_layers(model, [(x, torch.tensor([0, 1]))], ["layer1.0.relu"], 10)
    with pytest.raises(RunError, match="runs 2 times"):
        run_conditions(model, [(x, torch.tensor([0, 1]))], [zero("layer1.0.relu", [0])])
    no_hooks_left(model)


# ---- recording -------------------------------------------------------------------------------------
def test_record_layers_matches_direct_computation(no_hooks_left):
    model = cnn()
    x, y = data(50, (1, 8, 8), classes=4)
    y[y == 3] = 2          # class 3 absent
    stats = record_layers(model, batches(x, y, 16), ["1", "3", "6"], 5, keep_features={"3"})
    no_hooks_left(model)
    with torch.no_grad():
        a1 = model[1](model[0](x))
        a3 = model[3](model[2](a1))
        a6 = model(x)
    direct = {"1": a1.mean((2, 3)), "3": a3.mean((2, 3)), "6": a6}
    for layer, acts in direct.items():
        s = stats[layer]
        assert s.present == (0, 1, 2) and s.n == 50 and s.unit_count() == acts.shape[1]
        means = np.stack([acts[y == c].double().mean(0).numpy() for c in (0, 1, 2)])
        np.testing.assert_allclose(s.class_means(), means, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(s.mean(), acts.double().mean(0).numpy(), rtol=1e-5, atol=1e-6)
        assert list(s.class_counts) == [int((y == c).sum()) for c in range(5)]
    np.testing.assert_allclose(stats["3"].features, direct["3"].numpy(), rtol=1e-5, atol=1e-6)
    assert stats["1"].features is None
    np.testing.assert_array_equal(stats["3"].labels, y.numpy())
    np.testing.assert_allclose(spatial_means(model, batches(x, y), "3"), stats["3"].mean(), rtol=1e-6)


def test_record_sees_the_conv_output_not_the_inplace_relu():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 6, 3), nn.ReLU(inplace=True), nn.Flatten(), nn.Linear(6 * 36, 3))
    x, y = data(20, (1, 8, 8), classes=3)
    stats = record_layers(model, batches(x, y, 8), ["0", "1"], 3)
    with torch.no_grad():
        conv = model[0](x).mean((2, 3))
    np.testing.assert_allclose(stats["0"].mean(), conv.double().mean(0).numpy(), rtol=1e-5, atol=1e-6)
    assert (stats["0"].mean() < 0).any()            # pre-ReLU values survived the in-place ReLU
    assert (stats["1"].mean() >= 0).all()


def test_record_nan_input_is_a_run_error(no_hooks_left):
    model = mlp()
    x, y = data(8)
    x[3, 5] = float("nan")
    with pytest.raises(RunError, match="non-finite activations"):
        record_layers(model, batches(x, y), ["1"], 10)
    no_hooks_left(model)


def test_record_restores_training_flags_and_removes_hooks_on_error(no_hooks_left):
    class Boom(nn.Module):
        def forward(self, x):
            raise RuntimeError("mid-forward failure")

    model = nn.Sequential(nn.Linear(64, 8), nn.ReLU(), Boom())
    model.train()
    x, y = data(4)
    with pytest.raises(RunError, match="mid-forward failure"):
        record_layers(model, batches(x, y), ["0", "1"], 10)
    no_hooks_left(model)
    assert all(m.training for m in model.modules())


# ---- conditions against hand-built networks -----------------------------------------------------------
def test_zero_ablation_mlp_matches_hand_built_network(no_hooks_left):
    model = mlp()
    x, y = data(37)
    units = [1, 5, 6, 20]
    saved = state(model)
    base, ablated = run_conditions(model, batches(x, y), [BASELINE, zero("1", units)])
    with torch.no_grad():
        h = torch.relu(x @ model[0].weight.T + model[0].bias)
        h[:, units] = 0
        h = torch.relu(h @ model[2].weight.T + model[2].bias)
        manual = h @ model[4].weight.T + model[4].bias
        plain = model(x)
    assert torch.allclose(ablated, manual, atol=1e-6)
    assert torch.allclose(base, plain, atol=1e-6)
    assert not torch.allclose(ablated, plain, atol=1e-3)
    assert same_state(model, saved)
    no_hooks_left(model)


@pytest.mark.parametrize("mode,value", [(EditMode.ZERO, 0.0), (EditMode.MEAN, 0.0),
                                        (EditMode.CLAMP, 2.5), (EditMode.SCALE, -0.5)])
def test_cnn_channel_edits_match_hand_built_network(mode, value, no_hooks_left):
    model = cnn()
    x, y = data(21, (1, 8, 8))
    units = (2, 7, 11)
    means = record_layers(model, batches(x, y), ["2"], 10)["2"].mean()
    unit_means = tuple(float(means[u]) for u in units) if mode is EditMode.MEAN else ()
    condition = Condition("c", (ActivationEdit("2", units, mode, value, unit_means),))
    (out,) = run_conditions(model, batches(x, y, 8), [condition])
    with torch.no_grad():
        h = model[2](model[1](model[0](x)))
        idx = list(units)
        if mode is EditMode.ZERO:
            h[:, idx] = 0
        elif mode is EditMode.MEAN:
            h[:, idx] = torch.tensor(unit_means, dtype=torch.float32)[None, :, None, None]
        elif mode is EditMode.CLAMP:
            h[:, idx] = value
        else:
            h[:, idx] = h[:, idx] * value
        manual = model[6](model[5](model[4](model[3](h))))
    assert torch.allclose(out, manual, atol=1e-6)
    no_hooks_left(model)


def test_several_edits_on_one_layer_compose_in_order():
    model = mlp()
    x, y = data(10)
    condition = Condition("c", (ActivationEdit("0", (1, 2), EditMode.SCALE, 3.0),
                                ActivationEdit("0", (2, 3), EditMode.CLAMP, 1.5),
                                ActivationEdit("2", (0,), EditMode.ZERO)))
    (out,) = run_conditions(model, batches(x, y), [condition])
    with torch.no_grad():
        h = model[0](x)
        h[:, [1, 2]] *= 3.0
        h[:, [2, 3]] = 1.5
        h = model[2](model[1](h))
        h[:, 0] = 0
        manual = model[4](model[3](h))
    assert torch.allclose(out, manual, atol=1e-6)


def test_unit_out_of_range_is_a_run_error(no_hooks_left):
    model = mlp()
    x, y = data(4)
    with pytest.raises(RunError) as error:
        run_conditions(model, batches(x, y), [zero("1", [32])])
    assert error.value.code == "E403"
    no_hooks_left(model)


# ---- batched == naive == manual --------------------------------------------------------------------
def manual_logits(model, x, condition):
    """One plain forward per condition with hand-written torch hooks (independent of abl)."""
    handles = []
    for edit in condition.activation_edits:
        def hook(module, inputs, output, edit=edit):
            output = output.clone()
            output[:, list(edit.units)] = 0
            return output
        handles.append(module_at(model, edit.layer).register_forward_hook(hook))
    try:
        model.eval()
        with torch.no_grad():
            return model(x)
    finally:
        for h in handles:
            h.remove()


def sixteen_conditions(layers_units, seed=0):
    rng = np.random.default_rng(seed)
    out = [BASELINE]
    for layer, n_units in layers_units:
        for _ in range(5):
            out.append(zero(layer, sorted(rng.choice(n_units, size=3, replace=False).tolist())))
    return out


@pytest.mark.parametrize("max_images", [4096, 40])
def test_batched_equals_naive_equals_manual_mlp_and_cnn(max_images, no_hooks_left):
    for model, shape, layers in ((mlp(), (64,), [("1", 32), ("3", 16), ("0", 32)]),
                                 (cnn(), (1, 8, 8), [("1", 8), ("2", 16), ("6", 10)])):
        x, y = data(37, shape)
        conditions = sixteen_conditions(layers)
        conditions.append(Condition("two layers", zero(layers[0][0], [0]).activation_edits
                                    + zero(layers[1][0], [1, 2]).activation_edits))
        info = {}
        batched = run_conditions(model, batches(x, y), conditions, max_batch_images=max_images, info=info)
        naive = run_conditions_naive(model, batches(x, y), conditions)
        assert set(info.values()) == {"prefix"}
        for condition, a, b in zip(conditions, batched, naive):
            manual = manual_logits(model, x, condition)
            assert a.shape == (37, 10)
            assert torch.allclose(a, b, atol=1e-5), condition.label
            assert torch.allclose(b, manual, atol=1e-5), condition.label
        no_hooks_left(model)


def test_resnet18_inside_block_falls_back_and_block_output_batches(no_hooks_left):
    model = torchvision.models.resnet18(num_classes=10)
    x, y = data(6, (3, 64, 64))
    saved = state(model)
    conditions = [BASELINE, zero("layer1.0.conv1", [0, 3, 5]), zero("layer1.0.conv1", [10, 11]),
                  zero("layer2.1.bn2", [1, 2, 3, 4]),
                  zero("layer2", [7, 8, 9, 100]), zero("layer2", [0]), zero("layer3.0", list(range(40))),
                  Condition("both", zero("layer1.0.conv1", [1]).activation_edits
                            + zero("layer3.0", [2]).activation_edits)]
    info = {}
    batched = run_conditions(model, batches(x, y, 3), conditions, info=info)
    naive = run_conditions_naive(model, batches(x, y, 3), conditions)
    assert info["layer1.0.conv1"] == "input" and info["layer2.1.bn2"] == "input"
    assert info["layer2"] == "prefix" and info["layer3.0"] == "prefix"
    for condition, a, b in zip(conditions, batched, naive):
        manual = manual_logits(model, x, condition)
        scale = float(manual.abs().max())
        assert torch.allclose(a, b, atol=1e-5 * scale), condition.label
        assert torch.allclose(b, manual, atol=1e-5 * scale), condition.label
    assert not torch.allclose(batched[0], batched[6])
    assert same_state(model, saved)
    no_hooks_left(model)


def test_errors_mid_forward_leave_no_hooks_and_restore_state(no_hooks_left):
    class Flaky(nn.Module):
        def __init__(self):
            super().__init__()
            self.calls = 0

        def forward(self, x):
            self.calls += 1
            if self.calls > 2:
                raise RuntimeError("fails on a later batch")
            return x

    model = nn.Sequential(nn.Linear(64, 8), nn.ReLU(), Flaky(), nn.Linear(8, 10))
    model.train()
    saved = state(model)
    x, y = data(40)
    conditions = [BASELINE, zero("1", [0]), zero("0", [1]),
                  Condition("w", weight_edits=(WeightEdit("0", WeightTarget.INCOMING, (1, 2)),))]
    for runner in (run_conditions, run_conditions_naive):
        model[2].calls = 0
        with pytest.raises((RunError, RuntimeError)):
            runner(model, batches(x, y, 8), conditions)
        no_hooks_left(model)
        assert same_state(model, saved)
        assert all(m.training for m in model.modules())


# ---- weight edits ----------------------------------------------------------------------------------
def test_weight_edits_equal_activation_ablation_and_restore_bit_identically(no_hooks_left):
    model = mlp()
    x, y = data(30)
    saved = state(model)
    units = (3, 4, 9)
    incoming = Condition("in", weight_edits=(WeightEdit("0", WeightTarget.INCOMING, units),))
    outgoing = Condition("out", weight_edits=(WeightEdit("2", WeightTarget.OUTGOING, units),))
    zeroed = zero("1", units)
    both = Condition("mix", (ActivationEdit("3", (0,), EditMode.ZERO),),
                     (WeightEdit("2", WeightTarget.INCOMING, (5,), factor=0.5),))
    results = run_conditions(model, batches(x, y), [zeroed, incoming, outgoing, both])
    naive = run_conditions_naive(model, batches(x, y), [zeroed, incoming, outgoing, both])
    assert torch.allclose(results[0], results[1], atol=1e-6)
    assert torch.allclose(results[0], results[2], atol=1e-6)
    with torch.no_grad():
        h = model[1](model[0](x))
        pre = model[2](h)
        pre[:, 5] *= 0.5
        h = torch.relu(pre)
        h[:, 0] = 0
        manual = model[4](h)
    assert torch.allclose(results[3], manual, atol=1e-6)
    for a, b in zip(results, naive):
        assert torch.allclose(a, b, atol=1e-6)
    assert same_state(model, saved)
    no_hooks_left(model)


def test_applied_weight_edits_restores_after_error_and_validates_first():
    model = cnn()
    saved = state(model)
    edits = (WeightEdit("0", WeightTarget.INCOMING, (1,), 2.0),
             WeightEdit("2", WeightTarget.OUTGOING, (0, 1), 0.0),
             WeightEdit("2", WeightTarget.INCOMING, (0,), 0.0, connection=(3, 4)),
             WeightEdit("2", WeightTarget.INCOMING, (3,), 0.25))
    with pytest.raises(KeyError):
        with applied_weight_edits(model, edits):
            assert torch.equal(model[0].weight[1], saved["0.weight"][1] * 2)
            assert torch.equal(model[0].bias[1], saved["0.bias"][1] * 2)
            assert (model[2].weight[:, :2] == 0).all()
            assert (model[2].weight[3, 4] == 0).all()
            assert torch.equal(model[2].weight[3, 5], saved["2.weight"][3, 5] * 0.25)
            assert torch.equal(model[2].weight[5, 2:], saved["2.weight"][5, 2:])
            raise KeyError("inside")
    assert same_state(model, saved)
    for bad in (WeightEdit("0", WeightTarget.INCOMING, (8,)), WeightEdit("2", WeightTarget.OUTGOING, (8,)),
                WeightEdit("1", WeightTarget.INCOMING, (0,)),
                WeightEdit("0", WeightTarget.INCOMING, (0,), connection=(0, 1))):
        with pytest.raises(RunError):
            with applied_weight_edits(model, [WeightEdit("0", WeightTarget.INCOMING, (1,)), bad]):
                pass
        assert same_state(model, saved)


def test_weight_module_for():
    model = mlp()
    assert weight_module_for(model, "1", "incoming") == "0"
    assert weight_module_for(model, "0", "incoming") == "0"
    assert weight_module_for(model, "1", "outgoing") == "2"
    with pytest.raises(RunError):
        weight_module_for(model, "4", "outgoing")
    with pytest.raises(RunError, match="flatten"):
        weight_module_for(cnn(), "3", "outgoing")
    assert weight_module_for(cnn(), "1", "outgoing") == "2"


def test_hooks_left_helper():
    model = mlp()
    handle = model[2].register_forward_hook(lambda *a: None)
    assert hooks_left(model) == ["2"]
    handle.remove()
    assert hooks_left(model) == []

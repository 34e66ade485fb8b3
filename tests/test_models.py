"""Models: built-in aliases, torchvision networks and weights, files, factories."""

import sys

import pytest
import torch
from torch import nn

from abl.interpreter.models import zoo
from abl.interpreter.errors import RunError
from abl.interpreter.models.checks import check_fits, describe_model
from abl.interpreter.models.build import DigitsCNN, MLP, LoadedModel, ModelSpec, build_model, state_fingerprint
from abl.interpreter.progress import SilentProgress
from abl.interpreter.data.stimuli import StimuliSpec, load_stimuli


@pytest.fixture(scope="module")
def digits_train():
    return load_stimuli(StimuliSpec("train", "digits", split="train"))


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    """A torch hub folder without checkpoints, so `weights auto` finds nothing."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    return tmp_path / "hub" / "checkpoints"


def outputs_of(model: LoadedModel, x: torch.Tensor, names):
    seen = {}
    handles = [model.module.get_submodule(model.resolve_layer(name)).register_forward_hook(
        lambda m, i, o, name=name: seen.__setitem__(name, o.detach().clone())) for name in names]
    try:
        with torch.no_grad():
            model.module(x)
    finally:
        for handle in handles:
            handle.remove()
    return seen


def test_mlp_aliases_are_post_relu(digits_train, tmp_path):
    spec = ModelSpec("net", "train", arch="mlp", widths=(64, 32, 16, 10), train_on="train", epochs=1)
    model = build_model(spec, {"train": digits_train}, SilentProgress(), tmp_path)
    assert model.aliases["fc1"] == "fc1" and model.aliases["logits"] == "logits"
    assert model.resolve_layer("fc3") == "logits"
    assert model.layer_names()[:4] == ["fc1", "fc2", "logits", "fc3"]
    assert isinstance(model.module.get_submodule("fc2.1"), nn.ReLU)
    outs = outputs_of(model, digits_train.images[:64], ["fc1", "fc2", "logits"])
    assert outs["fc1"].shape == (64, 32) and outs["fc2"].shape == (64, 16)
    assert float(outs["fc1"].min()) >= 0 and float(outs["fc2"].min()) >= 0
    assert float(outs["logits"].min()) < 0          # the logits are not rectified
    assert not model.module.training and model.pretrained and model.num_classes == 10
    assert model.input_shape == (1, 8, 8)


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32)])
def test_cnn_aliases_are_post_relu(shape):
    torch.manual_seed(0)
    net = DigitsCNN(shape[0], shape[1], 10).eval()
    model = LoadedModel(ModelSpec("c", "train", arch="cnn"), net, net.aliases(), shape, 10,
                        state_fingerprint(net), False)
    outs = outputs_of(model, torch.rand(4, *shape), ["conv1", "conv2", "fc1", "logits"])
    assert outs["conv1"].shape == (4, 16, shape[1], shape[2])
    assert outs["conv2"].shape == (4, 32, shape[1], shape[2])        # before the pool
    assert outs["fc1"].shape == (4, 64) and outs["logits"].shape == (4, 10)
    for name in ("conv1", "conv2", "fc1"):
        assert float(outs[name].min()) >= 0
        assert float(outs[name].max()) > 0


def test_unknown_layer_suggests(digits_train, tmp_path):
    spec = ModelSpec("net", "train", arch="mlp", widths=(64, 32, 10), train_on="train", epochs=1)
    model = build_model(spec, {"train": digits_train}, SilentProgress(), tmp_path)
    with pytest.raises(RunError) as error:
        model.resolve_layer("fc7")
    assert error.value.code == "E401" and "fc1" in error.value.help
    with pytest.raises(RunError) as error:
        model.resolve_layer("logit")
    assert "logits" in error.value.help
    assert model.resolve_layer("fc1.0") == "fc1.0"        # module paths work too


def test_mlp_widths_are_checked(digits_train, tmp_path):
    for widths, word in (((784, 32, 10), "64"), ((64, 32, 9), "10")):
        spec = ModelSpec("net", "train", arch="mlp", widths=widths, train_on="train", epochs=1)
        with pytest.raises(RunError) as error:
            build_model(spec, {"train": digits_train}, SilentProgress(), tmp_path)
        assert word in error.value.help


def test_alexnet_random_weights_none_and_auto(empty_hub):
    progress = SilentProgress()
    model = build_model(ModelSpec("a", "torchvision", arch="alexnet", weights="auto"), {}, progress, None)
    assert not model.pretrained and model.num_classes == 1000 and model.input_shape == (3, 224, 224)
    assert len(progress.notes) == 1
    note = progress.notes[0]
    assert "RANDOM" in note and str(empty_hub / "alexnet-owt-7be5be79.pth") in note
    none = build_model(ModelSpec("a", "torchvision", arch="alexnet", weights="none"), {}, SilentProgress(), None)
    assert none.weights_fingerprint == model.weights_fingerprint      # seeded random init
    other = build_model(ModelSpec("a", "torchvision", arch="alexnet", weights="none", seed=1), {},
                        SilentProgress(), None)
    assert other.weights_fingerprint != model.weights_fingerprint
    outs = outputs_of(model, torch.rand(2, 3, 224, 224), ["conv1", "conv5", "fc6", "fc7", "fc8"])
    for name in ("conv1", "conv5", "fc6", "fc7"):
        assert float(outs[name].min()) >= 0, name
    assert outs["conv1"].shape == (2, 64, 55, 55) and outs["fc8"].shape == (2, 1000)


def test_resnet18_aliases_and_block_outputs(empty_hub):
    model = build_model(ModelSpec("r", "torchvision", arch="resnet18", weights="none"), {}, SilentProgress(), None)
    assert model.resolve_layer("conv1") == "relu" and model.resolve_layer("logits") == "fc"
    outs = outputs_of(model, torch.rand(2, 3, 64, 64), ["conv1", "layer1", "layer4.1"])
    assert all(float(t.min()) >= 0 for t in outs.values())
    calls = []
    handle = model.module.relu.register_forward_hook(lambda *args: calls.append(1))
    with torch.no_grad():
        model.module(torch.rand(1, 3, 64, 64))
    handle.remove()
    assert len(calls) == 1                       # the top-level relu runs once per forward


def test_imagenet_weights_missing_is_an_error(empty_hub):
    with pytest.raises(RunError) as error:
        build_model(ModelSpec("a", "torchvision", arch="alexnet", weights="imagenet"), {}, SilentProgress(), None)
    assert str(empty_hub / "alexnet-owt-7be5be79.pth") in error.value.message


def test_weights_from_the_hub_cache_are_loaded(empty_hub):
    torch.manual_seed(3)
    reference = zoo.construct("resnet18")
    empty_hub.mkdir(parents=True)
    torch.save(reference.state_dict(), empty_hub / zoo.weight_files("resnet18")[0])
    progress = SilentProgress()
    model = build_model(ModelSpec("r", "torchvision", arch="resnet18", weights="auto"), {}, progress, None)
    assert model.pretrained and not progress.notes
    assert model.weights_fingerprint == state_fingerprint(reference)


def test_vgg16_and_mobilenet_aliases():
    aliases, paths = describe_model(ModelSpec("v", "torchvision", arch="vgg16"))
    assert aliases["conv1_1"] == "features.1" and aliases["conv5_3"] == "features.29"
    assert aliases["fc6"] == "classifier.1" and aliases["fc7"] == "classifier.4"
    assert aliases["fc8"] == aliases["logits"] == "classifier.6"
    assert "features.28" in paths
    aliases, _ = describe_model(ModelSpec("m", "torchvision", arch="mobilenet_v2"))
    assert aliases["block0"] == "features.0" and aliases["block17"] == "features.17"
    assert aliases["conv_last"] == "features.18" and aliases["logits"] == "classifier.1"
    aliases, _ = describe_model(ModelSpec("a", "torchvision", arch="alexnet"))
    assert aliases["conv3"] == "features.7"
    aliases, paths = describe_model(ModelSpec("n", "train", arch="mlp", widths=(64, 8, 10)))
    assert aliases == {"fc1": "fc1", "logits": "logits", "fc2": "logits"} and "fc1.1" in paths
    assert describe_model(ModelSpec("f", "factory", path="x:y")) is None


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_state_dict_round_trip_through_a_file(digits_train, tmp_path):
    spec = ModelSpec("net", "train", arch="cnn", widths=(4, 8, 16), train_on="train", epochs=1)
    trained = build_model(spec, {"train": digits_train}, SilentProgress(), tmp_path)
    path = tmp_path / "net.pt"
    torch.save(trained.module.state_dict(), path)
    loaded = build_model(ModelSpec("f", "file", arch="cnn", path=str(path)), {}, SilentProgress(), None)
    assert loaded.weights_fingerprint == trained.weights_fingerprint
    assert loaded.aliases == trained.aliases and loaded.input_shape == (1, 8, 8)
    x = digits_train.images[:16]
    with torch.no_grad():
        assert torch.equal(loaded.module(x), trained.module(x))
    script = tmp_path / "net.ts"
    torch.jit.save(torch.jit.script(trained.module), script)
    scripted = build_model(ModelSpec("s", "file", path=str(script)), {}, SilentProgress(), None)
    with torch.no_grad():
        assert torch.allclose(scripted.module(x), trained.module(x))
    with pytest.raises(RunError, match="is TorchScript, whose layers cannot be hooked"):
        scripted.resolve_layer("logits")          # no forward hooks: its layers cannot be edited
    # a state dict without an architecture, with the wrong one, a missing file
    with pytest.raises(RunError, match="needs its architecture"):
        build_model(ModelSpec("f", "file", path=str(path)), {}, SilentProgress(), None)
    with pytest.raises(RunError) as error:
        build_model(ModelSpec("f", "file", arch="resnet18", path=str(path)), {}, SilentProgress(), None)
    assert "missing" in error.value.message and "conv1.0.weight" in error.value.message
    with pytest.raises(RunError, match="no model file"):
        build_model(ModelSpec("f", "file", arch="cnn", path=str(tmp_path / "nope.pt")), {}, SilentProgress(), None)


def test_factory(tmp_path, monkeypatch):
    package = tmp_path / "nets_for_abl_test.py"
    package.write_text("import torch\n"
                       "def make():\n    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(),"
                       " torch.nn.Linear(3, 2))\n"
                       "def broken():\n    return 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    model = build_model(ModelSpec("p", "factory", path="nets_for_abl_test:make"), {}, SilentProgress(), None)
    assert isinstance(model.module, nn.Sequential) and not model.module.training
    assert model.resolve_layer("logits") == "2" and model.resolve_layer("1") == "1"
    assert model.num_classes == 2
    with pytest.raises(RunError, match="not a torch.nn.Module"):
        build_model(ModelSpec("p", "factory", path="nets_for_abl_test:broken"), {}, SilentProgress(), None)
    with pytest.raises(RunError, match="has no `nothing`"):
        build_model(ModelSpec("p", "factory", path="nets_for_abl_test:nothing"), {}, SilentProgress(), None)
    with pytest.raises(RunError, match="cannot import"):
        build_model(ModelSpec("p", "factory", path="no_such_module_xyz:make"), {}, SilentProgress(), None)
    sys.modules.pop("nets_for_abl_test", None)


def test_check_fits(digits_train, empty_hub):
    model = build_model(ModelSpec("r", "torchvision", arch="resnet18", weights="none"), {}, SilentProgress(), None)
    with pytest.raises(RunError, match="does not fit"):
        check_fits(model, digits_train)
    net = MLP((64, 8, 10)).eval()
    ok = LoadedModel(ModelSpec("m", "train", arch="mlp"), net, net.aliases(), None, 10, "", True)
    check_fits(ok, digits_train)


@pytest.mark.parametrize("source, words", [
    ("raise ValueError('broken at import')\n", "importing `faultmod"),
    ("import sys\nsys.exit(3)\n", "SystemExit"),
    ("def make():\n    import sys\n    sys.exit(3)\n", "SystemExit"),
    ("def make():\n    raise ValueError('no')\n", "raised ValueError"),
])
def test_a_failing_factory_is_a_user_error_not_an_exit_or_a_crash(tmp_path, monkeypatch, source, words):
    import importlib
    import sys

    from abl.interpreter.errors import RunError
    from abl.interpreter.models.build import ModelSpec, build_model
    from abl.interpreter.progress import SilentProgress

    name = f"faultmod{abs(hash(source)) % 10_000}"
    (tmp_path / f"{name}.py").write_text(source)
    monkeypatch.chdir(tmp_path)
    importlib.invalidate_caches()
    with pytest.raises(RunError, match=words.replace("faultmod", name) if "faultmod" in words else words):
        build_model(ModelSpec("net", "factory", path=f"{name}:make"), {}, SilentProgress(), tmp_path)
    sys.modules.pop(name, None)

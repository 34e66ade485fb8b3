"""`photos`: real photographs that ship inside installed packages, with ImageNet labels.

No ImageNet image installs offline, but a few real photographs come with scikit-image,
scikit-learn and matplotlib. Five of them show one ImageNet-1k class plainly enough to label
them by eye (the label is a person's reading of the photo, not a network's prediction):

| photo | package | ImageNet class (index) |
| --- | --- | --- |
| `coffee` | scikit-image | espresso (967) |
| `chelsea` | scikit-image | tabby (281) |
| `rocket` | scikit-image | missile (657) |
| `grace_hopper.jpg` | matplotlib | military uniform (652) |
| `china.jpg` | scikit-learn | monastery (663) |

Each photo gives 24 views: square crops of 100%, 85%, 70% and 55% of its shorter side, at the
start, centre and end of its longer side, each also mirrored; every view is resized to 256x256.
So the set has 120 images in 5 classes, labelled in ImageNet's 1,000-class space; `preprocess
imagenet` (the default for this source) crops the centre 224x224 and normalises. With the default
`holdout 0.3` the test split holds 36 images (7 or 8 views of each photo) and the train split 84.
Views of one photo are in both splits, so a probe or selection made on the train split has seen
the test photos from other crops: fine for the causal questions abl asks (ablating units of a
fixed network), not for estimating generalisation.
"""

from __future__ import annotations

import functools

from abl.interpreter.errors import RunError

from abl.interpreter.plan.catalog import PHOTOS, SIDE, photo_labels  # noqa: F401  (the catalog owns what the set holds)

SCALES = (1.0, 0.85, 0.7, 0.55)
PLACES = (0.0, 0.5, 1.0)


def _read(name: str, package: str):
    """(H, W, 3) uint8 array."""
    import numpy as np

    if package == "skimage":
        import skimage.data

        return np.asarray(getattr(skimage.data, name)())[..., :3]
    if package == "sklearn":
        from sklearn.datasets import load_sample_image

        return np.asarray(load_sample_image(name))[..., :3]
    import matplotlib.cbook
    from PIL import Image

    with matplotlib.cbook.get_sample_data(name) as handle:
        return np.asarray(Image.open(handle).convert("RGB"))


def _views(photo) -> list:
    import numpy as np
    import torch
    from torchvision.transforms import functional as F

    image = torch.from_numpy(np.array(photo, dtype=np.uint8)).permute(2, 0, 1).to(torch.float32) / 255.0
    height, width = image.shape[1:]
    views = []
    for scale in SCALES:
        side = int(round(scale * min(height, width)))
        for place in PLACES:
            top = int(round(place * (height - side))) if height > width else (height - side) // 2
            left = int(round(place * (width - side))) if width >= height else (width - side) // 2
            crop = F.resize(image[:, top:top + side, left:left + side], [SIDE, SIDE], antialias=True)
            crop = crop.clamp_(0.0, 1.0)
            views += [crop, crop.flip(-1)]
    return views


@functools.lru_cache(maxsize=1)
def photo_views():
    """(120, 3, 256, 256) images in [0, 1] (a tensor) and their ImageNet labels (an array), photo by
    photo. Torch is imported here, not at the top: `abl plan` reads PHOTOS without it."""
    import numpy as np
    import torch

    images, labels = [], []
    for name, package, label in PHOTOS:
        try:
            photo = _read(name, package)
        except ImportError as error:
            raise RunError(f"stimuli source `photos` needs {package} ({error.name} is not installed)",
                           help='pip install "abl[run]"') from None
        except Exception as error:       # a package without its bundled data file
            raise RunError(f"stimuli source `photos`: cannot read `{name}` from {package} ({error})",
                           help=f"reinstall {package}; abl never downloads it") from None
        views = _views(photo)
        images += views
        labels += [label] * len(views)
    return torch.stack(images), np.asarray(labels, dtype=np.int64)

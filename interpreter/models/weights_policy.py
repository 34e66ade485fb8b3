"""The weights policy of every pretrained network abl builds (torchvision and timm): nothing is
ever downloaded.

    weights auto       the pretrained file from the local cache when it is there, else random
                       weights (seeded) with a warning that says where the file must go
    weights imagenet   the pretrained file from the local cache; a missing file is an error
    weights none       random weights (seeded)
    weights "PATH"     that state dict
"""

from __future__ import annotations

from pathlib import Path

from abl.interpreter.errors import RunError, user_path
from abl.interpreter.progress import Progress


def weights_file(model: str, arch: str, weights: str, found: Path | None, where: str, family: str,
                 progress: Progress) -> Path | None:
    """The file to load (None: random weights). `found` is the cached pretrained file, if any;
    `where` says where it was looked for (a file or a folder); `family` names the library."""
    if weights in ("auto", "imagenet"):
        if found is not None:
            return found
        if weights == "imagenet":
            raise RunError(f"model `{model}`: no pretrained {family} {arch} weights at {where}",
                           help="put them there (abl never downloads), pass `weights \"file\"`, "
                                "or use `weights none` for random weights")
        progress.note(f"{arch}: no pretrained weights at {where}; running with RANDOM weights. "
                      f"Put them there (or pass weights \"file\") for the real network")
        return None
    if weights == "none":
        return None
    file = user_path(weights)
    if not file.is_file():
        raise RunError(f"model `{model}`: no weights file {file}",
                       help=f"give the path of a state dict saved from this {family} architecture")
    return file

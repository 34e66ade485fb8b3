"""The words the language knows beyond its grammar: datasets, metrics, report kinds, architectures.

Kept here (not in the grammar) so that a misspelling gets "did you mean" from the checker
instead of a bare syntax error.
"""

from __future__ import annotations

from abl.spec.torchvision_models import TORCHVISION_MODELS

DATASETS = ("digits", "mnist", "fashion_mnist", "cifar10", "imagefolder", "photos")
SPLITS = ("train", "test")
PREPROCESSING = ("auto", "none", "imagenet")
DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("fp32", "bf16", "fp16")

# Per-unit scores a selection can rank or threshold by.
UNIT_METRICS = ("activation", "magnitude", "selectivity", "selectivity index", "rotated magnitude",
                "conductance", "integrated gradients")
# need `for class C`; the last two are attributions through Captum (run/attribution.py)
CLASS_UNIT_METRICS = ("selectivity", "rotated magnitude", "conductance", "integrated gradients")

# What `measure` can measure.
MEASURES = ("accuracy", "loss", "rank", "rank deficit", "selective rank deficit", "rank change",
            "logit", "probability", "probe accuracy", "selectivity index", "activation")
MEASURES_NEEDING_INTERVENTION = ("rank deficit", "selective rank deficit", "rank change")
MEASURES_NEEDING_WHERE_CLASS = ("selective rank deficit",)      # the class against the others
MEASURES_NEEDING_CLASS = ("logit", "probability")
MEASURES_NEEDING_UNITS = ("probe accuracy", "activation")
MEASURES_NEEDING_LAYER = ("selectivity index",)
MEASURES_OF_OUTPUTS = ("accuracy", "loss", "rank", "rank deficit", "selective rank deficit",
                       "rank change", "logit", "probability")

REPORT_KINDS = ("table", "bars", "heatmap", "histogram", "curve", "scatter", "features", "exemplars")

BUILTIN_ARCHITECTURES = ("mlp", "cnn")
# every classification model of torchvision, generated from its list_models (spec/torchvision_models.py)
TORCHVISION_ARCHITECTURES = TORCHVISION_MODELS

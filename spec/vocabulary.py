"""The words the language knows beyond its grammar: datasets, metrics, report kinds, architectures.

Kept here (not in the grammar) so that a misspelling gets "did you mean" from the checker
instead of a bare syntax error.
"""

from __future__ import annotations

DATASETS = ("digits", "mnist", "fashion_mnist", "cifar10", "imagefolder", "photos")
SPLITS = ("train", "test")
PREPROCESSING = ("auto", "none", "imagenet")
DEVICES = ("auto", "cpu", "cuda", "mps")

# Per-unit scores a selection can rank or threshold by.
UNIT_METRICS = ("activation", "magnitude", "selectivity", "selectivity index", "rotated magnitude")
CLASS_UNIT_METRICS = ("selectivity", "rotated magnitude")   # need `for class C`

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

REPORT_KINDS = ("table", "bars", "heatmap", "histogram", "curve", "scatter", "features")

BUILTIN_ARCHITECTURES = ("mlp", "cnn")
TORCHVISION_ARCHITECTURES = (
    "alexnet", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn",
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "wide_resnet50_2",
    "wide_resnet101_2", "resnext50_32x4d", "resnext101_32x8d", "mobilenet_v2",
    "mobilenet_v3_small", "mobilenet_v3_large", "densenet121", "densenet161", "densenet169",
    "densenet201", "googlenet", "inception_v3", "squeezenet1_0", "squeezenet1_1",
    "shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "efficientnet_b0", "efficientnet_b1",
    "efficientnet_b2", "efficientnet_b3", "efficientnet_b4", "mnasnet0_5", "mnasnet1_0",
    "regnet_y_400mf", "regnet_x_400mf", "convnext_tiny", "convnext_small", "vit_b_16",
)

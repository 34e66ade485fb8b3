"""One-line manual entries for the words of the language, shown on hover (docs/language.md has the
full manual). Keywords first, then measures and unit metrics (spec/vocabulary.py lists them)."""

from __future__ import annotations

KEYWORDS = {
    "experiment": 'experiment "NAME" — names the experiment (the run folder and the report title).',
    "seed": "seed N — the seed of every random draw (stimuli splits, training, random unit sets).",
    "device": "device auto|cpu|cuda — where the networks run.",
    "precision": "precision fp32|bf16|fp16 — the number format of the forward passes (statistics stay float64).",
    "param": "param NAME = VALUE — a parameter, used as `$NAME`; `abl run --set NAME=VALUE` overrides it.",
    "repeats": "repeats N — how many random draws a random unit set gets when it is a control.",
    "confidence": "confidence 95% — the level of every confidence interval.",
    "resamples": "resamples N — bootstrap and permutation resamples for intervals and tests.",
    "stimuli": "stimuli NAME = DATASET [split S] [classes ...] [per class N] [noise X] ... — a set of images.",
    "model": "model NAME = train ARCH on STIMULI | torchvision ARCH | timm ARCH | file PATH | python TARGET — a network.",
    "units": "units NAME = top N by METRIC in LAYER | random N in LAYER | all in LAYER | grid RxC over M1, M2 in LAYER | ... — a unit set.",
    "measure": "measure [NAME =] QUANTITY on STIMULI [using MODEL] [ablating UNITS ...] — a measurement.",
    "expect": "expect QUANTITY TEST — a falsifiable claim, decided by the run (verdict pass/fail/inconclusive).",
    "report": "report KIND [QUANTITY] [by DIMS] — a table or figure (table, bars, heatmap, histogram, curve, scatter, features).",
    "for": "for each [class|layer] NAME in VALUES: — repeats the indented block over each value.",
    "each": "each [class|layer] NAME in VALUES — one binding of a `for` block.",
    "train": "train mlp|cnn [WIDTHS] on STIMULI [epochs N] [lr X] [batch N] [seed N] — trains a built-in network.",
    "torchvision": "torchvision ARCH [weights auto|imagenet|none|\"file.pth\"] — a torchvision network.",
    "timm": "timm ARCH [weights ...] — a timm network (the optional `timm` extra).",
    "ablating": "ablating UNITS — sets the units' activations to zero.",
    "mean-ablating": "mean-ablating UNITS — replaces the units' activations by their mean over the stimuli.",
    "clamping": "clamping UNITS to VALUE — holds the units' activations at a value.",
    "scaling": "scaling UNITS by FACTOR — multiplies the units' activations (or weights) by a factor.",
    "zeroing": "zeroing incoming|outgoing weights of UNITS — sets weights to zero.",
    "top": "top N by METRIC in LAYER — the N units that score highest.",
    "bottom": "bottom N by METRIC in LAYER — the N units that score lowest.",
    "random": "random N in LAYER — N units drawn at random (a control: drawn `repeats` times).",
    "all": "all in LAYER — every unit of a layer.",
    "grid": "grid RxC over M1, M2 in LAYER — cells of units by two metrics' equal-count quantiles.",
    "where": "where METRIC > X in LAYER (unit sets) · where class == C (measurements).",
    "using": "using MODEL — the network a measurement runs on.",
    "fit": "fit on STIMULI — the stimuli a probe is trained on.",
    "split": "split train|test — which part of a dataset.",
    "noise": "noise SIGMA [seed N] — Gaussian noise added to the images.",
    "blur": "blur SIGMA [seed N] — Gaussian blur of the images.",
    "holdout": "holdout FRACTION — keep this fraction of the images out.",
    "averaged": "averaged over DIMS — a claim decided on the average over these dimensions.",
    "weights": "weights auto|imagenet|none|\"file.pth\" — pretrained weights of a network.",
    "epochs": "epochs N — training epochs.",
}

MEASURES = {
    "accuracy": "accuracy — the fraction of stimuli whose top class is the true class.",
    "loss": "loss — the mean cross-entropy of the network's outputs.",
    "rank": "rank — the rank of the true class among the logits (0: top).",
    "rank deficit": "rank deficit — how far the true class's rank falls under an intervention.",
    "selective rank deficit": "selective rank deficit — rank deficit of a class minus the others' (needs `where class == C`).",
    "rank change": "rank change — the change of the true class's rank under an intervention.",
    "logit": "logit of class C — the logit of a class.",
    "probability": "probability of class C — the softmax probability of a class.",
    "probe accuracy": "probe accuracy of UNITS — a linear probe's accuracy decoding the class from the units (`fit on S`).",
    "selectivity index": "selectivity index in LAYER — per-unit class selectivity.",
    "activation": "activation of UNITS — the units' mean activation.",
    "magnitude": "magnitude — a unit's mean absolute activation (a unit metric).",
    "selectivity": "selectivity for class C — how much more a unit responds to C than to the others.",
    "rotated magnitude": "rotated magnitude for class C — magnitude after the selectivity rotation (a unit metric).",
}


def entry(word: str) -> str | None:
    return KEYWORDS.get(word) or MEASURES.get(word)

"""The lint contract, tested generatively: specs built from the documented forms (statements,
measures, interventions, selections, options, expectations, families) on the embedded digits
with tiny models; every one that `abl lint` accepts must run to a verdict (no run-time error for a
spec reason), and its stimuli options must show in the stimuli it loaded."""

from __future__ import annotations

import random

import pytest

from abl.interpreter.api import Experiment
from abl.interpreter.errors import RunError
from abl.spec.frontend import compile_text

SPECS = 120
LAYERS = ("fc1", "fc2")
CLASSES = (3, 7)


def _units(rng: random.Random, cls: str, layer: str) -> str:
    return rng.choice([
        f"top 3 by activation for class {cls} in {layer}",
        f"bottom 2 by activation for class {cls} in {layer}",
        f"top 4 by selectivity for class {cls} in {layer}",
        f"random 3 in {layer}",
        f"[0, 2, 5] in {layer}",
        f"where activation > 0.1 for class {cls} in {layer}",
        f"top 3 by activation for class {cls} in {layer} | [1] in {layer}",
        f"top 6 by magnitude in {layer} - [0] in {layer}",
    ])


def _intervention(rng: random.Random, units: str, layer: str) -> str:
    return rng.choice([
        f"ablating {units}", f"mean-ablating {units}", f"clamping {units} to 1.5",
        f"scaling {units} by 0.5", f"zeroing incoming weights of {units}",
        f"scaling outgoing weights of {units} by 0.5", f"zeroing weight [0, 1] of {layer}",
    ])


def _stimuli_options(rng: random.Random) -> tuple[str, list[str]]:
    options = rng.choice([[], ["noise 0.2"], ["blur 1.0"], ["blur 1.0", "noise 0.2 seed 3"],
                          ["classes [1, 3, 7]"], ["per class 20"], ["classes [3, 7] per class 15"]])
    return " ".join(options), options


def generate(seed: int) -> tuple[str, list[str]]:
    rng = random.Random(seed)
    options_text, options = _stimuli_options(rng)
    arch = rng.choice(["train mlp [64, 16, 12, 10] on train epochs 1", "train mlp [64, 12, 8, 10] on train epochs 1 seed 1"])
    lines = ['experiment "generated"', "seed 0", "stimuli train = digits split train",
             f"stimuli test = digits split test {options_text}".rstrip(), f"model net = {arch}"]
    cls = str(rng.choice(CLASSES)) if "classes [1, 3, 7]" not in options else rng.choice(["3", "7"])
    layer = rng.choice(LAYERS)
    lines.append(f"units u = {_units(rng, cls, layer)}")
    lines.append(f"units r = random 2 in {layer}")
    form = rng.randrange(12)
    intervention = _intervention(rng, "u", layer)
    if form == 0:
        lines += ["measure accuracy per class on test", f"measure accuracy per class on test {intervention}",
                  f"expect accuracy[class {cls}] on test drops by at least 1% {intervention}"]
    elif form == 1:
        metric = rng.choice(["loss", "rank", "accuracy top 2", f"logit of class {cls}", f"probability of class {cls}"])
        lines += [f"measure {metric} on test {intervention}",
                  f"expect {metric} on test {intervention} {rng.choice(['>', '<', '>='])} {metric} on test"]
    elif form == 2:
        deficit = rng.choice(["rank deficit", "rank change"])
        lines += [f"measure {deficit} on test where class == {cls} {intervention}",
                  f"expect {deficit} on test where class == {cls} {intervention} >= 0"]
    elif form == 3:
        lines += [f"measure probe accuracy of u on test where class == {cls}",
                  f"expect probe accuracy of u on test where class == {cls} > 0.5"]
    elif form == 4:
        lines += [f"measure selectivity index in {layer} on test", "measure activation of u on test",
                  f"measure activation of u on test {rng.choice(['ablating r', 'scaling r by 2'])}",
                  f"expect selectivity index in {layer} on test >= 0"]
    elif form == 5:
        lines += [f"expect drop of accuracy[class {cls}] on test ablating u > drop ablating r repeats 20"]
    elif form == 6:
        lines += ["for each class c in [3, 7], each layer L in [fc1, fc2]:",
                  "    units g = grid 2x2 over selectivity, magnitude for class c in L",
                  "    measure rank deficit on test where class == c ablating g",
                  "expect rank deficit on test is largest at [cell = 1,1] averaged over class, layer",
                  "expect rank deficit[row in [1]] on test >= rank deficit[row = 0] on test averaged over col "
                  "in at least 25% of class x layer"]
    elif form == 7:
        lines += ["for each s in [0.5, 2]:", "    measure accuracy on test scaling u by s",
                  "expect accuracy[s = 2] on test <= accuracy[s = 0.5] on test + 10%"]
    elif form == 9:
        lines += ["for each class c:", f"    measure accuracy on test where class == c {intervention}",
                  f"expect accuracy on test {intervention} >= 0 in at least 50% of class"]
    elif form == 10:
        lines += [f"measure activation of u on test {intervention}", "measure activation of u on test",
                  f"expect activation of u on test {intervention} != activation of u on test"]
    elif form == 11:
        lines += ["measure accuracy per class on test ablating u",
                  f"expect accuracy[class {cls}] on test ablating u <= accuracy[class {cls}] on test + 50%"]
    else:
        lines += ["for each layer L in [fc1, fc2]:",
                  f"    units top3 = top 3 by activation for class {cls} in L",
                  f"    measure accuracy on test where class == {cls} ablating top3",
                  f"expect accuracy on test where class == {cls} >= 0 in every layer"]
    if rng.random() < 0.3:
        lines.insert(2, rng.choice(["confidence 90%", "resamples 200", "repeats 20"]))
    if rng.random() < 0.3:       # a report of a metric the spec never measures is E317 (lint)
        reports = ["report table accuracy per class", "report bars accuracy per class",
                   "report histogram selectivity index", "report features of u steps 4"]
        measured = " ".join(line for line in lines if "measure " in line or "expect " in line)
        choice = rng.choice(reports)
        lines.append(choice if "features" in choice or " ".join(choice.split()[2:4]).replace(" per", "")
                     in measured else "report features of u steps 4")
    return "\n".join(lines) + "\n", options


@pytest.fixture(scope="module")
def generated():
    specs = [generate(seed) for seed in range(SPECS)]
    clean = []
    for text, options in specs:
        result = compile_text(text, "generated.abl")
        if result.program is not None:
            clean.append((text, options))
    return clean


def test_most_generated_specs_lint_clean(generated):
    assert len(generated) >= 0.9 * SPECS


def test_every_lint_clean_generated_spec_runs_to_a_verdict(generated, tmp_path_factory):
    """Run in-process (a RunError is what `abl run` turns into exit 2; any other exception would be
    an internal error): every spec decides, its report renders, and every 40th draws its figures."""
    import io

    from rich.console import Console

    from abl.interpreter.report.draw import write_figures
    from abl.interpreter.report.terminal import render_report

    cache = tmp_path_factory.mktemp("contract-cache")
    figures = tmp_path_factory.mktemp("contract-figures")
    failures = []
    for index, (text, options) in enumerate(generated):
        try:
            experiment = Experiment.from_text(text, cache_dir=cache, device="cpu")
            result = experiment.run()
            Console(file=io.StringIO(), width=80).print(render_report(result, [], figures))
            if index % 40 == 0:
                write_figures(result, figures / str(index))
        except RunError as error:
            failures.append(f"{error}\n{text}")
            continue
        assert result.verdicts, text
        loaded = experiment.stimuli("test")
        for option in options:          # every option shows in the stimuli that were loaded
            spec = loaded.spec
            if option.startswith("noise") or option.startswith("blur"):
                assert [c.kind for c in spec.corruptions] == [o.split()[0] for o in options
                                                              if o.split()[0] in ("noise", "blur")], text
            elif option.startswith("classes"):
                assert tuple(int(c) for c in spec.classes) == tuple(
                    int(c) for c in option.split("[")[1].split("]")[0].split(",")), text
            if "per class" in option:
                assert spec.per_class == int(option.split("per class")[1]), text
    assert not failures, f"{len(failures)} lint-clean specs failed at run time:\n\n" + "\n\n".join(failures[:5])

"""Every diagnostic code abl can emit, with the text `abl explain CODE` prints.

Codes are stable: once released, a code keeps its meaning. E1xx are syntax, E2xx names,
E3xx values and types, E4xx model-aware (`abl lint --deep` and run time), W5xx warnings.
"""

from __future__ import annotations

from dataclasses import dataclass

from .severity import Severity


@dataclass(frozen=True)
class Code:
    code: str
    name: str
    summary: str
    explanation: str
    example: str
    fix: str

    @property
    def severity(self) -> Severity:
        return Severity.WARNING if self.code.startswith("W") else Severity.ERROR


CODES: dict[str, Code] = {}


def _code(code: str, name: str, summary: str, explanation: str, example: str, fix: str) -> None:
    CODES[code] = Code(code, name, summary, explanation, example, fix)


_code("E101", "syntax-error", "the text does not follow the grammar",
      "The parser met a token it did not expect. The message names what it found and what "
      "would have been valid there.",
      "units hot = top five by activation in fc2",
      "units hot = top 5 by activation in fc2")
_code("E102", "bad-indentation", "a `for each` body is not indented consistently",
      "Statements inside a `for each ...:` block must be indented more than the `for` line, "
      "all by the same amount.",
      "for each layer L in [fc1, fc2]:\nmeasure accuracy on test",
      "for each layer L in [fc1, fc2]:\n    measure accuracy on test")
_code("E103", "unterminated-string", "a string literal has no closing quote",
      "Strings are written in double quotes and end on the same line.",
      'experiment "digit 7', 'experiment "digit 7"')
_code("E104", "too-deep", "brackets, parentheses or `for each` blocks nest deeper than abl accepts",
      "A spec nests lists, parenthesised unit sets and `for each` blocks at most 64 deep; deeper "
      "text is refused before parsing (it is never a real experiment, and it would exhaust the "
      "parser's stack).",
      "param p = [[[[[[ ... 200 levels ... ]]]]]]",
      "param p = [[1, 2], [3, 4]]")
_code("E201", "undefined-name", "a name is used before it is defined, or never defined",
      "Stimuli, models, units and measures must be defined (by a statement earlier in the "
      "file) before they are used.",
      "measure accuracy on tset", "measure accuracy on test")
_code("E202", "duplicate-definition", "a name is defined twice",
      "Every name is defined once in a spec (once per binding inside a `for each` block).",
      "stimuli test = digits split test\nstimuli test = digits split train",
      "give the second definition its own name")
_code("E203", "wrong-kind", "a name of one kind is used where another kind is expected",
      "For example a stimuli name after `ablating`, which expects a unit set.",
      "measure accuracy on test ablating test", "measure accuracy on test ablating hot7")
_code("E204", "unknown-parameter", "`$name` refers to a parameter that was never declared",
      "Parameters are declared with `param NAME = VALUE` and referred to as `$NAME`.",
      "stimuli s = $dat split test", 'param data = "digits"\nstimuli s = $data split test')
_code("E205", "unknown-override", "`--set NAME=VALUE` names a parameter the spec does not declare",
      "Only declared parameters can be overridden from the command line.",
      "abl run spec.abl --set modle=alexnet", "abl run spec.abl --set model=alexnet")
_code("E206", "unbound-variable", "a loop variable is used outside its `for each` block",
      "Variables bound by `for each` exist only in the indented body of that block.",
      "for each class c:\n    ...\nmeasure accuracy on test where class == c",
      "move the statement into the block")
_code("E207", "reserved-name", "a declared name is a keyword of the language where the name is used",
      "A unit set is used after `ablating`, `of` and in set algebra, where `top`, `bottom`, `random`, "
      "`all`, `where`, `grid` and `class` begin a selection; a model is used after `using` and in "
      "`model X = NAME`, where `train`, `torchvision`, `timm`, `file` and `python` begin a model "
      "source. Such a name would be read as the keyword at its first use, so it is refused where "
      "it is declared.",
      "units top = random 5 in fc2",
      "units top5 = random 5 in fc2")
_code("E301", "out-of-range", "a number is outside the range the statement accepts",
      "Counts (k, grid sizes, epochs, repeats) are at least 1; fractions and p-values lie in "
      "[0, 1]; severities are not negative.",
      "units u = top 0 by activation in fc2", "units u = top 5 by activation in fc2")
_code("E302", "unknown-metric", "a metric name is not one abl knows",
      "Unit metrics: activation, magnitude, selectivity, selectivity index, rotated magnitude. Measures: accuracy, "
      "loss, rank, rank deficit, rank change, logit, probability, probe accuracy, "
      "selectivity index, activation.",
      "units u = top 5 by activaton in fc2", "units u = top 5 by activation in fc2")
_code("E303", "unknown-dataset", "a stimuli source is neither a dataset abl knows nor a defined stimuli",
      "Sources: digits, mnist, fashion_mnist, cifar10, imagefolder, photos, or the name of another stimuli "
      "set (to derive a corrupted or filtered copy).",
      "stimuli s = digts split test", "stimuli s = digits split test")
_code("E304", "unknown-report", "a report kind is not one abl knows",
      "Report kinds: table, bars, heatmap, histogram, curve, scatter, features.",
      "report heatmp rank deficit by cell, class x layer",
      "report heatmap rank deficit by cell, class x layer")
_code("E305", "unknown-architecture", "a model architecture is not one abl knows",
      "Built-in trainable architectures are `mlp` and `cnn`. (A torchvision name abl's table "
      "lacks is the warning W505: `abl run` settles it.)",
      "model net = train mpl [64, 10] on train", "model net = train mlp [64, 10] on train")
_code("E306", "type-mismatch", "a value has the wrong type for its place",
      "For example a string where a number is expected, a list where a layer is expected, a "
      "number where a whole number is needed, or a model file path without quotes.",
      "seed \"zero\"", "seed 0")
_code("E307", "unknown-option", "an option word is not valid in this statement",
      "Each statement accepts a fixed set of options; the manual lists them.",
      "stimuli s = digits split validation", "stimuli s = digits split test")
_code("E308", "incomplete-statement", "a measurement or expectation lacks what it needs to be decided",
      "`drops by`, `rank deficit` and `rank change` need an intervention to compare with the "
      "unablated baseline; an expectation needs its stimuli when the spec measures on several; "
      "a measurement needs `using MODEL` when several models could be meant.",
      "expect accuracy on test drops by at least 3%",
      "expect accuracy on test drops by at least 3% ablating hot7")
_code("E309", "invalid-combination", "parts of a statement that cannot go together",
      "Some qualifiers exclude each other: a linear probe is fitted on the plain network's "
      "activations, so `probe accuracy` cannot be measured under an intervention. Measure "
      "`activation of UNITS ... ablating ...` (recorded with the edits applied) instead.",
      "measure probe accuracy of cells on eval ablating hot",
      "measure probe accuracy of cells on eval")
_code("E310", "family-mismatch", "a claim selects, averages or quantifies over a dimension its values do not have",
      "A measurement inside `for each class c, each layer L` or over a grid is a family of values "
      "with the dimensions `class`, `layer`, `cell` (and its `row` and `col`), its loop variables, "
      "and `seed` for replicated models. A claim can select a member (`[cell = 3,3]`, "
      "`[row in [0, 3]]`), average (`averaged over class, layer`), quantify (`in every class`, "
      "`in at least 80% of class x layer`) or ask where the value peaks (`is largest at [cell = "
      "3,3]`), but only over dimensions the measurement has, each used once.",
      "expect rank deficit on eval is largest at [cell = 3,3] averaged over alpha",
      "expect rank deficit on eval is largest at [cell = 3,3] averaged over class, layer")
_code("E311", "plan-too-large", "a spec would expand to more bindings or random draws than abl plans",
      "`for each` blocks multiply (40 two-valued binders are 2^40 bindings) and `repeats` multiplies "
      "every random control. Above 1,000,000 (ABL_MAX_PLAN=N raises it) the spec is refused before "
      "planning, which would otherwise exhaust memory.",
      "for each a in [1, 2], each b in [1, 2], ...  (40 binders)", "for each a in [1, 2], each b in [1, 2]:")
_code("E312", "misplaced-statement", "a statement stands where it has no meaning",
      "Header statements (`experiment`, `seed`, `device`, `repeats`, ...) and `param` belong at the "
      "top level of the spec, not inside a `for each` block.",
      "for each class c:\n    seed 3", "seed 3")
_code("E313", "missing-argument", "a statement or metric lacks a part it needs",
      "`logit` and `probability` need `of class C`; `probe accuracy` and `activation` need `of UNITS`; "
      "`selectivity index` needs `in LAYER`; selectivity needs `for class C`; `imagefolder` and "
      "`cifar10` need a path; `train mlp` needs its widths; `report heatmap` needs its layout; "
      "`each x` needs `in [...]` (only `each class c` may omit it).",
      "measure logit on test", "measure logit of class 7 on test")
_code("E314", "grid-misuse", "a grid of unit sets is used where one unit set is needed",
      "A grid (`grid 4x4 over ...`) is a family of 16 unit sets. Set algebra (`|`, `&`, `-`) and "
      "weight edits take single sets; a measurement may range over one grid at a time.",
      "measure accuracy on test ablating (cells | hot)", "measure accuracy on test ablating cells")
_code("E315", "inapplicable-argument", "an argument does not apply to this metric or statement",
      "`top K` applies to accuracy only; `per class` applies to output measures such as accuracy "
      "and loss; a stimuli set derived from another takes no path.",
      "measure loss top 5 on test", "measure accuracy top 5 on test")
_code("E316", "unmeasured-value", "a claim selects a loop value at which the metric is never measured",
      "`accuracy[alpha = -10]` reads the accuracy measured where `for each alpha in [...]` binds -10. "
      "When the list (perhaps set by `--set alphas=[...]`) does not hold that value, the run would "
      "find nothing to read after all its work, and `[alpha in [...]]` would average fewer values "
      "than it names. Numbers match by value (`-1` and `-1.0`); strings and words as written.",
      "for each alpha in [-1, 0, 1]:  ...  expect accuracy[alpha = -10] on test > 0.9",
      "expect accuracy[alpha = -1] on test > 0.9")
_code("E317", "unmeasured-report", "a report shows a metric the spec does not measure, or cannot tell which",
      "A `report` draws from the results of the spec's measurements. A metric no `measure` statement "
      "or expectation measures would leave the figure empty after all the run's work. A metric "
      "measured with an argument is found by its name alone when one measurement fits "
      "(`report curve probability by v` shows `probability of class 3`); when several fit, name one.",
      "measure probability of class 3 on test\nreport curve accuracy by v",
      "measure probability of class 3 on test\nreport curve probability by v")
_code("E318", "fraction-above-one", "a fraction-valued measure is compared with a number above 1",
      "accuracy, probability and probe accuracy run from 0 to 1. A claim that compares one with a "
      "plain number above 1 (`> 95`, `drops by at least 30`) can never pass, or always does: the "
      "number is almost always a percentage without its `%`.",
      "expect accuracy on test > 95", "expect accuracy on test > 95%")
_code("E400", "run-failed", "the run failed on the data, a model or the machine",
      "A run-time problem the spec could not show before running: an unreadable image folder, a "
      "model that does not fit its stimuli, non-finite activations, a factory that raises. The "
      "message names the cause and `help:` the fix; when a statement caused it, the diagnostic "
      "points at that statement.",
      'stimuli s = imagefolder "/no/such/folder"', 'stimuli s = imagefolder "/data/imagenet/val"')
_code("E401", "unknown-layer", "a layer name does not exist in the model",
      "Layers are named by module path (`features.3`) or by an alias the model declares "
      "(`fc2`, `conv3`). `abl lint --deep` and `abl run` check every name against the model.",
      "units u = all in fc9", "units u = all in fc2")
_code("E402", "class-out-of-range", "a class index or name does not exist in the stimuli or model",
      "Class indices run from 0 to the number of classes minus one; ImageNet classes can also be "
      "named (\"junco\").", "units u = top 5 by activation for class 12 in fc2",
      "units u = top 5 by activation for class 7 in fc2")
_code("E403", "units-out-of-range", "a selection asks for more units than the layer has, or an index past its end",
      "`top K`, `random K` and explicit indices must fit the layer's unit count; so must the units "
      "a weight edit reaches and the token of `at token K` (one check, `errors.check_range`, says so "
      "for all of them).",
      "units u = [3, 999] in fc2", "units u = [3, 9] in fc2")
_code("E404", "model-unavailable", "the model cannot be built or loaded",
      "Weights files must exist; torchvision weights come from the torch cache or a file.",
      'model net = torchvision alexnet weights "missing.pth"', "put the file where the spec says")
_code("W501", "unused-definition", "a definition is never used",
      "An unused stimuli, model, units or param is often a typo elsewhere.",
      "units spare = random 5 in fc2", "use it, or delete it")
_code("W502", "missing-header", "the spec has no `experiment` name or no `seed`",
      "Without a seed, abl uses seed 0; say so explicitly for reproducibility.",
      "measure accuracy on test", 'experiment "my study"\nseed 0')
_code("W503", "weak-control", "a random control is repeated too few times for a meaningful p-value",
      "With N repeats the smallest reachable p-value is 1/(N+1): fewer than 20 draws say little, and a "
      "control whose smallest p is above its significance can never pass. With several tested claims, "
      "Holm's correction can multiply the smallest p by their number m, so the draws needed are "
      "m / significance - 1; the warning says how many.",
      "expect ... > drop ablating rand5 repeats 100 significance 0.005",
      "expect ... > drop ablating rand5 repeats 600 significance 0.005")

_code("W506", "changed-since-lock", "a claim differs from the spec's lock file, or is not in it",
      "`abl lock SPEC` pre-registers a spec's claims in SPEC.lock.json: each claim's canonical text and "
      "the declarations it depends on. A claim whose text or declarations changed since (or a claim "
      "added since) is no longer pre-registered: `abl run` marks it `changed` or `new`, and "
      "`abl run --require-lock` refuses to run it.",
      "expect accuracy[class 7] on test drops by at least 2% ablating hot7   # locked at 3%",
      "restore the locked claim, or lock again and say so in the write-up")

_code("W504", "reseeded-derived-stimuli", "`seed` on a derived stimuli set re-draws which images it holds",
      "A derived set (`stimuli b = a ...`) holds the images of `a`. Its own `seed` option is the seed "
      "of the split and the subsample, so with it the set no longer holds `a`'s images and "
      "comparisons with `a` compare different images. To seed only a corruption, write the seed "
      "after it: `noise 0.3 seed 7`.",
      "stimuli noisy = test noise 0.3\nstimuli other = noisy seed 7",
      "stimuli noisy = test noise 0.3 seed 7")

_code("W505", "unknown-torchvision-model", "a torchvision model (or `arch`) abl's table does not list",
      "abl knows torchvision's classification models from a table generated from "
      "`torchvision.models.list_models()` (spec/torchvision_models.py), so lint needs no torch. A "
      "name it does not list may be a misspelling (the help suggests the nearest name) or a model of "
      "a newer torchvision: `abl run` builds it if the installed torchvision has it, and stops with "
      "an error if not.",
      "model net = torchvision alexnt", "model net = torchvision alexnet")


_code("W507", "measured-on-training-stimuli", "a trained model is measured on the images it was trained on",
      "A model trained `on train` and measured `on train` (or on a set of the same source whose split "
      "is the same, or not named, so all the source's images) reports how well it fits its training "
      "images: accuracies are inflated and drops after ablation mean something else. Measure on "
      "held-out images; silence the warning on the line when the training fit is the point.",
      "model net = train mlp [64, 32, 10] on train\nmeasure accuracy on train",
      "stimuli test = digits split test\nmeasure accuracy on test")


def severity_of(code: str) -> Severity:
    return CODES[code].severity if code in CODES else Severity.ERROR

"""Checking, by job: scopes and the declarations of stimuli, models and `for each` blocks."""

from __future__ import annotations

import dataclasses

from . import ast
from .diagnostics import did_you_mean, listing
from .source import Span
from .visit import nodes_of
from .vocabulary import (BUILTIN_ARCHITECTURES, DATASETS, PREPROCESSING, SPLITS,
                         TORCHVISION_ARCHITECTURES)
from .program import CLASS_GUESS, KIND_WORDS, Scope, Symbol, max_plan


def _definition_hint(kind: str, name: str) -> str:
    return {"stimuli": f"stimuli {name} = digits split test",
            "model": f"model {name} = train mlp [64, 128, 10] on STIMULI epochs 20",
            "units": f"units {name} = top 5 by activation in LAYER"}.get(kind, f"{kind} {name} = ...")


# names that read as a keyword where a declaration of that kind is used (`ablating top` is the
# start of `top K by ...`; `using train`, `model m = train` of `train ARCH on ...`): kind -> name -> what
_SELECTION, _SOURCE = "a unit selection (`top 5 by activation in fc2`)", "a model source (`train mlp [...] on ...`)"
RESERVED = {"units": dict.fromkeys(["all", "bottom", "class", "grid", "random", "top", "where"], _SELECTION),
            "model": dict.fromkeys(["file", "python", "timm", "torchvision", "train"], _SOURCE)}


class DeclarationChecks:
    """Part of the Checker (check.py): shares its state."""

    # ---- scopes ------------------------------------------------------------------------------
    _current_scope: Scope | None = None
    _used_before_declared: dict[str, int]          # name -> the line of its first use (set by Checker)

    def _scope_lookup(self, name: str) -> Symbol | None:
        scope = self._current_scope or self.global_scope
        return scope.lookup(name)

    def define(self, scope: Scope, name: ast.Name, kind: str, is_grid: bool = False) -> None:
        if name.value in RESERVED.get(kind, ()):
            self.error("E207", f"`{name.value}` is a keyword of the language: a {KIND_WORDS[kind]} "
                       f"cannot be called `{name.value}`", name.span,
                       help=f"where it is used, `{name.value}` would begin {RESERVED[kind][name.value]}; "
                            f"choose another name, e.g. `{name.value}{'5' if kind == 'units' else '_net'}`")
        existing = scope.lookup(name.value)
        if existing is not None and existing.kind != "param":
            self.error("E202", f"`{name.value}` is already defined (as a {KIND_WORDS[existing.kind]})",
                       name.span, help=f"first defined on line {existing.span.line}; choose another name")
            return
        symbol = Symbol(kind, name.span, is_grid=is_grid)
        if name.value in self._used_before_declared:
            symbol.used = True          # E201 said it is declared too late: not "never used" too
        scope.symbols[name.value] = symbol
        self.symbols_in_order.append((name.value, symbol))

    def use(self, scope: Scope, name: ast.Name, kinds: tuple[str, ...], what: str) -> Symbol | None:
        symbol = scope.lookup(name.value)
        if symbol is None and name.value in self.broken_names:
            return None             # defined by a statement that did not parse (reported there)
        if symbol is None and self._declared_later(name):
            return None
        if symbol is None:
            candidates = [n for n, s in scope.visible().items() if s.kind in kinds]
            help_text = did_you_mean(name.value, candidates)
            if help_text is None:
                help_text = (f"defined {what}s: {listing(candidates)}" if candidates
                             else f"define it first: `{_definition_hint(kinds[0], name.value)}`")
            self.error("E201", f"undefined {what} `{name.value}`", name.span, help=help_text)
            return None
        symbol.used = True
        if symbol.kind not in kinds:
            self.error("E203", f"`{name.value}` is a {KIND_WORDS[symbol.kind]}, not a {what}",
                       name.span, help=f"defined on line {symbol.span.line}")
            return None
        return symbol

    def _declared_later(self, name: ast.Name) -> bool:
        """E201 for a name used above its own declaration, saying where that is."""
        if not hasattr(self, "_later"):
            self._later = {}
            for decl in nodes_of((ast.StimuliDecl, ast.ModelDecl, ast.UnitsDecl, ast.MeasureDecl),
                                 self.spec.statements):
                if decl.name is not None:
                    self._later.setdefault(decl.name.value, decl.name.span)
        declared = self._later.get(name.value)
        if declared is None or declared.start <= name.span.start:
            return False
        first = self._used_before_declared.setdefault(name.value, name.span.line)
        self.error("E201", f"`{name.value}` is declared on line {declared.line}, after its first use "
                   f"on line {first}", name.span,
                   help=f"a name is defined before it is used: move line {declared.line} above line {first}")
        return True

    # ---- statements ------------------------------------------------------------------------
    def _statement(self, statement, scope: Scope):
        self._current_scope = scope
        handler = getattr(self, f"_check_{type(statement).__name__}", None)
        return handler(statement, scope) if handler else statement

    def _check_ForBlock(self, block: ast.ForBlock, scope: Scope):
        if any(binder.variable.value == ast.BROKEN for binder in block.binders):
            self._in_broken_block += 1          # its header did not parse: check the body alone
            try:
                body = tuple(self._statement(s, Scope(scope)) for s in block.body)
            finally:
                self._in_broken_block -= 1
                self._current_scope = scope
            return dataclasses.replace(block, body=body)
        inner = Scope(scope)
        outer_factor = self.expansion
        for binder in block.binders:
            size = len(binder.domain.items) if isinstance(binder.domain, ast.ListValue) else CLASS_GUESS
            self.expansion *= max(size, 1)
        if self.expansion > max_plan() and outer_factor <= max_plan():
            self.error("E311", f"this `for each` expands to {self.expansion:,} bindings; abl plans at most "
                       f"{max_plan():,}", block.span,
                       help="sweep fewer values, or raise the limit with ABL_MAX_PLAN=N if you mean it")
        for binder in block.binders:
            kind = {"class": "class-var", "layer": "layer-var", None: "var"}[binder.kind]
            domain = binder.domain
            if domain is not None:
                if not isinstance(domain, ast.ListValue):
                    self.error("E306", "a `for each` ranges over a list `[...]`", domain.span)
                elif not domain.items:
                    self.error("E301", "the list to range over is empty", domain.span)
                elif binder.kind == "layer":
                    for item in domain.items:
                        self.layer_value(item, scope)
                elif binder.kind == "class":
                    for item in domain.items:
                        self.class_value(item, scope)
                else:
                    for item in domain.items:
                        if not isinstance(item, ast.SCALARS):
                            self.error("E306", "loop values are numbers, strings or names", item.span)
            elif binder.kind != "class":
                self.error("E313", f"`each {binder.kind + ' ' if binder.kind else ''}{binder.variable.value}` needs `in [...]`",
                           binder.span, help="only `each class c` may omit its list (all classes of the stimuli)")
            if inner.lookup(binder.variable.value) is not None and binder.variable.value in inner.symbols:
                self.error("E202", f"loop variable `{binder.variable.value}` is bound twice",
                           binder.variable.span)
            inner.symbols[binder.variable.value] = Symbol(kind, binder.variable.span)
        for statement in block.body:
            if isinstance(statement, (ast.Experiment, ast.Seed, ast.Device, ast.Precision, ast.Repeats, ast.Confidence,
                                      ast.Resamples)):
                self.error("E312", "header statements belong at the top level", statement.span,
                           help="move it out of the `for each` block")
        body = tuple(self._statement(s, inner) for s in block.body)
        self._current_scope = scope
        for name, symbol in inner.symbols.items():
            if symbol.kind in ("class-var", "layer-var", "var"):
                self.expired_variables.setdefault(name, symbol.span)
        self.loop_variables += [(name, symbol) for name, symbol in inner.symbols.items()
                                if symbol.kind in ("class-var", "layer-var", "var")]
        self.expansion = outer_factor
        return dataclasses.replace(block, body=body)

    def _check_StimuliDecl(self, decl: ast.StimuliDecl, scope: Scope):
        source = decl.source
        if isinstance(source, ast.Name):
            symbol = scope.lookup(source.value)
            if symbol is not None and symbol.kind == "stimuli":
                symbol.used = True
                if decl.path is not None:
                    self.error("E315", "a derived stimuli set takes no path", decl.path.span)
            elif source.value.startswith("$"):
                pass  # an unknown parameter, already reported (E204)
            elif source.value not in DATASETS:
                candidates = list(DATASETS) + [n for n, s in scope.visible().items() if s.kind == "stimuli"]
                self.error("E303", f"unknown dataset `{source.value}`", source.span,
                           help=did_you_mean(source.value, candidates) or f"datasets: {listing(DATASETS)}")
            elif source.value in ("cifar10", "imagefolder") and decl.path is None:
                self.error("E313", f"`{source.value}` needs the path of its folder", source.span,
                           help=f'{source.value} "/path/to/folder"')
        elif isinstance(source, ast.String):
            if source.value in DATASETS:
                source = ast.Name(source.value, source.span)
        else:
            self.error("E306", "a stimuli source is a dataset name, a stimuli name or a folder path",
                       source.span)
        seen: dict[str, Span] = {}
        self._declaring_stimuli = decl.name.value
        for option in decl.options:
            if option.key in seen:
                self.error("E202", f"option `{option.key}` is given twice", option.span)
            seen[option.key] = option.span
            self._stimuli_option(option, scope)
        self.define(scope, decl.name, "stimuli")
        return dataclasses.replace(decl, source=source)

    def _stimuli_option(self, option: ast.Option, scope: Scope) -> None:
        value = option.value
        if option.key == "split":
            if not (isinstance(value, ast.Name) and value.value in SPLITS):
                word = value.value if isinstance(value, (ast.Name, ast.String)) else "?"
                self.error("E307", f"unknown split `{word}`", value.span,
                           help=did_you_mean(str(word), SPLITS) or "use `split train` or `split test`")
        elif option.key == "preprocess":
            if not (isinstance(value, ast.Name) and value.value in PREPROCESSING):
                word = getattr(value, "value", "?")
                self.error("E307", f"unknown preprocessing `{word}`", value.span,
                           help=did_you_mean(str(word), PREPROCESSING) or f"use one of {listing(PREPROCESSING)}")
        elif option.key == "per class":
            self.int_value(value, "`per class`", minimum=1)
        elif option.key in ("noise", "blur"):
            self.number_value(value, f"the {option.key} severity", low=0.0)
            if option.extra is not None:
                self.seed_value(option.extra, f"the {option.key}'s seed")
        elif option.key == "holdout":
            fraction = self.number_value(value, "the held-out fraction", allow_variable=False)
            if fraction is not None and not 0.0 < fraction < 1.0:
                self.error("E301", f"a held-out fraction of {fraction:g} leaves one split empty", value.span,
                           help="use a fraction strictly between 0 and 1, e.g. `holdout 0.3` (30% held out)")
        elif option.key == "seed":
            self.seed_value(value)
        elif option.key == "classes":
            if not isinstance(value, ast.ListValue) or not value.items:
                self.error("E306", "`classes` takes a non-empty list, e.g. `classes [0, 1, 7]`",
                           value.span)
            else:
                for item in value.items:
                    self.class_value(item, scope)
                if len(value.items) == 1:
                    self.one_class_stimuli[self._declaring_stimuli] = self.source.text[
                        value.items[0].span.start:value.items[0].span.end]

    def _check_ModelDecl(self, decl: ast.ModelDecl, scope: Scope):
        expr = decl.expr
        if isinstance(expr, ast.ModelRef):
            expr = self._model_ref(expr, scope)
        if isinstance(expr, ast.TrainModel):
            self._train_model(expr, scope)
        elif isinstance(expr, ast.TorchvisionModel):
            self._weights(expr.weights)        # a name abl's table lacks: W505 (lint.py), `abl run` settles it
        elif isinstance(expr, ast.TimmModel):
            self._weights(expr.weights)
        elif isinstance(expr, ast.FileModel):
            if not isinstance(expr.path, ast.String):
                self.error("E306", "a model file is a path in double quotes", expr.path.span)
            self._factory_target(expr.arch_python)
        elif isinstance(expr, ast.FactoryModel):
            self._factory_target(expr.target)
            names = [name.value for name, _ in expr.kwargs]
            for name, value in expr.kwargs:
                if names.count(name.value) > 1:
                    self.error("E202", f"keyword `{name.value}` is given twice", name.span)
                if not isinstance(value, (ast.Number, ast.String, ast.Name)):
                    self.error("E306", "a keyword argument is a number, a word or a string in quotes", value.span)
        self.define(scope, decl.name, "model")
        return dataclasses.replace(decl, expr=expr)

    def _factory_target(self, target: ast.Value | None) -> None:
        if target is not None and (not isinstance(target, ast.String) or ":" not in target.value):
            self.error("E306", 'a Python factory is written "package.module:function"', target.span)

    def _weights(self, weights: ast.Value | None) -> None:
        if weights is not None and not isinstance(weights, (ast.Name, ast.String)):
            self.error("E306", "weights are `auto`, `none`, `imagenet` or a file path in quotes", weights.span)
        elif isinstance(weights, ast.Name) and weights.value not in ("auto", "none", "imagenet"):
            self.error("E307", f"unknown weights `{weights.value}`", weights.span,
                       help=did_you_mean(weights.value, ("auto", "none", "imagenet")) or
                       'use `auto`, `none`, `imagenet` or a path in quotes: weights "alexnet.pth"')

    def _model_ref(self, expr: ast.ModelRef, scope: Scope):
        value = expr.value
        if not isinstance(value, (ast.Name, ast.String)):
            self.error("E306", "a model is a declaration, a model name, or an architecture name",
                       value.span)
            return expr
        text = value.value
        symbol = scope.lookup(text)
        if symbol is not None and symbol.kind == "model":
            symbol.used = True
            self.model_aliases.add(text)
            return ast.ModelRef(ast.Name(text, value.span), expr.span)
        if text in TORCHVISION_ARCHITECTURES:
            return ast.TorchvisionModel(ast.Name(text, value.span), None, expr.span)
        if text.endswith((".pt", ".pth", ".ts")):
            return ast.FileModel(ast.String(text, value.span), None, expr.span)
        if ":" in text:
            return ast.FactoryModel(ast.String(text, value.span), expr.span)
        models = [n for n, s in scope.visible().items() if s.kind == "model"]
        self.error("E201", f"`{text}` is neither a defined model nor a known architecture",
                   value.span, help=did_you_mean(text, models + list(TORCHVISION_ARCHITECTURES))
                   or "define it with `model NAME = ...` or use a torchvision name like `alexnet`")
        return expr

    def _train_model(self, expr: ast.TrainModel, scope: Scope) -> None:
        if expr.arch.value not in BUILTIN_ARCHITECTURES:
            self.error("E305", f"unknown trainable architecture `{expr.arch.value}`", expr.arch.span,
                       help=did_you_mean(expr.arch.value, BUILTIN_ARCHITECTURES) or
                       "the spec can train `mlp [in, hidden..., out]` or `cnn`")
        if expr.widths is not None:
            if not isinstance(expr.widths, ast.ListValue) or not expr.widths.items:
                self.error("E306", "layer widths are a list of whole numbers", expr.widths.span)
            else:
                for item in expr.widths.items:
                    self.int_value(item, "a layer width", minimum=1)
                if expr.arch.value == "mlp" and len(expr.widths.items) < 2:
                    self.error("E301", "an mlp needs at least [inputs, outputs]", expr.widths.span)
        elif expr.arch.value == "mlp":
            self.error("E313", "`train mlp` needs its widths: `train mlp [64, 128, 64, 10] on ...`",
                       expr.arch.span)
        self.use(scope, expr.train_on, ("stimuli",), "stimuli")
        seen: set[str] = set()
        for option in expr.options:
            if option.key in seen:
                self.error("E202", f"option `{option.key}` is given twice", option.span)
            seen.add(option.key)
            if option.key == "epochs":
                self.int_value(option.value, "epochs", minimum=1)
            elif option.key == "lr":
                self.number_value(option.value, "the learning rate", low=0.0, allow_variable=True)
            elif option.key == "batch":
                self.int_value(option.value, "the batch size", minimum=1)
            elif option.key == "seed":
                self.seed_value(option.value)
            elif option.key == "replicates":
                count = self.int_value(option.value, "replicates", minimum=1)
                if count is not None and count > 100:
                    self.error("E301", f"{count} replicates train {count} models", option.value.span,
                               help="use at most 100 replicates")
            elif option.key == "regularize selectivity":
                self.number_value(option.value, "the regularisation strength")
                if option.extra is not None:
                    layers = option.extra.items if isinstance(option.extra, ast.ListValue) else (option.extra,)
                    for layer in layers:
                        self.layer_value(layer, scope)

"""Planning, by job: stimuli sets and models declared, with their options and replicates."""

from __future__ import annotations

import dataclasses

from abl.spec import resolved as r

from abl.interpreter.plan.specs import Corruption, ModelSpec, StimuliSpec
from abl.interpreter.plan.env import _Env


class DeclarationPlanning:
    """Part of the Planner (planner.py): shares its state."""

    # ---- stimuli and models ----------------------------------------------------------------
    def _spec_folder(self) -> str | None:
        """The folder of the spec file (a spec given as text has none): paths and Python modules
        are looked up there first."""
        from pathlib import Path

        path = Path(str(self.program.source.path))
        return str(path.resolve().parent) if path.is_file() else None

    def _stimuli(self, decl: r.StimuliDecl, env: _Env) -> None:
        key = decl.name + env.suffix()
        self.declared[key] = decl.name
        source = decl.source
        if isinstance(source, r.Derived):
            spec = dataclasses.replace(self.stimuli[env.stimuli[source.stimuli]], name=key)
        elif isinstance(source, r.Dataset):
            spec = StimuliSpec(key, source.name, path=source.path, seed=self.program.header.seed)
        else:
            spec = StimuliSpec(key, "imagefolder", path=source.path, seed=self.program.header.seed)
        for option in decl.options:
            spec = self._stimuli_option(spec, option, env)
        env.stimuli_labels[decl.name] = key
        for existing_key, existing in self.stimuli.items():
            # the same images under another loop binding: load them once
            if self.declared[existing_key] == decl.name and \
                    dataclasses.replace(existing, name=key) == spec:
                env.stimuli[decl.name] = existing_key
                return
        self.stimuli[key] = dataclasses.replace(spec, span=decl.span)
        env.stimuli[decl.name] = key

    def _stimuli_option(self, spec: StimuliSpec, option: r.Option, env: _Env) -> StimuliSpec:
        value = option.value
        if option.key == "split":
            return dataclasses.replace(spec, split=value.value)
        if option.key == "holdout":
            return dataclasses.replace(spec, test_fraction=float(value.value))
        if option.key == "per class":
            return dataclasses.replace(spec, per_class=int(self._number(value, env)))
        if option.key == "preprocess":
            return dataclasses.replace(spec, preprocess=value.value)
        if option.key in ("noise", "blur"):
            seed = self.program.header.seed if option.extra is None else int(self._number(option.extra, env))
            step = Corruption(option.key, float(self._number(value, env)), seed)
            return dataclasses.replace(spec, corruptions=spec.corruptions + (step,))
        if option.key == "seed":
            return dataclasses.replace(spec, seed=int(self._number(value, env)))
        if option.key == "classes":
            classes = []
            for item in value:
                if isinstance(item, r.Var) or item.bare:
                    classes.append(self._binding(item, env))
                elif isinstance(item.value, (int, float)):
                    classes.append(int(item.value))
                else:
                    classes.append(item.value)
            return dataclasses.replace(spec, classes=tuple(classes))
        return spec

    def _model(self, decl: r.ModelDecl, env: _Env) -> None:
        expr = decl.expr
        if isinstance(expr, r.ModelRef):
            env.models[decl.name] = env.models[expr.name]
            return
        key = decl.name + env.suffix()
        self.declared[key] = decl.name
        seed = self.program.header.seed
        if isinstance(expr, r.TrainModel):
            fields: dict = {}
            replicates = 0
            for option in expr.options:
                if option.key == "epochs":
                    fields["epochs"] = int(self._number(option.value, env))
                elif option.key == "lr":
                    fields["lr"] = float(self._number(option.value, env))
                elif option.key == "batch":
                    fields["batch_size"] = int(self._number(option.value, env))
                elif option.key == "seed":
                    fields["seed"] = int(self._number(option.value, env))
                elif option.key == "replicates":
                    replicates = int(self._number(option.value, env))
                elif option.key == "regularize selectivity":
                    fields["regularize"] = float(self._number(option.value, env))
                    if option.extra is not None:
                        items = option.extra if isinstance(option.extra, tuple) else (option.extra,)
                        fields["regularize_layers"] = tuple(self._layer(i, env) for i in items)
            widths = tuple(int(i.value) for i in expr.widths)
            spec = ModelSpec(key, "train", arch=expr.arch, widths=widths,
                             train_on=env.stimuli[expr.train_on], seed=fields.pop("seed", seed),
                             **fields)
            if replicates:
                # `replicates N`: N models trained with seeds s, s+1, ...; measurements of the
                # name range over them (the `seed` dimension)
                members = []
                for offset in range(replicates):
                    member_seed = spec.seed + offset
                    member = (key[:-1] + f",seed={member_seed}]") if key.endswith("]") else \
                        f"{key}[seed={member_seed}]"
                    self.declared[member] = decl.name
                    self.models[member] = dataclasses.replace(spec, name=member, seed=member_seed,
                                                              span=decl.span)
                    members.append((member, member_seed))
                self.replicas[key] = tuple(members)
                env.models[decl.name] = key
                return
        elif isinstance(expr, r.TorchvisionModel):
            spec = ModelSpec(key, "torchvision", arch=expr.arch, weights="auto" if expr.weights is None else expr.weights,
                             seed=seed)
        elif isinstance(expr, r.TimmModel):
            spec = ModelSpec(key, "timm", arch=expr.arch, weights="auto" if expr.weights is None else expr.weights,
                             seed=seed)
        elif isinstance(expr, r.FileModel):
            spec = ModelSpec(key, "file", arch=expr.arch, path=expr.path, seed=seed, factory=expr.arch_python,
                             folder=self._spec_folder())
        else:
            spec = ModelSpec(key, "factory", path=expr.target, seed=seed, kwargs=expr.kwargs,
                             folder=self._spec_folder())
        self.models[key] = dataclasses.replace(spec, span=decl.span)
        env.models[decl.name] = key

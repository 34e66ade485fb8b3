"""One side of a claim, read off the results table: the rows its query matches, as a family of
members keyed by the dimensions the claim keeps, each averaged over the dimensions it averages
(with its images' values when they share images, and its replicate seeds' values)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

from abl.spec.families import ordered, same_value

from abl.interpreter.errors import RunError
from abl.interpreter.plan.plan import ExpectItem, ResultQuery
from abl.interpreter.run.table import ResultRow, ResultsTable, intervention_text

ClassNames = Callable[[str], Sequence[str]]     # stimuli key -> its class names


@dataclass(frozen=True)
class ImageValues:
    """A row's per-image values: their mean is the row's value."""
    stimuli: str
    positions: np.ndarray
    values: np.ndarray


_COLUMNS = frozenset(("class", "layer", "model", "units", "fit_on", "intervention", "row", "col"))


def row_dims(row: ResultRow) -> dict[str, str]:
    """The dimensions a claim can select, average or quantify over."""
    dims = {"class": row.cls, "layer": row.layer, "model": row.model, "units": row.units,
            "fit_on": row.fit_on, "intervention": intervention_text(row.intervention)}
    if row.cell is not None:
        dims["row"], dims["col"] = str(row.cell.row), str(row.cell.col)
    dims.update(row.dims)
    return dims


@dataclass
class Member:
    """One value of a side after averaging: with its images' values when they share images, and
    its per-seed values when it averages replicate models."""
    value: float
    images: ImageValues | None = None
    seeds: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SideReader:
    table: ResultsTable
    class_names: ClassNames
    per_image: Mapping[tuple, ImageValues]



def _rows(query: ResultQuery, reader: SideReader, baseline: bool,
          family: set[str]) -> list[tuple[ResultRow, dict[str, str]]]:
    """The rows a side reads, each with its `row_dims` (computed once)."""
    ids = query.baseline_measurements if baseline else query.measurements
    among = dict(query.among)
    rows = [r for r in reader.table.of_measurements(ids) if query.layer is None or r.layer == query.layer]
    pairs = [(r, row_dims(r)) for r in rows]
    if not any(k == "vs class" for k, _ in query.dims):     # an off-target claim's own rows (plan/claims.py)
        pairs = [(r, dims) for r, dims in pairs if "vs class" not in dims]
    pairs = [(r, dims) for r, dims in pairs
             if all(same_value(dims.get(k, ""), v) for k, v in query.dims)
             and all(any(same_value(dims.get(k, ""), v) for v in values) for k, values in among.items())]
    context = dict(query.context)
    if query.cls is not None:
        label = reader.class_names(query.stimuli)[query.cls]
        pairs = [(r, d) for r, d in pairs if r.cls == label]
    elif "class" in family or "class" in among:
        pairs = [(r, d) for r, d in pairs if r.cls != ""]
    elif "class" in context and any(r.cls == context["class"] for r, _ in pairs):
        pairs = [(r, d) for r, d in pairs if r.cls == context["class"]]
    elif any(r.cls == "" for r, _ in pairs):
        # the all-images value of a `per class` measurement; per-class values are selected by name
        pairs = [(r, d) for r, d in pairs if r.cls == ""]
    if "layer" in context and query.layer is None and any(r.layer == context["layer"] for r, _ in pairs):
        pairs = [(r, d) for r, d in pairs if r.layer == context["layer"]]
    if not pairs:
        raise RunError(f"no measured value matches `{query.text}`",
                       help="measure it with a `measure` statement (check the selectors and stimuli)")
    return pairs


def read_side(query: ResultQuery, reader: SideReader, item: ExpectItem, baseline: bool = False,
              by_repeat: bool = False) -> dict[tuple, dict[int, Member]]:
    """{member key (the kept dimensions' values): {draw: member}} of one side of a claim."""
    family = item.family
    kept = tuple(family.quantify) + tuple(k for k, _ in family.at)
    averaged = set(family.average) | {k for k, _ in query.among}
    pairs = _rows(query, reader, baseline, set(kept) | averaged)
    values = defaultdict(set)
    for _, dims in pairs:
        for key, value in dims.items():
            values[key].add(value)
    varying = {k for k, v in values.items() if len(v) > 1}
    if "seed" in varying:
        averaged |= {"seed", "model"}
    # a loop binding that follows from a column (`for each class c`'s `c`, from `class`) is
    # kept or averaged with it, and named only through it
    columns = {k for k in varying if k in _COLUMNS}
    unexplained = sorted(k for k in varying - averaged - set(kept)
                         if not any(_determined(pairs, k, by) for by in (averaged | set(kept)) & varying)
                         and not (k not in _COLUMNS and any(_determined(pairs, k, by) for by in columns)))
    if unexplained:
        shown = "; ".join(f"{k} ({', '.join(ordered(values[k])[:4])}{', ...' if len(values[k]) > 4 else ''})"
                          for k in unexplained)
        first = unexplained[0]
        raise RunError(f"`{query.text}` matches several measured values: they differ in {shown}",
                       help=f"select one (`[{first} = ...]`), average them (`averaged over {first}`) "
                            f"or quantify (`in every {first}`)")
    groups: dict[tuple, dict[int, list[ResultRow]]] = defaultdict(lambda: defaultdict(list))
    for row, dims in pairs:
        groups[tuple((k, dims.get(k, "")) for k in kept)][row.repeat if by_repeat else 0].append(row)
    out: dict[tuple, dict[int, Member]] = {}
    for key, draws in groups.items():
        out[key] = {draw: average(members, reader) for draw, members in draws.items()}
    return out


def _determined(pairs: list[tuple[ResultRow, dict[str, str]]], key: str, by: str) -> bool:
    """Whether `key`'s value follows from `by`'s (a `for each class c` loop's `c` and the rows'
    class): keeping or averaging `by` then keeps or averages `key` too."""
    seen: dict[str, str] = {}
    return all(seen.setdefault(dims.get(by, ""), dims.get(key, "")) == dims.get(key, "") for _, dims in pairs)


def average(rows: list[ResultRow], reader: SideReader) -> Member:
    value = float(np.mean([r.value for r in rows]))
    images = [reader.per_image.get(r.key) for r in rows]
    shared = None
    if all(i is not None for i in images) and \
            all(i.stimuli == images[0].stimuli and np.array_equal(i.positions, images[0].positions)
                for i in images):
        shared = ImageValues(images[0].stimuli, images[0].positions,
                             np.mean([i.values for i in images], axis=0))
    seeds: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        seed = row.dim("seed")
        if seed:
            seeds[seed].append(row.value)
    return Member(value, shared, {s: float(np.mean(v)) for s, v in sorted(seeds.items())}
                   if len(seeds) > 1 else {})


def single(side: dict[tuple, dict[int, Member]]) -> Member:
    (draws,) = side.values()
    if len(draws) == 1:
        return next(iter(draws.values()))
    return Member(float(np.mean([m.value for m in draws.values()])))


def drop(after: Member, base: Member) -> Member:
    images = None
    if after.images is not None and base.images is not None and \
            np.array_equal(after.images.positions, base.images.positions):
        images = ImageValues(after.images.stimuli, after.images.positions,
                             base.images.values - after.images.values)
    seeds = {s: base.seeds[s] - v for s, v in after.seeds.items() if s in base.seeds}
    return Member(base.value - after.value, images, seeds if len(seeds) > 1 else {})


def resolve(query: ResultQuery, reader: SideReader, item: ExpectItem, by_repeat: bool = False):
    """A side's members; a `drop of` side: baseline minus value, member by member."""
    side = read_side(query, reader, item, by_repeat=by_repeat)
    if not query.drop:
        return side
    base = read_side(query, reader, item, baseline=True)
    out = {}
    for key, draws in side.items():
        base_member = single({key: base[key]}) if key in base else single(base)
        out[key] = {draw: drop(member, base_member) for draw, member in draws.items()}
    return out


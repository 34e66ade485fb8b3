"""Pre-registration: what a lock file (`SPEC.lock.json`, written by `abl lock SPEC`) records of a
spec's claims, and how a spec compares with its lock.

Everything here is read off the spec as written (the canonical text of `abl fmt`), so a lock is
the same on every machine: each claim's canonical text, and for each claim the declarations it
depends on — the stimuli, unit sets and parameters it names, every model, and those they name
in turn — with their canonical text. Parameter values after `--set` and the seed are recorded too; the
interpreter adds the time, planned sample sizes and whether results already existed
(interpreter/cli/lock.py). Format: docs/language.md, "Pre-registration".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from . import ast
from .unparse import statement_text
from .visit import nodes_of

LOCK_FORMAT = 1
LOCK_SUFFIX = ".lock.json"
_DECLS = (ast.Param, ast.StimuliDecl, ast.ModelDecl, ast.UnitsDecl)


def lock_path(spec_path: str | Path) -> Path:
    """The lock file beside a spec: `digit7.abl` -> `digit7.abl.lock.json`."""
    return Path(str(spec_path) + LOCK_SUFFIX)


def _words(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z_]\w*", text))


def declarations(statements) -> dict[str, str]:
    """Every named declaration's canonical text (parameters as `$name`), the last one per name."""
    found = {}
    for decl in sorted((n for kind in _DECLS for n in nodes_of(kind, statements)), key=lambda n: n.span.start):
        name = decl.name.value
        found["$" + name if isinstance(decl, ast.Param) else name] = statement_text(decl)
    return found


def _depends(text: str, declared: dict[str, str]) -> dict[str, str]:
    """The declarations a text names, and those they name, transitively."""
    seen: dict[str, str] = {}
    todo = [text]
    while todo:
        words = _words(todo.pop())
        for name in sorted(words):
            for key in (name, "$" + name):
                if key in declared and key not in seen:
                    seen[key] = declared[key]
                    todo.append(declared[key].split("=", 1)[-1])
    return dict(sorted(seen.items()))


def claims(statements, default_repeats: int | None = None) -> list[dict]:
    """Each claim in order: its number, canonical text, line, significance, the declarations it
    depends on, and its control draws when it compares with random units."""
    declared = declarations(statements)
    # every claim reads the networks, named or not (`in fc2` is a layer of the spec's model)
    models = " ".join(decl.name.value for decl in nodes_of(ast.ModelDecl, statements))
    records = []
    for number, decl in enumerate(nodes_of(ast.ExpectDecl, statements), start=1):
        text = statement_text(decl)
        depends = _depends(text + " " + models, declared)
        options = {o.key: o.value for o in decl.options}
        significance = options.get("significance")
        record = {"claim": number, "text": text, "line": decl.span.line,
                  "significance": float(significance.value) if isinstance(significance, ast.Number) else 0.05,
                  "depends": depends}
        random_units = any(t.startswith("units ") and " = random " in t for t in depends.values())
        if random_units:
            repeats = options.get("repeats")
            record["control_draws"] = int(repeats.value) if isinstance(repeats, ast.Number) else default_repeats
        records.append(record)
    return records


def read_lock(path: str | Path) -> dict | None:
    """A lock file's content; None when there is none. A file that is not a lock raises ValueError."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is not a lock file: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("claims"), list):
        raise ValueError(f"{path} is not a lock file: it has no `claims` list")
    return data


@dataclass(frozen=True)
class ClaimStatus:
    claim: int                       # the current claim's number (0: a locked claim now gone)
    text: str
    status: str                      # "pre-registered" | "changed" | "new" | "dropped"
    differences: tuple[str, ...] = ()
    line: int = 0

    def as_record(self) -> dict:
        return {"status": self.status, **({"differences": list(self.differences)} if self.differences else {})}


def compare(lock: dict, current: list[dict], seed: int | None = None,
            params: dict[str, object] | None = None) -> list[ClaimStatus]:
    """Each current claim against the lock: the same canonical text with the same declarations
    (and parameter values and seed, where given) is pre-registered; a claim whose text matches no
    locked claim is paired, in order, with a locked claim left unmatched (changed) or is new.
    Locked claims that no current claim pairs with come last, as dropped."""
    locked = list(lock.get("claims", []))
    unmatched = list(range(len(locked)))
    pairs: dict[int, int | None] = {}
    for i, claim in enumerate(current):
        match = next((j for j in unmatched if locked[j].get("text") == claim["text"]), None)
        if match is not None:
            unmatched.remove(match)
        pairs[i] = match
    for i in pairs:
        if pairs[i] is None and unmatched:
            pairs[i] = unmatched.pop(0)
    general = []
    if seed is not None and "seed" in lock and lock["seed"] != seed:
        general.append(f"seed {lock['seed']} -> {seed}")
    statuses = []
    for i, claim in enumerate(current):
        j = pairs[i]
        if j is None:
            statuses.append(ClaimStatus(claim["claim"], claim["text"], "new", line=claim["line"]))
            continue
        old = locked[j]
        differences = []
        if old.get("text") != claim["text"]:
            differences.append(f"claim was `{old.get('text')}`, now `{claim['text']}`")
        before, after = old.get("depends", {}), claim["depends"]
        for name in sorted(set(before) | set(after)):
            if before.get(name) != after.get(name):
                differences.append(f"`{before.get(name) or '(none)'}` -> `{after.get(name) or '(none)'}`")
        if params is not None:
            for name in sorted({k[1:] for k in after if k.startswith("$")}):
                was = lock.get("params", {}).get(name)
                if name in lock.get("params", {}) and was != params.get(name):
                    differences.append(f"param {name} = {was!r} -> {params.get(name)!r}")
        differences += general
        statuses.append(ClaimStatus(claim["claim"], claim["text"], "changed" if differences else "pre-registered",
                                    tuple(differences), claim["line"]))
    for j in unmatched:
        statuses.append(ClaimStatus(0, locked[j].get("text", ""), "dropped"))
    return statuses

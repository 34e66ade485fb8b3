"""Lint settings the way ruff users expect them: `[tool.abl]` in the nearest `pyproject.toml`
(found by walking up from the spec's folder), `--select`/`--ignore` by code or prefix (flags
override the file), and suppression comments in the spec:

    units u = all in fc2      # abl: ignore[W501]      this line, these codes
    # abl: ignore-file[W502]                             the whole file, these codes
    # abl: ignore-file                                   the whole file, every code

A bare `# abl: ignore` suppresses every code on its line.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from .codes import CODES
from .diagnostics import Diagnostic
from .errors import AblError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

_SUPPRESS = re.compile(r"#\s*abl:\s*(ignore-file|ignore)\b(?:\[([A-Za-z0-9_,\s]*)\])?")
KEYS = ("select", "ignore", "output-format", "exit-zero")


class SettingsError(AblError):
    """A `[tool.abl]` table that cannot be used: the file and what is wrong."""


@dataclass(frozen=True)
class LintSettings:
    select: tuple[str, ...] = ()          # empty: every code
    ignore: tuple[str, ...] = ()
    output_format: str | None = None
    exit_zero: bool = False
    source: str | None = None             # the pyproject.toml they came from

    def wants(self, code: str) -> bool:
        selected = not self.select or any(code.startswith(prefix) for prefix in self.select)
        return selected and not any(code.startswith(prefix) for prefix in self.ignore)

    def overridden(self, select: Sequence[str] | None, ignore: Sequence[str] | None,
                   exit_zero: bool) -> "LintSettings":
        """Flags win over the file: `--select` replaces its select; `--ignore` adds to its ignore."""
        return LintSettings(tuple(select) if select else self.select,
                            self.ignore + tuple(ignore or ()), self.output_format,
                            exit_zero or self.exit_zero, self.source)


def parse_codes(values: Iterable[str], where: str) -> tuple[str, ...]:
    """`E,W501` or a list of them -> prefixes, each a prefix of some known code."""
    prefixes: list[str] = []
    for value in values:
        for part in str(value).split(","):
            prefix = part.strip().upper()
            if not prefix:
                continue
            if prefix != "ALL" and not any(code.startswith(prefix) for code in CODES):
                raise SettingsError(f"{where}: `{part.strip()}` is not a code or a prefix of one "
                                    f"(codes run {min(CODES)} .. {max(CODES)})")
            prefixes.append("" if prefix == "ALL" else prefix)
    return tuple(prefixes)


def find_settings(start: Path, cache: dict | None = None) -> LintSettings:
    """The `[tool.abl]` table of the nearest pyproject.toml at or above `start` that has one."""
    folder = start if start.is_dir() else start.parent
    for candidate in [folder.resolve(), *folder.resolve().parents]:
        if cache is not None and candidate in cache:
            return cache[candidate]
        pyproject = candidate / "pyproject.toml"
        if pyproject.is_file():
            settings = _read(pyproject)
            if settings is not None:
                if cache is not None:
                    cache[candidate] = settings
                return settings
    return LintSettings()


def _read(pyproject: Path) -> LintSettings | None:
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise SettingsError(f"{pyproject}: cannot read it ({error})") from None
    table = data.get("tool", {}).get("abl")
    if table is None:
        return None
    if not isinstance(table, dict):
        raise SettingsError(f"{pyproject}: [tool.abl] must be a table")
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise SettingsError(f"{pyproject}: [tool.abl] has unknown key(s) {', '.join(unknown)} "
                            f"(known: {', '.join(KEYS)})")
    where = f"{pyproject} [tool.abl]"
    select = parse_codes(_strings(table.get("select", []), f"{where} select"), f"{where} select")
    ignore = parse_codes(_strings(table.get("ignore", []), f"{where} ignore"), f"{where} ignore")
    output_format = table.get("output-format")
    if output_format is not None and output_format not in ("text", "json", "github", "sarif"):
        raise SettingsError(f"{where}: output-format is text, json, github or sarif, not {output_format!r}")
    exit_zero = table.get("exit-zero", False)
    if not isinstance(exit_zero, bool):
        raise SettingsError(f"{where}: exit-zero is true or false")
    return LintSettings(select, ignore, output_format, exit_zero, str(pyproject))


def _strings(value, where: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise SettingsError(f"{where}: a list of codes such as [\"E\", \"W501\"]")


@dataclass
class Suppressions:
    """The suppression comments of one spec."""
    file_codes: set[str] = field(default_factory=set)
    file_all: bool = False
    lines: dict[int, set[str] | None] = field(default_factory=dict)   # None: every code

    def hides(self, diagnostic: Diagnostic) -> bool:
        if self.file_all or any(diagnostic.code.startswith(c) for c in self.file_codes):
            return True
        if diagnostic.span.line in self.lines:
            codes = self.lines[diagnostic.span.line]
            return codes is None or any(diagnostic.code.startswith(c) for c in codes)
        return False


def suppressions(text: str) -> Suppressions:
    found = Suppressions()
    for number, line in enumerate(text.splitlines(), start=1):
        if "#" not in line or "abl:" not in line:
            continue
        for match in _SUPPRESS.finditer(line):
            kind, codes = match.group(1), match.group(2)
            listed = {c.strip().upper() for c in codes.split(",") if c.strip()} if codes else None
            if kind == "ignore-file":
                if listed is None:
                    found.file_all = True
                else:
                    found.file_codes |= listed
            else:
                previous = found.lines.get(number, set())
                found.lines[number] = None if listed is None or previous is None else previous | listed
    return found


def apply(diagnostics: Iterable[Diagnostic], settings: LintSettings, text: str | None) -> list[Diagnostic]:
    """The diagnostics the settings select and the spec's comments do not suppress."""
    hidden = suppressions(text) if text is not None else Suppressions()
    return [d for d in diagnostics if settings.wants(d.code) and not hidden.hides(d)]

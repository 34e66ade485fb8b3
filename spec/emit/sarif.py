"""Diagnostics as SARIF 2.1.0, the format GitHub code scanning uploads.

One rule per code in `spec.codes.CODES` (so a results page can explain any code), one result per
diagnostic. Columns count Unicode code points (declared with `columnKind`), 1-based, and
`endColumn` is exclusive as SARIF requires.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterable
from urllib.parse import quote

from ..codes import CODES, Code
from ..diagnostics import Diagnostic, Severity
from ._paths import relative_path

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def _rule(code: Code) -> dict[str, object]:
    level = "error" if code.severity is Severity.ERROR else "warning"
    help_text = (f"{code.explanation}\n\nExample:\n{code.example}\n\nFix:\n{code.fix}\n\n"
                 f"Run `abl explain {code.code}` for more.")
    help_markdown = (f"{code.explanation}\n\n**Example**\n\n```\n{code.example}\n```\n\n"
                     f"**Fix**\n\n```\n{code.fix}\n```\n\nRun `abl explain {code.code}` for more.")
    return {
        "id": code.code,
        "name": _pascal(code.name),
        "shortDescription": {"text": code.summary},
        "fullDescription": {"text": code.explanation},
        "help": {"text": help_text, "markdown": help_markdown},
        "defaultConfiguration": {"level": level},
        "properties": {"tags": [code.name]},
    }


def _pascal(name: str) -> str:
    # SARIF recommends rule names be identifiers; "unknown-metric" -> "UnknownMetric".
    return "".join(part.capitalize() for part in name.split("-"))


def _fingerprint(diagnostic: Diagnostic, uri: str) -> str:
    key = "\0".join([diagnostic.code, uri, diagnostic.source_line.strip(), diagnostic.message])
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def _artifact(path: str) -> dict[str, str]:
    """A spec under the working directory: its relative URI under `%SRCROOT%`; anywhere else: an
    absolute `file://` URI with no base (a base must not be combined with an absolute URI)."""
    relative = relative_path(path)
    if relative.startswith("<") or not Path(relative).is_absolute():
        return {"uri": quote(relative), "uriBaseId": "%SRCROOT%"}
    return {"uri": Path(relative).resolve().as_uri()}


def _result(diagnostic: Diagnostic, rule_index: int) -> dict[str, object]:
    span = diagnostic.span
    artifact = _artifact(diagnostic.path)
    uri = artifact["uri"]
    end_line = max(span.end_line, span.line)
    end_column = span.end_column
    if end_line == span.line and end_column <= span.column:
        end_column = span.column + 1          # an empty span: mark the character it points at
    text = diagnostic.message if not diagnostic.help else f"{diagnostic.message}\nhelp: {diagnostic.help}"
    region: dict[str, object] = {"startLine": span.line, "startColumn": span.column,
                                 "endLine": end_line, "endColumn": end_column}
    if diagnostic.source_line:
        region["snippet"] = {"text": diagnostic.source_line}
    return {
        "ruleId": diagnostic.code,
        "ruleIndex": rule_index,
        "level": "error" if diagnostic.severity is Severity.ERROR else "warning",
        "message": {"text": text},
        "locations": [{
            "physicalLocation": {
                "artifactLocation": artifact,
                "region": region,
            }
        }],
        "partialFingerprints": {"ablDiagnostic/v1": _fingerprint(diagnostic, uri)},
    }


def sarif_log(diagnostics: Iterable[Diagnostic], tool_version: str) -> dict[str, object]:
    diagnostics = list(diagnostics)
    rules = [_rule(code) for code in CODES.values()]
    index = {code: i for i, code in enumerate(CODES)}
    for diagnostic in diagnostics:                 # a code missing from CODES still gets a rule
        if diagnostic.code not in index:
            index[diagnostic.code] = len(rules)
            rules.append({"id": diagnostic.code, "shortDescription": {"text": diagnostic.code},
                          "defaultConfiguration": {"level": "error" if diagnostic.is_error else "warning"}})
    driver: dict[str, object] = {"name": "abl", "version": tool_version, "rules": rules}
    if tool_version and tool_version[0].isdigit():
        driver["semanticVersion"] = tool_version
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": driver},
            "columnKind": "unicodeCodePoints",
            "originalUriBaseIds": {"%SRCROOT%": {"description": {"text": "the repository root"}}},
            "results": [_result(d, index[d.code]) for d in diagnostics],
        }],
    }


def render_sarif(diagnostics: Iterable[Diagnostic], tool_version: str) -> str:
    return json.dumps(sarif_log(diagnostics, tool_version), indent=2, ensure_ascii=False)

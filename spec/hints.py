"""Hints for syntax errors that need the text around the token (parser.py reports them)."""

from __future__ import annotations


def _operator_hint(token, expected: set[str], text: str) -> str | None:
    """`=>` and `=<` (written the other way round) and `=` where a comparison fits."""
    if "COMPARE" not in expected or str(token) not in ("=", ">", "<") or token.start_pos is None:
        return None
    written = text[token.start_pos:token.start_pos + 2]
    meant = {"=>": ">=", "=<": "<=", "><": "!="}.get(written, "==" if str(token) == "=" else None)
    return f"did you mean `{meant}`?" if meant else None

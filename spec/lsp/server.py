"""`abl lsp`: the language server over stdio (pygls). This module alone speaks the protocol; the
analysis modules beside it return frozen dataclasses that are converted here.

Robustness: every request and notification is handled inside `_guarded`, which logs whatever goes
wrong to stderr and answers "nothing" instead of dying; a text too large to be a spec gets one
notice instead of a parse. Changes are debounced: diagnostics follow the last of a burst of edits.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import sys
from dataclasses import dataclass

from lsprotocol import types as lsp

try:
    from pygls.lsp.server import LanguageServer
except ImportError:          # pragma: no cover - pygls 1.x
    from pygls.server import LanguageServer
from pygls import uris

from ..diagnostics import Diagnostic
from ..fmt import format_text
from ..severity import Severity
from .actions import quick_fixes
from .complete import complete
from .document import Analysis, analyse, settings_for
from .hover import hover
from .positions import Position, Range, offset_of, range_of, utf16_length
from .symbols import declaration_of, mentions, word_at

# a burst of edits gets one analysis, this long after its last change (ABL_LSP_DEBOUNCE_MS overrides)
DEBOUNCE_S = float(os.environ.get("ABL_LSP_DEBOUNCE_MS", "50")) / 1000
SERVER_INFO_COMMAND = "abl.serverInfo"
log = logging.getLogger("abl.lsp")

_SEVERITY = {Severity.ERROR: lsp.DiagnosticSeverity.Error, Severity.WARNING: lsp.DiagnosticSeverity.Warning}
_COMPLETION_KIND = {"keyword": lsp.CompletionItemKind.Keyword, "name": lsp.CompletionItemKind.Variable,
                    "measure": lsp.CompletionItemKind.Function, "metric": lsp.CompletionItemKind.Function,
                    "layer": lsp.CompletionItemKind.Field, "param": lsp.CompletionItemKind.Constant,
                    "value": lsp.CompletionItemKind.Value}


@dataclass(frozen=True)
class Cached:
    text: str
    analysis: Analysis


class AblLanguageServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("abl-lsp", "0.1.0")
        self.analyses: dict[str, Cached] = {}
        self.generations: dict[str, int] = {}
        self.settings_cache: dict = {}

    def analysis(self, uri: str) -> Analysis:
        text = self.workspace.get_text_document(uri).source
        cached = self.analyses.get(uri)
        if cached is None or cached.text != text:
            path = _fs_path(uri)
            settings, problem = settings_for(path, self.settings_cache)
            if problem:
                log.warning("%s", problem)
            cached = Cached(text, analyse(text, path or uri, settings, problem))
            self.analyses[uri] = cached
        return cached.analysis

    def publish(self, uri: str) -> None:
        analysis = self.analysis(uri)
        items = [to_lsp_diagnostic(analysis, d) for d in analysis.diagnostics]
        if analysis.too_large:
            items = [lsp.Diagnostic(range=_lsp_range(range_of(analysis.source, analysis.source.span(0, 0))),
                                    message="this file is too large to be analysed as a spec",
                                    severity=lsp.DiagnosticSeverity.Information, source="abl")]
        params = lsp.PublishDiagnosticsParams(uri=uri, diagnostics=items)
        if hasattr(self, "text_document_publish_diagnostics"):
            self.text_document_publish_diagnostics(params)
        else:                # pragma: no cover - pygls 1.x
            self.publish_diagnostics(uri, items)


def _fs_path(uri: str) -> str | None:
    return uris.to_fs_path(uri) if uri.startswith("file:") else None


def _lsp_range(found: Range) -> lsp.Range:
    return lsp.Range(start=lsp.Position(line=found.start.line, character=found.start.character),
                     end=lsp.Position(line=found.end.line, character=found.end.character))


def to_lsp_diagnostic(analysis: Analysis, diagnostic: Diagnostic) -> lsp.Diagnostic:
    return lsp.Diagnostic(range=_lsp_range(range_of(analysis.source, diagnostic.span)),
                          message=diagnostic.message, severity=_SEVERITY[diagnostic.severity],
                          code=diagnostic.code, source="abl",
                          data={"help": diagnostic.help} if diagnostic.help else None)


def _offset(analysis: Analysis, position: lsp.Position) -> int:
    return offset_of(analysis.source, Position(position.line, position.character))


def _guarded(handler):
    """Log every failure of a handler and answer None: the server outlives any input."""
    if asyncio.iscoroutinefunction(handler):
        @functools.wraps(handler)
        async def run_async(*args):
            try:
                return await handler(*args)
            except Exception:  # noqa: BLE001 - the server must survive anything
                log.exception("abl lsp: %s failed", handler.__name__)
                return None
        return run_async

    @functools.wraps(handler)
    def run(*args):
        try:
            return handler(*args)
        except Exception:  # noqa: BLE001
            log.exception("abl lsp: %s failed", handler.__name__)
            return None
    return run


server = AblLanguageServer()


@server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
@_guarded
def did_open(ls: AblLanguageServer, params: lsp.DidOpenTextDocumentParams) -> None:
    ls.generations[params.text_document.uri] = 0
    ls.publish(params.text_document.uri)


@server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
@_guarded
async def did_change(ls: AblLanguageServer, params: lsp.DidChangeTextDocumentParams) -> None:
    uri = params.text_document.uri
    generation = ls.generations.get(uri, 0) + 1
    ls.generations[uri] = generation
    await asyncio.sleep(DEBOUNCE_S)
    if ls.generations.get(uri) == generation:       # the last change of a burst
        ls.publish(uri)


@server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
@_guarded
def did_close(ls: AblLanguageServer, params: lsp.DidCloseTextDocumentParams) -> None:
    uri = params.text_document.uri
    ls.analyses.pop(uri, None)
    ls.generations.pop(uri, None)
    params = lsp.PublishDiagnosticsParams(uri=uri, diagnostics=[])
    if hasattr(ls, "text_document_publish_diagnostics"):
        ls.text_document_publish_diagnostics(params)


@server.feature(lsp.TEXT_DOCUMENT_HOVER)
@_guarded
def on_hover(ls: AblLanguageServer, params: lsp.HoverParams) -> lsp.Hover | None:
    analysis = ls.analysis(params.text_document.uri)
    found = hover(analysis, _offset(analysis, params.position))
    if found is None:
        return None
    return lsp.Hover(contents=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=found.markdown),
                     range=_lsp_range(range_of(analysis.source, found.span)))


@server.feature(lsp.TEXT_DOCUMENT_COMPLETION, lsp.CompletionOptions(trigger_characters=["$", " "]))
@_guarded
def on_completion(ls: AblLanguageServer, params: lsp.CompletionParams) -> lsp.CompletionList:
    analysis = ls.analysis(params.text_document.uri)
    found = complete(analysis, _offset(analysis, params.position))
    replace = _lsp_range(range_of(analysis.source, found.replace))
    items = [lsp.CompletionItem(label=c.label, kind=_COMPLETION_KIND[c.kind], detail=c.detail,
                                sort_text=f"{index:04d}", text_edit=lsp.TextEdit(range=replace, new_text=c.label))
             for index, c in enumerate(found.candidates)]
    return lsp.CompletionList(is_incomplete=False, items=items)


def _declaration_at(analysis: Analysis, offset: int):
    word = word_at(analysis.source, offset)
    if word is None:
        return None
    declaration = declaration_of(word.name, analysis.declarations, offset)
    if declaration is None:
        return None
    at_declaration = word.span == declaration.span
    if not at_declaration and (declaration.kind == "param") != word.text.startswith("$"):
        return None          # a bare `model` is the keyword, not `param model`
    return declaration


@server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
@_guarded
def on_definition(ls: AblLanguageServer, params: lsp.DefinitionParams) -> lsp.Location | None:
    analysis = ls.analysis(params.text_document.uri)
    declaration = _declaration_at(analysis, _offset(analysis, params.position))
    if declaration is None:
        return None
    return lsp.Location(uri=params.text_document.uri,
                        range=_lsp_range(range_of(analysis.source, declaration.span)))


@server.feature(lsp.TEXT_DOCUMENT_REFERENCES)
@_guarded
def on_references(ls: AblLanguageServer, params: lsp.ReferenceParams) -> list[lsp.Location] | None:
    analysis = ls.analysis(params.text_document.uri)
    declaration = _declaration_at(analysis, _offset(analysis, params.position))
    if declaration is None:
        return None
    spans = mentions(analysis.source, declaration)
    if not params.context.include_declaration:
        spans = tuple(span for span in spans if span != declaration.span)
    return [lsp.Location(uri=params.text_document.uri, range=_lsp_range(range_of(analysis.source, span)))
            for span in spans]


@server.feature(lsp.TEXT_DOCUMENT_FORMATTING)
@_guarded
def on_formatting(ls: AblLanguageServer, params: lsp.DocumentFormattingParams) -> list[lsp.TextEdit] | None:
    document = ls.workspace.get_text_document(params.text_document.uri)
    result = format_text(document.source, document.path)
    if result.text is None or result.text == document.source:
        return None if result.text is None else []
    lines = document.source.split("\n")
    whole = lsp.Range(start=lsp.Position(line=0, character=0),
                      end=lsp.Position(line=len(lines) - 1, character=utf16_length(lines[-1])))
    return [lsp.TextEdit(range=whole, new_text=result.text)]


@server.feature(lsp.TEXT_DOCUMENT_CODE_ACTION,
                lsp.CodeActionOptions(code_action_kinds=[lsp.CodeActionKind.QuickFix]))
@_guarded
def on_code_action(ls: AblLanguageServer, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
    uri = params.text_document.uri
    analysis = ls.analysis(uri)
    start = _offset(analysis, params.range.start)
    end = _offset(analysis, params.range.end)
    actions = []
    for fix in quick_fixes(analysis.diagnostics, start, end):
        edit = lsp.TextEdit(range=_lsp_range(range_of(analysis.source, fix.diagnostic.span)),
                            new_text=fix.replacement)
        actions.append(lsp.CodeAction(title=fix.title, kind=lsp.CodeActionKind.QuickFix,
                                      diagnostics=[to_lsp_diagnostic(analysis, fix.diagnostic)],
                                      edit=lsp.WorkspaceEdit(changes={uri: [edit]}), is_preferred=True))
    return actions


@server.command(SERVER_INFO_COMMAND)
@_guarded
def server_info(ls: AblLanguageServer, *args) -> dict:
    """What the benchmark and the tests check: this process, and that torch was never imported."""
    return {"pid": os.getpid(), "torch_loaded": "torch" in sys.modules}


def main() -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(name)s: %(message)s")
    server.start_io()

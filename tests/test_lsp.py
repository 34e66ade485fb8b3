"""`abl lsp` driven by a real LSP client over stdio (pytest-lsp): diagnostics equal to `abl lint
--format json`'s, hover, completion, definition, references, formatting, quick fixes, and 500
mutated specs sent to one server process without a crash."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pygls")
pytest_lsp = pytest.importorskip("pytest_lsp")

from lsprotocol import types as lsp  # noqa: E402
from pytest_lsp import ClientServerConfig, LanguageClient  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.abl"))
SERVER = [sys.executable, "-c", "import sys; from abl.interpreter.cli import main; sys.exit(main(['lsp']))"]

BROKEN = """experiment "𝄞 clef" extra
seed 0
stimuli test = digits split test
model net = train mlp [64, 32, 10] on test epochs 1
units hot = top 5 by activation in fc1
units spare = random 3 in fc1
measure acuracy on test ablating hot using net
measure accuracy on tset using net
"""

GOOD = """experiment "lsp"
seed 0
param width = 32
stimuli train_set = digits split train
model net = train mlp [64, $width, 10] on train_set epochs 1
units hot = top 5 by activation in fc1
measure accuracy on train_set ablating hot using net
"""


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(lsp.InitializeParams(capabilities=lsp.ClientCapabilities()))
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER,
                                              server_env={**os.environ, "ABL_LSP_DEBOUNCE_MS": "0"}))
async def undelayed_client(lsp_client: LanguageClient):
    """A server without the debounce delay: 500 changes in a few seconds."""
    await lsp_client.initialize_session(lsp.InitializeParams(capabilities=lsp.ClientCapabilities()))
    yield
    await lsp_client.shutdown_session()


def lint_json(text: str, cwd: Path) -> list[dict]:
    done = subprocess.run(SERVER[:2] + ["import sys; from abl.interpreter.cli import main; "
                                        "sys.exit(main(['lint', '--format', 'json', '-']))"],
                          input=text, capture_output=True, text=True, cwd=cwd, encoding="utf-8")
    return json.loads(done.stdout)


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def as_lsp(record: dict, text: str) -> tuple:
    """A lint JSON record (1-based, code points) in LSP terms (0-based, UTF-16 units)."""
    lines = text.split("\n")
    start = utf16(lines[record["line"] - 1][: record["column"] - 1])
    end = utf16(lines[record["end_line"] - 1][: record["end_column"] - 1])
    severity = {"error": lsp.DiagnosticSeverity.Error, "warning": lsp.DiagnosticSeverity.Warning}
    return (record["code"], record["line"] - 1, start, record["end_line"] - 1, end,
            severity[record["severity"]], record["message"])


def from_server(diagnostic: lsp.Diagnostic) -> tuple:
    r = diagnostic.range
    return (diagnostic.code, r.start.line, r.start.character, r.end.line, r.end.character,
            diagnostic.severity, diagnostic.message)


async def opened(client: LanguageClient, path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    uri = path.as_uri()
    client.text_document_did_open(lsp.DidOpenTextDocumentParams(
        text_document=lsp.TextDocumentItem(uri=uri, language_id="abl", version=1, text=text)))
    await client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    return uri


async def changed(client: LanguageClient, uri: str, text: str, version: int) -> None:
    client.text_document_did_change(lsp.DidChangeTextDocumentParams(
        text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[lsp.TextDocumentContentChangeWholeDocument(text=text)]))
    await client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)


def at(text: str, needle: str, shift: int = 0) -> lsp.Position:
    index = text.index(needle) + shift
    line = text.count("\n", 0, index)
    return lsp.Position(line=line, character=utf16(text[text.rfind("\n", 0, index) + 1: index]))


@pytest.mark.asyncio
async def test_diagnostics_are_lints_on_open_and_on_change(client: LanguageClient, tmp_path):
    uri = await opened(client, tmp_path / "broken.abl", BROKEN)
    expected = sorted(as_lsp(r, BROKEN) for r in lint_json(BROKEN, tmp_path))
    assert {e[0] for e in expected} >= {"E101"}            # lint itself sees the breakage
    assert sorted(from_server(d) for d in client.diagnostics[uri]) == expected
    fixed = BROKEN.replace(" extra", "")
    await changed(client, uri, fixed, 2)
    expected = sorted(as_lsp(r, fixed) for r in lint_json(fixed, tmp_path))
    assert {"E201", "E302"} <= {e[0] for e in expected}
    assert sorted(from_server(d) for d in client.diagnostics[uri]) == expected


@pytest.mark.asyncio
async def test_settings_and_ignore_comments_are_honoured(client: LanguageClient, tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.abl]\nignore = ["W502"]\n', encoding="utf-8")
    text = "stimuli test = digits split test\nunits spare = all in fc1  # abl: ignore[W501]\n"
    uri = await opened(client, tmp_path / "quiet.abl", text)
    expected = sorted(as_lsp(r, text) for r in lint_json(text, tmp_path))
    shown = [(d.code, d.range.start.line) for d in client.diagnostics[uri]]
    assert shown == [("W501", 0)]          # `test` unused; `spare` silenced, W502 ignored
    assert sorted(from_server(d) for d in client.diagnostics[uri]) == expected


@pytest.mark.asyncio
async def test_hover_over_a_code_a_name_and_a_keyword(client: LanguageClient, tmp_path):
    text = GOOD + "units spare = all in fc1  # abl: ignore[W501]\n"
    uri = await opened(client, tmp_path / "good.abl", text)
    document = lsp.TextDocumentIdentifier(uri=uri)
    code = await client.text_document_hover_async(lsp.HoverParams(text_document=document, position=at(text, "W501", 1)))
    assert "W501" in code.contents.value and "unused" in code.contents.value
    name = await client.text_document_hover_async(lsp.HoverParams(text_document=document, position=at(text, "hot using", 1)))
    assert "unit set `hot`" in name.contents.value and "units hot = top 5" in name.contents.value
    param = await client.text_document_hover_async(lsp.HoverParams(text_document=document, position=at(text, "$width", 2)))
    assert "param width = 32" in param.contents.value
    keyword = await client.text_document_hover_async(lsp.HoverParams(text_document=document, position=at(text, "ablating", 2)))
    assert "activations to zero" in keyword.contents.value


@pytest.mark.asyncio
async def test_completion_offers_unit_sets_and_layer_aliases_where_they_fit(client: LanguageClient, tmp_path):
    text = GOOD + "measure accuracy on train_set ablating \nunits more = top 3 by activation in \n"
    uri = await opened(client, tmp_path / "typing.abl", text)
    document = lsp.TextDocumentIdentifier(uri=uri)

    async def labels(needle: str) -> list[str]:
        found = await client.text_document_completion_async(
            lsp.CompletionParams(text_document=document, position=at(text, needle, len(needle) - 1)))   # before the newline
        return [item.label for item in found.items]

    after_ablating = await labels("ablating \n")
    assert "hot" in after_ablating and after_ablating.index("hot") < after_ablating.index("net")
    assert "top" in after_ablating                     # a keyword the grammar accepts there
    after_in = await labels("activation in \n")
    assert "fc1" in after_in and "logits" in after_in
    assert "net" not in after_in                       # a model is no layer
    statement = await labels("ablating \n")            # (same place, nothing new)
    assert statement == after_ablating


@pytest.mark.asyncio
async def test_definition_references_formatting_and_quick_fix(client: LanguageClient, tmp_path):
    text = GOOD.replace("units hot =", "units   hot  =") + "measure accuracy on trian_set using net\n"
    uri = await opened(client, tmp_path / "nav.abl", text)
    document = lsp.TextDocumentIdentifier(uri=uri)
    definition = await client.text_document_definition_async(
        lsp.DefinitionParams(text_document=document, position=at(text, "hot using", 1)))
    assert definition.range.start == at(text, "hot  =")
    references = await client.text_document_references_async(lsp.ReferenceParams(
        text_document=document, position=at(text, "net\n", 1),
        context=lsp.ReferenceContext(include_declaration=True)))
    assert len(references) == 3
    from_declaration = await client.text_document_references_async(lsp.ReferenceParams(
        text_document=document, position=at(text, "width =", 1),
        context=lsp.ReferenceContext(include_declaration=False)))
    assert [r.range.start for r in from_declaration] == [at(text, "$width")]
    edits = await client.text_document_formatting_async(
        lsp.DocumentFormattingParams(text_document=document, options=lsp.FormattingOptions(tab_size=4, insert_spaces=True)))
    formatted = subprocess.run(SERVER[:2] + ["import sys; from abl.interpreter.cli import main; "
                                             "sys.exit(main(['fmt', '-']))"],
                               input=text, capture_output=True, text=True).stdout
    assert len(edits) == 1 and edits[0].new_text == formatted and "units hot = top" in formatted
    where = at(text, "trian_set", 2)
    actions = await client.text_document_code_action_async(lsp.CodeActionParams(
        text_document=document, range=lsp.Range(start=where, end=where),
        context=lsp.CodeActionContext(diagnostics=[])))
    assert [a.edit.changes[uri][0].new_text for a in actions] == ["train_set"]


@pytest.mark.asyncio
async def test_the_server_loads_no_torch(client: LanguageClient, tmp_path):
    info = await client.workspace_execute_command_async(lsp.ExecuteCommandParams(command="abl.serverInfo"))
    assert info["torch_loaded"] is False


def mutants(count: int, seed: int = 30) -> list[str]:
    """Deterministic mutations of the examples: characters and lines deleted, inserted, duplicated."""
    rng = random.Random(seed)
    texts = [path.read_text(encoding="utf-8") for path in EXAMPLES]
    alphabet = 'abcxyz019 _-$"#[](),=:.%<>|&\n\t\u00e9\U0001d11e'
    out = []
    for _ in range(count):
        text = rng.choice(texts)
        for _ in range(rng.randint(1, 6)):
            lines = text.split("\n")
            kind = rng.randrange(5)
            i = rng.randrange(len(text) + 1)
            if kind == 0 and text:
                text = text[:i] + text[i + rng.randint(1, 8):]
            elif kind == 1:
                text = text[:i] + "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 5))) + text[i:]
            elif kind == 2:
                text = text[:i] + text[i:i + rng.randint(1, 30)] * 2 + text[i + 30:]
            elif kind == 3:
                del lines[rng.randrange(len(lines))]
                text = "\n".join(lines)
            else:
                j = rng.randrange(len(lines))
                lines.insert(rng.randrange(len(lines) + 1), lines[j])
                text = "\n".join(lines)
        out.append(text)
    return out


@pytest.mark.asyncio
async def test_500_mutated_specs_never_crash_one_server(undelayed_client: LanguageClient, tmp_path):
    client = undelayed_client
    uri = await opened(client, tmp_path / "fuzz.abl", EXAMPLES[0].read_text(encoding="utf-8"))
    document = lsp.TextDocumentIdentifier(uri=uri)
    for version, text in enumerate(mutants(500), start=2):
        await changed(client, uri, text, version)
        if version % 50 == 0:                 # requests on broken text answer too
            await client.text_document_hover_async(lsp.HoverParams(text_document=document, position=lsp.Position(line=3, character=2)))
            await client.text_document_completion_async(lsp.CompletionParams(text_document=document, position=lsp.Position(line=5, character=4)))
    huge = "units u = all in fc1\n" * 60_000
    await changed(client, uri, huge, 10_000)
    assert [d.severity for d in client.diagnostics[uri]] == [lsp.DiagnosticSeverity.Information]
    info = await client.workspace_execute_command_async(lsp.ExecuteCommandParams(command="abl.serverInfo"))
    assert info["pid"] > 0


def test_a_missing_pygls_is_reported_with_the_extra_to_install():
    code = ("import sys; sys.modules['pygls'] = None; from abl.interpreter.cli import main; "
            "sys.exit(main(['lsp']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert done.returncode != 0
    assert "needs pygls" in done.stderr and "pip install 'abl[lsp]'" in done.stderr


# ---- the TextMate grammar (spec/editors/abl.tmLanguage.json) ----------------------------------------

GRAMMAR = ROOT / "spec" / "editors" / "abl.tmLanguage.json"


def grammar_rules() -> list[dict]:
    """The grammar's leaf rules in the order TextMate tries them (includes expanded)."""
    grammar = json.loads(GRAMMAR.read_text(encoding="utf-8"))

    def expand(patterns):
        for pattern in patterns:
            if "include" in pattern:
                yield from expand([grammar["repository"][pattern["include"][1:]]])
            elif "patterns" in pattern and "match" not in pattern and "begin" not in pattern:
                yield from expand(pattern["patterns"])
            else:
                yield pattern
    return list(expand(grammar["patterns"]))


def tokenise(line: str, rules: list[dict]) -> list[tuple[str, str]]:
    """TextMate's scan of one line: at each point the rule matching earliest wins (the first
    listed on a tie); a begin/end rule runs to its end. Raises on a character no rule covers."""
    compiled = [(rule, re.compile(rule.get("match") or rule["begin"])) for rule in rules]
    tokens, at = [], 0
    while at < len(line):
        found = [(m.start(), index, rule, m) for index, (rule, pattern) in enumerate(compiled)
                 if (m := pattern.search(line, at))]
        if not found:
            break
        start, _, rule, match = min(found, key=lambda f: (f[0], f[1]))
        gap = line[at:start]
        assert not gap.strip(), f"no rule covers {gap.strip()!r} in {line!r}"
        end = match.end()
        if "begin" in rule:
            closing = re.compile(rule["end"]).search(line, end)
            end = closing.end() if closing else len(line)
        scope = rule.get("name") or ",".join(c["name"] for c in rule.get("captures", {}).values())
        tokens.append((line[start:end], scope))
        at = max(end, start + 1)
    assert not line[at:].strip(), f"no rule covers {line[at:].strip()!r} in {line!r}"
    return tokens


def test_every_regex_of_the_grammar_compiles():
    rules = grammar_rules()
    assert len(rules) >= 10
    for rule in rules:
        for key in ("match", "begin", "end"):
            if key in rule:
                re.compile(rule[key])


def test_every_keyword_of_the_language_is_a_keyword_of_the_grammar():
    grammar_text = re.sub(r"//[^\n]*", "", (ROOT / "spec" / "grammar.lark").read_text(encoding="utf-8"))
    words = set(re.findall(r'"([a-z][a-z-]*)"', grammar_text))
    assert {"experiment", "units", "mean-ablating", "torchvision", "averaged"} <= words
    keyword_rules = [re.compile(r["match"]) for r in grammar_rules()
                     if r.get("name", "").startswith("keyword.") and "match" in r]
    for word in sorted(words):
        assert any(rule.fullmatch(word) for rule in keyword_rules), f"`{word}` is no keyword of the grammar"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_line_of_the_examples_tokenises(path):
    rules = grammar_rules()
    scopes = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        scopes.update(scope for _, scope in tokenise(line, rules))
    assert "comment.line.number-sign.abl" in scopes and "keyword.control.statement.abl" in scopes


def test_the_grammar_scopes_what_it_promises():
    rules = grammar_rules()
    line = 'units hot = top 10% by activation in $layer  # note "x"'
    tokens = dict(tokenise(line, rules))
    assert tokens["units hot"].endswith("entity.name.variable.declaration.abl")
    assert tokens["10%"] == "constant.numeric.percent.abl"
    assert tokens["$layer"] == "variable.other.param.abl"
    assert tokens['# note "x"'] == "comment.line.number-sign.abl"
    assert tokens["top"] == "keyword.other.abl" and tokens["="] == "keyword.operator.abl"
    assert dict(tokenise('experiment "a \\" b" seed 3', rules))['"a \\" b"'] == "string.quoted.double.abl"
    assert dict(tokenise("units g = grid 4x4 over a, b in fc1", rules))["4x4"] == "constant.numeric.grid.abl"

"""The abl language server (`abl lsp`): lint's diagnostics, hover, completion, go to definition,
find references, formatting and quick fixes for `.abl` files in any LSP editor.

What it owns: everything between the editor's protocol and the language front end. The analysis
modules (`positions`, `document`, `symbols`, `hover`, `complete`, `actions`, `layer_aliases`) are
plain functions over frozen dataclasses and know nothing of the protocol; `server.py` alone imports
pygls/lsprotocol and turns their results into protocol types.

What it may import: the rest of `abl.spec` (the front end, lint settings, codes, vocabulary, the
formatter) and the standard library; `server.py` also pygls (the optional `lsp` extra). Never torch
and never `abl.interpreter`: the server starts in a fraction of a second and stays small
(tests/test_imports.py enforces the rule for every module of spec/).
"""

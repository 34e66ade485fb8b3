"""The documentation site, the API reference generated from the docstrings included, builds
without a warning (`mkdocs build --strict`, issue 36, item 4)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_the_site_and_its_api_reference_build_without_warnings(tmp_path):
    pytest.importorskip("mkdocs", reason="the site needs the `docs` extra")
    pytest.importorskip("mkdocstrings_handlers.python", reason="the site needs the `docs` extra")
    site = tmp_path / "site"
    done = subprocess.run([sys.executable, str(ROOT / "docs" / "build_site.py"), "-d", str(site)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    api = (site / "api" / "index.html").read_text(encoding="utf-8")
    for documented in ("Experiment", "from_file", "verdicts_frame", "load_run", "run_file", "LoadedRun",
                       "run folder"):
        assert documented in api, documented
    assert (site / "getting-started" / "index.html").is_file()

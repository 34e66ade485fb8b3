"""Builds the documentation site (mkdocs, the API reference from the docstrings by mkdocstrings):

    python docs/build_site.py [-d SITE_DIR]      # needs the `docs` extra

The installed package maps `abl.spec` to spec/ and `abl.interpreter` to interpreter/ through
setuptools' editable finder, which mkdocstrings' static loader (griffe) does not follow; this
script gives it a folder with an `abl` package of links to those two folders, then runs
`mkdocs build --strict` (any warning fails the build)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def build(site: Path) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="abl-docs-") as tmp:
        package = Path(tmp) / "abl"
        package.mkdir()
        (package / "__init__.py").write_text('"""abl: the language (abl.spec) and its interpreter (abl.interpreter)."""\n')
        (package / "spec").symlink_to(ROOT / "spec", target_is_directory=True)
        (package / "interpreter").symlink_to(ROOT / "interpreter", target_is_directory=True)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [tmp, os.environ.get("PYTHONPATH")])))
        return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f",
                               str(ROOT / "mkdocs.yml"), "-d", str(site)],
                              cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)


if __name__ == "__main__":
    out = Path(sys.argv[sys.argv.index("-d") + 1]) if "-d" in sys.argv else ROOT / "site"
    done = build(out)
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    sys.exit(done.returncode)

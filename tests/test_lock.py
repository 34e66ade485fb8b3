"""Pre-registration: `abl lock` writes SPEC.lock.json; `abl run --require-lock` refuses an edited
claim before any work; without the flag the run marks each claim pre-registered, changed or new
(report and expectations.json); `abl lint` warns (W505). The same run checks that every claim of
the example passes exactly when its shown interval clears its boundary."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from abl.spec.frontend import compile_file

ROOT = Path(__file__).resolve().parents[1]


def abl(*args, cwd, cache):
    env = dict(os.environ, NO_COLOR="1", ABL_CACHE_DIR=str(cache))
    return subprocess.run([sys.executable, "-m", "abl.interpreter.cli.main", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=600)


@pytest.fixture(scope="module")
def locked(tmp_path_factory):
    """A copy of digit7.abl locked at epochs=3, then its drop threshold edited from 3% to 2%."""
    root = tmp_path_factory.mktemp("lock")
    cache = root / "cache"
    spec = root / "digit7.abl"
    shutil.copy(ROOT / "examples" / "digit7.abl", spec)
    done = abl("lock", "digit7.abl", "--set", "epochs=3", cwd=root, cache=cache)
    assert done.returncode == 0, done.stderr
    lock = json.loads((root / "digit7.abl.lock.json").read_text())
    spec.write_text(spec.read_text().replace("drops by at least 3%", "drops by at least 2%"))
    return root, cache, lock


def test_the_lock_records_canonical_claims_their_declarations_parameters_and_draws(locked):
    _, _, lock = locked
    assert lock["format"] == 1 and lock["seed"] == 0 and lock["params"]["epochs"] == 3
    assert lock["results_existed"] is False and lock["locked_at"]
    texts = [c["text"] for c in lock["claims"]]
    assert texts[1] == "expect accuracy[class 7] on test drops by at least 3% ablating hot7"
    assert lock["claims"][1]["depends"]["hot7"].startswith("units hot7 = top 5 by activation")
    assert "net" in lock["claims"][0]["depends"]               # every claim reads the network
    assert lock["claims"][2]["control_draws"] == 100 and "control_draws" not in lock["claims"][0]


def test_require_lock_refuses_an_edited_claim_before_any_work(locked):
    root, cache, _ = locked
    done = abl("run", "digit7.abl", "--require-lock", "--set", "epochs=3", "--out", "refused",
               cwd=root, cache=cache)
    assert done.returncode == 2, done.stderr
    assert "claim 2 (line 24)" in done.stderr and "drops by at least 3%" in done.stderr
    assert not (root / "refused").exists() and not cache.exists()     # nothing trained, nothing written


def test_lint_warns_for_the_claim_changed_since_its_lock(locked):
    root, _, _ = locked
    warnings = [d for d in compile_file(str(root / "digit7.abl")).diagnostics if d.code == "W505"]
    assert [d.span.line for d in warnings] == [24]
    assert "at least 3%" in warnings[0].message


def test_a_run_marks_the_changed_claim_and_the_pre_registered_ones(locked):
    root, cache, _ = locked
    done = abl("run", "digit7.abl", "--set", "epochs=3", "--out", "run", "--no-figures", cwd=root, cache=cache)
    assert done.returncode in (0, 1), done.stderr
    records = json.loads((root / "run" / "expectations.json").read_text())
    assert [r["registration"] for r in records] == ["pre-registered", "changed", "pre-registered"]
    assert "at least 3%" in records[1]["registration_differences"][0]
    report = (root / "run" / "report.txt").read_text()
    assert "changed" in report and "pre-registered" in report
    # one inference per claim: PASS exactly when the shown one-sided interval clears the boundary
    for record in records:
        if record["test"]:
            low = -math.inf if record["ci_low"] is None else record["ci_low"]
            high = math.inf if record["ci_high"] is None else record["ci_high"]
            assert (record["verdict"] == "PASS") == (low > 0 or high < 0), record["detail"]
    # a lock made now says that results existed
    again = abl("lock", "digit7.abl", "--set", "epochs=3", cwd=root, cache=cache)
    assert again.returncode == 0
    # run folders under --out elsewhere are not found; the default runs/ folder is
    shutil.copytree(root / "run", root / "runs" / "digit-7-units-1")
    again = abl("lock", "digit7.abl", "--set", "epochs=3", cwd=root, cache=cache)
    assert json.loads((root / "digit7.abl.lock.json").read_text())["results_existed"] is True
    assert "already exist" in again.stderr

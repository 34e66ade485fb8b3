"""Pre-registration and power on the digit-7 example (one trained network, cached, for the module).

`abl lock` writes SPEC.lock.json; `abl run --require-lock` refuses an edited claim before any
work; without the flag a run (here `abl power`'s pilot run) marks each claim pre-registered,
changed or new (report and expectations.json); `abl lint` warns (W506). The same run checks that
every claim of the example passes exactly when its shown interval clears its boundary, and that
`abl power` agrees with an independent simulation on the same per-image values."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from abl.spec.frontend import compile_file, compile_text

ROOT = Path(__file__).resolve().parents[1]


def abl(*args, cwd, cache):
    env = dict(os.environ, NO_COLOR="1", ABL_CACHE_DIR=str(cache))
    return subprocess.run([sys.executable, "-m", "abl.interpreter.cli.main", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=600)


@pytest.fixture(scope="module")
def locked(tmp_path_factory):
    """A copy of digit7.abl locked, then its drop threshold edited from 3% to 2%."""
    root = tmp_path_factory.mktemp("lock")
    cache = root / "cache"
    spec = root / "digit7.abl"
    shutil.copy(ROOT / "examples" / "digit7.abl", spec)
    done = abl("lock", "digit7.abl", cwd=root, cache=cache)
    assert done.returncode == 0, done.stderr
    lock = json.loads((root / "digit7.abl.lock.json").read_text())
    spec.write_text(spec.read_text().replace("drops by at least 3%", "drops by at least 2%"))
    return root, cache, lock


def test_the_lock_records_canonical_claims_their_declarations_parameters_and_draws(locked):
    _, _, lock = locked
    assert lock["format"] == 1 and lock["seed"] == 0 and lock["params"]["epochs"] == 40
    assert lock["results_existed"] is False and lock["locked_at"]
    texts = [c["text"] for c in lock["claims"]]
    assert texts[1] == "expect accuracy[class 7] on test drops by at least 3% ablating hot7"
    assert lock["claims"][1]["depends"]["hot7"].startswith("units hot7 = top 5 by activation")
    assert "net" in lock["claims"][0]["depends"]               # every claim reads the network
    assert lock["claims"][2]["control_draws"] == 100 and "control_draws" not in lock["claims"][0]


def test_require_lock_refuses_an_edited_claim_before_any_work(locked):
    root, cache, _ = locked
    done = abl("run", "digit7.abl", "--require-lock", "--out", "refused",
               cwd=root, cache=cache)
    assert done.returncode == 2, done.stderr
    assert "claim 2 (line 24)" in done.stderr and "drops by at least 3%" in done.stderr
    assert not (root / "refused").exists() and not cache.exists()     # nothing trained, nothing written


def test_lint_warns_for_the_claim_changed_since_its_lock(locked):
    root, _, _ = locked
    warnings = [d for d in compile_file(str(root / "digit7.abl")).diagnostics if d.code == "W506"]
    assert [d.span.line for d in warnings] == [24]
    assert "at least 3%" in warnings[0].message


@pytest.fixture(scope="module")
def pilot(locked):
    """`abl power` on the edited copy: a pilot run into `run`, then the power of each claim."""
    root, cache, _ = locked
    done = abl("power", "digit7.abl", "--out", "run", cwd=root, cache=cache)
    assert done.returncode == 0, done.stderr
    return done


def test_a_run_marks_the_changed_claim_and_the_pre_registered_ones(locked, pilot):
    root, cache, _ = locked
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
    # (in the default runs/ folder)
    shutil.copytree(root / "run", root / "runs" / "digit-7-units-1")
    again = abl("lock", "digit7.abl", cwd=root, cache=cache)
    assert json.loads((root / "digit7.abl.lock.json").read_text())["results_existed"] is True
    assert "already exist" in again.stderr


def _change_differences(folder: Path) -> np.ndarray:
    """Per image of class 7: accuracy before minus after ablating hot7, read off the shards."""
    from abl.interpreter.results.shard_store import _read

    per_image, rows = {}, []
    for path in sorted((folder / "shards").glob("shard-*.npz")):
        shard, _ = _read(path)
        per_image.update(dict(shard.per_image))
        rows += [row for _, item_rows in shard.rows for row in item_rows]
    values = {row.intervention: per_image[row.key].values for row in rows
              if row.measure == "accuracy" and row.cls == "7" and row.key in per_image
              and row.intervention in (None, "ablating hot7")}
    return values[None] - values["ablating hot7"]


def _simulated_power(d: np.ndarray, margin: float, alpha: float, n: int, rng) -> float:
    """Independently: resample n images, scipy's one-sided t-test, share rejected."""
    x = d[rng.integers(0, d.size, size=(4000, n))]
    with np.errstate(all="ignore"):
        p = stats.ttest_1samp(x, margin, axis=1, alternative="greater").pvalue
    p = np.where(np.isnan(p), np.where(x.mean(axis=1) > margin, 0.0, 1.0), p)
    return float(np.mean(p <= alpha))


def test_power_of_the_change_claim_agrees_with_an_independent_simulation(locked, pilot):
    root, _, _ = locked
    record = json.loads((root / "run" / "expectations.json").read_text())[1]
    power = record["power"]
    assert power["n"] == 54 and power["unit"] == "images"
    line = next(line for line in pilot.stdout.splitlines() if line.strip().startswith("claim 2"))
    assert f"power {power['power']:.2f} at n = 54" in line and f"about {power['n_for_80_percent']} images" in line
    d = _change_differences(root / "run")
    assert d.size == 54
    alpha, rng = 1 - record["ci_level"], np.random.default_rng(7)
    assert power["alpha"] == pytest.approx(alpha)
    assert _simulated_power(d, 0.02, alpha, 54, rng) == pytest.approx(power["power"], abs=0.04)
    needed = power["n_for_80_percent"]
    assert _simulated_power(d, 0.02, alpha, int(needed * 0.85), rng) < 0.8 < \
        _simulated_power(d, 0.02, alpha, int(needed * 1.15) + 1, rng)
    # the report has a line for it when it is underpowered
    if power["power"] < 0.8:
        assert f"claim 2: power {power['power']:.2f} at n = 54" in (root / "run" / "report.txt").read_text()


def test_a_control_whose_draws_cannot_reach_its_significance_is_a_lint_warning():
    text = (ROOT / "examples" / "digit7.abl").read_text().replace("repeats 100", "repeats 100 significance 0.005")
    (warning,) = [d for d in compile_text(text, "digit7.abl").diagnostics if d.code == "W503"]
    assert "cannot reach significance 0.005" in warning.message and "Holm over 3 tested claims" in warning.message
    assert "repeats 599" in warning.help

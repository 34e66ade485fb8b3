"""Interruptions at any point lose nothing and mislead no one: SIGINT or SIGTERM at several points
of a run (loading, training, measuring, writing) leaves a folder that says it is not complete
(or one that is complete and whole), with no temporary files, and `--resume` completes it to the
uninterrupted run's bytes."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
KNOB = str(ROOT / "examples" / "selectivity_knob.abl")
SMALL = ["--set", "epochs=1", "--set", "seeds=1", "--set", "alphas=[-10, -1, 0, 1, 10]", "--threads", "1"]


OUTCOMES: list[str] = []      # how each signal test ended: finished | starting | resumed


def _env(cache):
    return dict(os.environ, NO_COLOR="1", ABL_CACHE_DIR=str(cache))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("reference")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "abl.interpreter.cli", "run", KNOB, *SMALL, "--out",
                           str(root / "run"), "--no-figures"], capture_output=True, text=True, cwd=ROOT,
                          env=_env(root / "cache"), timeout=600)
    assert done.returncode in (0, 1), done.stderr
    return root / "run", time.perf_counter() - started


def _wait_until(condition, process, timeout=300.0) -> None:
    deadline = time.time() + timeout
    while not condition() and process.poll() is None and time.time() < deadline:
        time.sleep(0.01)


@pytest.mark.parametrize("when,signum", [("started", signal.SIGTERM), ("shards", signal.SIGINT),
                                         ("written", signal.SIGTERM)])
def test_a_signal_at_any_point_then_resume(reference, tmp_path, when, signum):
    """`started`: the folder exists, no shard has finished; `shards`: 2 of 5 shards finished;
    `written`: results.csv is in place, the manifest may not be."""
    reference_run, _ = reference
    folder, cache = tmp_path / "run", tmp_path / "cache"
    process = subprocess.Popen([sys.executable, "-m", "abl.interpreter.cli", "run", KNOB, *SMALL, "--out",
                                str(folder), "--no-figures"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, cwd=ROOT, env=_env(cache))
    landmarks = {"started": lambda: (folder / "manifest.json").exists(),
                 "shards": lambda: len(list((folder / "shards").glob("shard-*.npz"))) >= 2,
                 "written": lambda: (folder / "results.csv").exists()}
    _wait_until(landmarks[when], process)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=300)
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    assert not list(folder.rglob(".*.tmp")), "a temporary file was left behind"
    if process.returncode in (0, 1):                 # it had finished: a complete, whole folder
        assert json.loads((folder / "manifest.json").read_text())["status"] == "complete"
        OUTCOMES.append("finished")
    elif process.returncode == -signum:              # still starting Python: died of the signal
        assert not folder.exists()                   # (a shell reports 128 + n, as for 130/143)
        OUTCOMES.append("starting")
        return
    else:
        assert process.returncode == (130 if signum == signal.SIGINT else 143), stderr
        if not (folder / "manifest.json").exists():  # stopped before the folder was started
            assert not (folder / "results.csv").exists()
            return
        # `running` only where the signal beat the first line of the run (RunFolder.create)
        assert json.loads((folder / "manifest.json").read_text())["status"] in ("interrupted", "running")
        assert f"abl run --resume {folder}" in stderr or when == "started"
        kept = len(list((folder / "shards").glob("shard-*.npz")))
        trained = {p.name: p.stat().st_mtime_ns for p in (cache / "models").glob("*.pt")}
        resumed = subprocess.run([sys.executable, "-m", "abl.interpreter.cli", "run", "--resume", str(folder),
                                  "--no-figures"], capture_output=True, text=True, cwd=ROOT, env=_env(cache),
                                 timeout=600)
        assert resumed.returncode in (0, 1), resumed.stderr
        assert f"{kept} finished shard(s) kept" in resumed.stderr
        done = json.loads((folder / "manifest.json").read_text())
        assert done["status"] == "complete" and done["execution"]["kept_shards"] == kept
        assert len(done["resumed"]) == 1
        # nothing trained before the interruption is trained again
        assert {p.name: p.stat().st_mtime_ns for p in (cache / "models").glob("*.pt") if p.name in trained} == trained
        assert len(list((cache / "models").glob("*.pt"))) == 5
        OUTCOMES.append("resumed" if kept else "resumed from nothing")
    for name in ("results.csv", "expectations.json", "selections.json"):
        assert (folder / name).read_bytes() == (reference_run / name).read_bytes(), name


def test_some_signal_landed_in_the_middle_of_the_shards():
    """At least one signal above must have caught the run with some shards finished and others
    not, or the tests above checked nothing of resuming."""
    assert "resumed" in OUTCOMES, OUTCOMES

"""Past one machine, end to end through the CLI: a run on a local Ray cluster writes the same run
folder as a local run (byte for byte where the thread counts agree), a killed worker's shard is
retried, a spec error on a worker reads as it does locally, and an interrupted run (SIGINT)
completes with `--resume` without redoing what finished."""

import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
KNOB = str(ROOT / "examples" / "selectivity_knob.abl")
HAYNE = str(ROOT / "examples" / "hayne_grid.abl")
DIGIT7 = str(ROOT / "examples" / "digit7.abl")
SAME_FILES = ("results.csv", "expectations.json", "selections.json")


def abl(*args, cache, env_extra=None, **kwargs):
    env = dict(os.environ, NO_COLOR="1", ABL_CACHE_DIR=str(cache), **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "abl.interpreter.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=600, **kwargs)


def start_abl(*args, cache):
    env = dict(os.environ, NO_COLOR="1", ABL_CACHE_DIR=str(cache))
    # SIGINT as a terminal sends it: a test process that started Ray ignores SIGINT, and a child
    # would inherit that (then Python installs no KeyboardInterrupt handler at all)
    return subprocess.Popen([sys.executable, "-m", "abl.interpreter.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def wait_for_shards(folder: Path, count: int, process, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while len(list((folder / "shards").glob("shard-*.npz"))) < count:
        assert process.poll() is None, process.communicate()
        assert time.time() < deadline, "no shards were written"
        time.sleep(0.02)


def manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def assert_same_run(a: Path, b: Path) -> None:
    for name in SAME_FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


@pytest.fixture(scope="module")
def knob_reference(tmp_path_factory):
    """The selectivity sweep (2 epochs) run locally with one thread: what every other run of it
    must reproduce byte for byte."""
    root = tmp_path_factory.mktemp("knob-reference")
    done = abl("run", KNOB, "--set", "epochs=2", "--threads", "1", "--out", str(root / "run"), "--no-figures",
               cache=root / "cache")
    assert done.returncode == 1, done.stderr        # two of its claims fail (docs/results-selectivity.md)
    assert manifest(root / "run")["execution"]["threads"] == 1
    return root / "run"


# ---- resume -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def interrupted_digit7(tmp_path_factory):
    """A finished digit-7 run whose manifest is turned back to `interrupted`, to probe --resume's checks."""
    root = tmp_path_factory.mktemp("digit7")
    done = abl("run", DIGIT7, "--out", str(root / "run"), "--no-figures", "--threads", "1", cache=root / "cache")
    assert done.returncode in (0, 1), done.stderr
    return root


def _interrupt(folder: Path) -> None:
    data = manifest(folder)
    (folder / "manifest.json").write_text(json.dumps({k: data[k] for k in
                                                      ("experiment", "started", "spec", "overrides", "execution")}
                                                     | {"status": "interrupted"}))


def test_resume_refuses_another_spec_params_threads_or_folder(interrupted_digit7, tmp_path):
    root = interrupted_digit7
    folder = root / "run"
    complete = abl("run", "--resume", str(folder), cache=root / "cache")
    assert complete.returncode == 0 and "is complete; nothing to resume" in complete.stderr
    _interrupt(folder)
    other = tmp_path / "other.abl"
    other.write_text(Path(DIGIT7).read_text().replace("repeats 100", "repeats 99"))
    cases = {
        "differs from the spec the run started with": ("run", str(other), "--resume", str(folder)),
        "the parameters differ": ("run", "--resume", str(folder), "--set", "epochs=39"),
        "started with 1 threads, not 2": ("run", "--resume", str(folder), "--threads", "2"),
        "cannot be used together": ("run", "--resume", str(folder), "--out", str(tmp_path / "x")),
        "not a run folder": ("run", "--resume", str(tmp_path)),
    }
    for expected, args in cases.items():
        refused = abl(*args, cache=root / "cache")
        assert refused.returncode == 2, (args, refused.stderr)
        assert expected in refused.stderr and "Traceback" not in refused.stderr, (expected, refused.stderr)
    assert manifest(folder)["status"] == "interrupted"          # nothing was touched


def test_resume_of_a_folder_with_every_shard_finished_runs_nothing_again(interrupted_digit7):
    root = interrupted_digit7
    folder = root / "run"
    _interrupt(folder)
    before = (folder / "results.csv").read_bytes()
    resumed = abl("run", "--resume", str(folder), "--no-figures", cache=root / "cache")
    assert resumed.returncode in (0, 1), resumed.stderr
    assert "1 finished shard(s) kept" in resumed.stderr
    assert (folder / "results.csv").read_bytes() == before
    assert manifest(folder)["status"] == "complete" and manifest(folder)["execution"]["kept_shards"] == 1


GRID = ("--set", "layers=[conv2, fc1]")     # the digits Hayne grid: a recording and 4 conditions shards


@pytest.fixture(scope="module")
def hayne_reference(tmp_path_factory):
    """The digits Hayne grid over two layers, uninterrupted, locally with one thread (its network
    trained into the cache the other runs of it share)."""
    root = tmp_path_factory.mktemp("hayne")
    done = abl("run", HAYNE, *GRID, "--threads", "1", "--out", str(root / "run"), "--no-figures",
               cache=root / "cache")
    assert done.returncode == 1, done.stderr
    return root


def shard_metas(folder: Path) -> dict[str, dict]:
    import numpy as np

    return {path.name: json.loads(str(np.load(path)["meta"])) for path in (folder / "shards").glob("shard-*.npz")}


def test_resume_after_sigint_in_the_conditions_shards_keeps_the_recording(hayne_reference, tmp_path):
    """SIGINT once the recording is in the run folder (the conditions shards take a fraction of a
    second each: waiting for one of them too lets a loaded machine finish the run before the
    signal lands): `--resume` runs only the conditions shards left, from the recording and any
    conditions shard kept there, byte for byte as uninterrupted."""
    for attempt in range(3):     # a busy machine can finish the short run before the signal lands
        folder = tmp_path / f"run{attempt}"
        process = start_abl("run", HAYNE, *GRID, "--threads", "1", "--out", str(folder), "--no-figures",
                            cache=hayne_reference / "cache")
        wait_for_shards(folder, 1, process)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=300)
        if process.returncode != 1:
            break
    if process.returncode == 1:
        pytest.skip("the run finished before its SIGINT landed, three times (a busy machine): nothing to resume")
    assert process.returncode == 130, stderr
    before = shard_metas(folder)
    kinds = sorted(m["kind"] for m in before.values())
    assert "recording" in kinds and len(kinds) < 5, kinds
    resumed = abl("run", "--resume", str(folder), "--no-figures", cache=hayne_reference / "cache")
    assert resumed.returncode == 1, resumed.stderr
    assert f"{len(before)} finished shard(s) kept" in resumed.stderr
    after = shard_metas(folder)
    assert sorted(m["kind"] for m in after.values()) == ["conditions"] * 4 + ["recording"]
    for name, meta in before.items():            # nothing finished was run again
        assert after[name]["pid"] == meta["pid"] and after[name]["started_at"] == meta["started_at"]
    assert {m["pid"] for n, m in after.items() if n not in before} != {meta["pid"] for meta in before.values()}
    assert_same_run(folder, hayne_reference / "run")
    assert manifest(folder)["execution"]["kept_shards"] == len(before)


# ---- Ray ----------------------------------------------------------------------------------------

needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                               reason="the Ray tests need the `ray` extra (in the test extras)")


def raylets() -> set[int]:
    found = set()
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv and argv[0].endswith(b"/raylet"):
                found.add(int(pid))
    return found


@needs_ray
def test_the_sweep_on_ray_is_byte_identical_runs_in_parallel_and_survives_a_killed_worker(tmp_path,
                                                                                        knob_reference):
    """21 shards on a local 2-CPU Ray; a worker is killed (SIGKILL) in the middle of a shard."""
    import numpy as np

    folder = tmp_path / "run"
    before = raylets()
    killed: list = []

    def kill_a_busy_worker(process) -> None:
        wait_for_shards(folder, 3, process)
        deadline = time.time() + 60
        while not killed and time.time() < deadline:
            for pid in os.listdir("/proc"):
                try:
                    title = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
                except OSError:
                    continue
                if title.startswith(b"ray::abl shard"):     # a worker in the middle of a shard
                    os.kill(int(pid), signal.SIGKILL)
                    killed.extend([int(pid), time.time()])
                    break
            time.sleep(0.01)

    process = start_abl("run", KNOB, "--set", "epochs=2", "--executor", "ray", "--out", str(folder),
                        "--no-figures", cache=tmp_path / "cache")
    killer = threading.Thread(target=kill_a_busy_worker, args=(process,))
    killer.start()
    _, stderr = process.communicate(timeout=600)
    killer.join()
    assert process.returncode == 1, stderr          # two of the knob's claims fail, as locally
    assert_same_run(folder, knob_reference)
    data = manifest(folder)
    assert data["execution"]["executor"] == "ray" and data["execution"]["threads"] == 1
    assert data["execution"]["shards"] == 21 and data["status"] == "complete"
    sources = [m["source"] for m in data["models"].values()]
    # the killed shard's network, if it had been trained and cached before the kill, is loaded
    # from the cache by the retry, not trained again
    assert set(sources) <= {"trained", "cache"} and sources.count("cache") <= 1
    metas = [json.loads(str(np.load(path)["meta"])) for path in (folder / "shards").glob("shard-*.npz")]
    assert len(metas) == 21
    # two workers ran shards at the same time: some two shards' intervals overlap on different processes
    spans = [(m["started_at"], m["started_at"] + m["seconds"], m["pid"]) for m in metas]
    assert any(a0 < b1 and b0 < a1 and pa != pb for a0, a1, pa in spans for b0, b1, pb in spans)
    # the shard the killed worker was in the middle of was run again by another worker: every shard
    # is there, none finished by the killed process after it died, and some finished after
    assert killed, "no worker was caught running a shard"
    pid, when = killed
    assert all(m["started_at"] + m["seconds"] < when for m in metas if m["pid"] == pid)
    assert any(m["pid"] != pid and m["started_at"] + m["seconds"] > when for m in metas)
    assert raylets() <= before, "the local Ray instance was left running"


@needs_ray
def test_the_hayne_grid_on_a_two_node_cluster_matches_the_local_run(tmp_path, hayne_reference):
    """A head and one more node, separate `ray start` processes with one CPU each: the grid's
    conditions shards run on both nodes, and the folder is the local run's byte for byte."""
    import socket
    import tempfile

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, RAY_ADDRESS="")
    # Ray's sockets live under its temp dir, and a Unix socket's path may be 107 bytes at most: a
    # short folder of its own, not tmp_path
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    started = subprocess.run(["ray", "start", "--head", "--num-cpus", "1", "--port", str(port), "--temp-dir", temp,
                              "--include-dashboard=false", "--disable-usage-stats"],
                             capture_output=True, text=True, env=env, timeout=120)
    try:
        assert started.returncode == 0, started.stderr
        # `ray start` clusters use token authentication (Ray >= 2.59), the head's token in ~/.ray/auth_token
        token = dict(env, RAY_AUTH_MODE="token")
        joined = subprocess.run(["ray", "start", "--address", f"127.0.0.1:{port}", "--num-cpus", "1",
                                 "--disable-usage-stats"], capture_output=True, text=True, env=token, timeout=120)
        assert joined.returncode == 0, joined.stderr
        cache = hayne_reference / "cache"           # the network trained once, shared by both nodes
        on_cluster = abl("run", HAYNE, *GRID, "--ray-address", f"127.0.0.1:{port}", "--out", str(tmp_path / "ray"),
                         "--no-figures", cache=cache, env_extra={"RAY_AUTH_MODE": "token"})
        assert on_cluster.returncode == 1, on_cluster.stderr
        assert_same_run(tmp_path / "ray", hayne_reference / "run")
        assert manifest(tmp_path / "ray")["execution"]["executor"] == "ray"
        metas = shard_metas(tmp_path / "ray")
        assert sorted(m["kind"] for m in metas.values()) == ["conditions"] * 4 + ["recording"]
        nodes = {m["node"] for m in metas.values() if m["kind"] == "conditions"}
        assert len(nodes) == 2 and all("Ray node" in node for node in nodes), nodes
        # a spec error on a worker reads as it does locally, and the cluster is left as it was
        spec = tmp_path / "bad.abl"
        spec.write_text(Path(DIGIT7).read_text().replace("in fc2", "in fc9"))
        local_error = abl("run", str(spec), "--out", str(tmp_path / "bad-local"), cache=cache)
        ray_error = abl("run", str(spec), "--ray-address", f"127.0.0.1:{port}", "--out", str(tmp_path / "bad-ray"),
                        cache=cache, env_extra={"RAY_AUTH_MODE": "token"})
        assert local_error.returncode == ray_error.returncode == 2
        message = local_error.stderr[local_error.stderr.index(f"{spec}:"):]
        assert "E401" in message and "^^^" in message
        assert ray_error.stderr.endswith(message) and "Traceback" not in ray_error.stderr
        deadline = time.time() + 60
        while True:     # the cluster the run joined is still up, and soon runs nothing of ours
            status = subprocess.run(["ray", "status", "--address", f"127.0.0.1:{port}"], capture_output=True,
                                    text=True, timeout=60, env=token)
            assert status.returncode == 0, status.stderr
            if "0.0/2.0 CPU" in status.stdout or time.time() > deadline:
                break
            time.sleep(1)
        assert "0.0/2.0 CPU" in status.stdout, status.stdout
    finally:
        subprocess.run(["ray", "stop", "--force"], capture_output=True, timeout=120)
        import shutil

        shutil.rmtree(temp, ignore_errors=True)


def test_without_ray_the_flag_says_how_to_install_it(tmp_path):
    code = ("import sys; sys.modules['ray'] = None; from abl.interpreter.cli.main import main; "
            f"sys.exit(main(['run', {DIGIT7!r}, '--executor', 'ray', '--out', {str(tmp_path / 'run')!r}]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ, NO_COLOR="1"), timeout=120)
    assert done.returncode == 2
    assert "needs Ray" in done.stderr and "pip install 'abl[ray]'" in done.stderr
    assert not (tmp_path / "run").exists()

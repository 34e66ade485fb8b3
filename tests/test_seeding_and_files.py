"""The smaller mends of issue 33: one seeding recipe that keeps the whole seed, one ddof for
standard deviations, and atomic files flushed to disk before their rename without touching the
process's umask."""

import os
import stat

import numpy as np
import pytest

from abl.interpreter import atomic
from abl.interpreter.run.statistics import stream_seed
from abl.interpreter.seeding import sd, seed32, seed63


def test_the_whole_seed_is_kept():
    assert seed32(7) == 7 and seed63(7) == 7 and seed63(2 ** 40) == 2 ** 40      # ordinary seeds unchanged
    big = 2 ** 70 + 5
    assert 0 <= seed32(big) < 2 ** 32 and 0 <= seed63(big) < 2 ** 63
    assert seed32(2 ** 40 + 5) != seed32(2 ** 41 + 5) != 5      # no cut to the low 32 bits
    assert stream_seed(2 ** 32 + 5, "x").random() != stream_seed(5, "x").random()
    assert stream_seed(5, "x").random() == np.random.default_rng(
        np.random.SeedSequence([5, int.from_bytes(__import__("hashlib").sha256(b"x").digest()[:8], "little")])).random()


def test_a_seed_past_the_range_is_refused_before_any_work():
    """The language's seeds run from 0 to 2**32 - 1 (E301, issue 31); inside that range the recipe
    above keeps the whole seed wherever abl derives streams from it."""
    from abl.spec.frontend import compile_text

    spec = (f'experiment "big seed"\nseed {2 ** 70}\nstimuli train = digits split train\n'
            "stimuli test = digits split test\nmodel net = train mlp [64, 16, 10] on train epochs 1\n"
            "measure accuracy on test\n")
    codes = [d.code for d in compile_text(spec, "big.abl").diagnostics]
    assert codes == ["E301"]


def test_one_ddof():
    assert sd([1.0, 2.0, 3.0]) == pytest.approx(1.0) and sd([4.0]) == 0.0


def test_atomic_files_are_flushed_before_the_rename_and_leave_the_umask_alone(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append("replace"), real_replace(a, b))[1])

    def no_umask(mask):
        raise AssertionError("atomic writes must not toggle the process-wide umask")

    monkeypatch.setattr(os, "umask", no_umask)
    target = tmp_path / "out.txt"
    atomic.write_text(target, "one")
    assert target.read_text() == "one" and events[:2] == ["fsync", "replace"]
    monkeypatch.undo()
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    os.chmod(target, 0o640)
    atomic.write_text(target, "two")                   # a rewritten file keeps its mode
    assert target.read_text() == "two" and stat.S_IMODE(target.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]

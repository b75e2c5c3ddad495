"""Kill a smoke job with SIGKILL part-way, rerun the same command: it resumes and its results equal
an uninterrupted run's byte for byte (timing apart). Also: ``--fresh``, and the output lock."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from bayeskd.cli import main
from bayeskd.io import locked_output

ARGS = ["compare-priors", "--size", "smoke", "--priors", "none,kd", "--seeds", "1", "--no-progress"]
OUTPUTS = ("results.json", "results.csv", "compare_priors.png", "reliability.png")


def _results(out):
    """results.json without its provenance and command (the runs differ in ``--out``, and a commit made while
    the test runs would change the recorded commit); the whole-file byte comparison is
    ``test_reliability_determinism.py``."""
    assert json.loads((out / "timing.json").read_text())["runtime_s"] > 0
    r = json.loads((out / "results.json").read_text())
    assert r.pop("provenance")["command"].startswith("bayeskd compare-priors")
    assert r.pop("command").startswith("bayeskd compare-priors")  # names its --out
    return json.dumps(r, sort_keys=True)


def _kill_when(proc, ready, log_path, *, timeout=300.0):
    """SIGKILL ``proc`` as soon as ``ready()`` holds; fail if it exits or times out first."""
    t0 = time.monotonic()
    while not ready():
        if proc.poll() is not None:
            pytest.fail(f"the job ended (status {proc.returncode}) before it could be killed:\n"
                        + log_path.read_text())
        if time.monotonic() - t0 > timeout:
            proc.kill()
            proc.wait()
            pytest.fail("the job never reached its first student checkpoint")
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL


def _run_and_kill(args, out, log_path, env, ready):
    """Run the job in a child process and SIGKILL it once ``ready()`` holds."""
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "bayeskd.cli", *args, "--out", str(out)],
                                stdout=log, stderr=subprocess.STDOUT, env=env)
        _kill_when(proc, ready, log_path)


def _steps_trained(log: str, unit: str) -> tuple[int, int] | None:
    """``(trained here, total)`` from the job's line for ``unit`` (``None``: not trained here)."""
    m = re.search(rf"\] {unit}: (\d+) of (\d+) steps trained here", log)
    return (int(m.group(1)), int(m.group(2))) if m else None


def _resumed_at(log: str, unit: str) -> int:
    m = re.search(rf"resuming {unit} from step (\d+)", log)
    assert m, f"no resume of {unit} in:\n{log}"
    return int(m.group(1))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """An uninterrupted run; a run killed while training its teacher (with an empty cache, so the
    teacher is trained, not read from the cache); its rerun killed while training the first
    students; and the final rerun's log."""
    root = tmp_path_factory.mktemp("resume")
    ref, killed = root / "ref", root / "killed"
    assert main([*ARGS, "--out", str(ref)]) == 0

    env = os.environ | {"BAYESKD_CACHE": str(root / "cache")}
    train = killed / ".checkpoints" / "train"
    _run_and_kill(ARGS, killed, root / "kill1.log", env,
                  lambda: any((train / "teacher").glob("step_*.json")))
    before = sorted(p.name for p in killed.iterdir())
    _run_and_kill(ARGS, killed, root / "kill2.log", env,
                  lambda: any((train / "student-none").glob("step_*.json")))
    return {"ref": ref, "killed": killed, "before_rerun": before,
            "kill2_log": (root / "kill2.log").read_text(), "env": env}


def test_kill_then_rerun_resumes_and_gives_the_uninterrupted_results(runs, capsys, monkeypatch):
    killed = runs["killed"]
    # the kill came mid-way: no results yet, and nothing half-written
    assert "results.json" not in runs["before_rerun"]
    assert not [n for n in runs["before_rerun"] if n.endswith(".tmp")]
    # the first rerun resumed the teacher and trained only the steps it had not checkpointed
    log2 = runs["kill2_log"]
    start = _resumed_at(log2, "teacher")
    assert 0 < start < 400
    assert f"teacher cnn: {400 - start} of 400 steps trained here" in log2, log2
    # the last rerun: the teacher comes from its unit, the first students resume mid-training
    monkeypatch.setenv("BAYESKD_CACHE", runs["env"]["BAYESKD_CACHE"])
    capsys.readouterr()
    assert main([*ARGS, "--out", str(killed)]) == 0
    log = capsys.readouterr().out
    assert "steps trained here" not in log.split("teacher: accuracy")[0]  # from the cache
    none = _steps_trained(log, "none")
    if none is None:  # the kill came after the first students were finished and stored
        assert "unit student-none: reloaded" in log
    else:
        assert none == (300 - _resumed_at(log, "student-none"), 300) and none[0] < 300
    assert _steps_trained(log, "kd") == (300, 300)  # never started before: trained in full
    # ...and its outputs equal the uninterrupted run's
    assert _results(killed) == _results(runs["ref"])
    for name in OUTPUTS[1:]:
        assert (killed / name).read_bytes() == (runs["ref"] / name).read_bytes(), name


def test_fresh_ignores_checkpoints_and_gives_the_same_results(runs, capsys):
    out = runs["ref"]
    capsys.readouterr()
    assert main([*ARGS, "--out", str(out), "--fresh"]) == 0
    log = capsys.readouterr().out
    assert "--fresh: ignoring the checkpoints" in log and "reloaded" not in log
    assert "resuming" not in log
    assert "teacher cnn: 400 of 400 steps trained here" in log  # --fresh retrains the teacher
    assert _results(out) == _results(runs["killed"])


def test_second_job_on_the_same_out_refuses(tmp_path, capsys):
    out = tmp_path / "busy"
    with locked_output(out):
        (out / "partial.txt").write_text("first job's file")
        assert main([*ARGS, "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--out" in err[0] and "in use by another bayeskd job" in err[0]
        assert sorted(p.name for p in out.iterdir()) == [".bayeskd.lock", "partial.txt"]
    # once the first job is gone the folder is free again (SIGKILL frees the lock too: above)
    with locked_output(out):
        pass

"""Kill a smoke job with SIGKILL part-way, rerun the same command: it resumes and its results equal
an uninterrupted run's byte for byte (timing apart). Also: ``--fresh``, and the output lock."""

import json
import os
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
    assert json.loads((out / "timing.json").read_text())["runtime_s"] > 0
    return (out / "results.json").read_text()


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


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """An uninterrupted run, and a run killed in the middle of training its first students."""
    root = tmp_path_factory.mktemp("resume")
    ref, killed = root / "ref", root / "killed"
    assert main([*ARGS, "--out", str(ref)]) == 0

    log_path = root / "killed.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "bayeskd.cli", *ARGS, "--out", str(killed)],
                                stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
        first = killed / ".checkpoints" / "train" / "student-none"
        _kill_when(proc, lambda: any(first.glob("step_*.json")), log_path)
    return {"ref": ref, "killed": killed, "before_rerun": sorted(p.name for p in killed.iterdir()),
            "killed_log": log_path.read_text()}


def test_kill_then_rerun_resumes_and_gives_the_uninterrupted_results(runs, capsys):
    killed = runs["killed"]
    # the kill came mid-way: no results yet, and nothing half-written
    assert "results.json" not in runs["before_rerun"], runs["killed_log"]
    assert not [n for n in runs["before_rerun"] if n.endswith(".tmp")]
    capsys.readouterr()
    assert main([*ARGS, "--out", str(killed)]) == 0
    log = capsys.readouterr().out
    # it resumed: the teacher came from its checkpoint, and the first students continued from
    # a mid-training checkpoint (or, if the kill came a little later, were already finished)
    assert "resuming from" in log and "teacher: accuracy" in log
    assert [line for line in log.splitlines() if "teacher: accuracy" in line][0].endswith(
        "(checkpoint)")
    assert ("resuming student-none from step" in log) or (
        "none             accuracy" in log and "(checkpoint)" in log.split("none ")[1])
    # ...and its outputs equal the uninterrupted run's
    assert _results(killed) == _results(runs["ref"])
    for name in OUTPUTS[1:]:
        assert (killed / name).read_bytes() == (runs["ref"] / name).read_bytes(), name


def test_fresh_ignores_checkpoints_and_gives_the_same_results(runs, capsys):
    out = runs["ref"]
    capsys.readouterr()
    assert main([*ARGS, "--out", str(out), "--fresh"]) == 0
    log = capsys.readouterr().out
    assert "--fresh: ignoring the checkpoints" in log and "(checkpoint)" not in log
    assert "resuming" not in log
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

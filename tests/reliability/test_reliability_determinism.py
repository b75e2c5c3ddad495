"""The whole job is deterministic: the same ``compare-priors`` command, run in two fresh processes
from two folders with separate caches (so the data are regenerated and the teacher retrained),
writes the same ``results.json`` byte for byte, provenance included (wall times go to
``timing.json``)."""

import json
import os
import subprocess
import sys

import pytest

ARGS = ["compare-priors", "--size", "smoke", "--priors", "none,kd", "--seeds", "1", "--no-progress"]


@pytest.mark.slow
def test_same_command_in_fresh_processes_writes_identical_bytes(tmp_path):
    outs = []
    for run in ("a", "b"):
        env = dict(os.environ, BAYESKD_CACHE=str(tmp_path / f"cache-{run}"))
        cwd = tmp_path / run
        cwd.mkdir()
        out = cwd / "out"  # the same command line in both folders: --out out
        r = subprocess.run([sys.executable, "-m", "bayeskd.cli", *ARGS, "--out", "out"],
                           env=env, capture_output=True, text=True, timeout=900, cwd=cwd)
        assert r.returncode == 0, r.stderr[-2000:]
        assert "(cached)" not in r.stdout  # each run trained its own teacher
        assert list((tmp_path / f"cache-{run}" / "teachers").glob("*.npz"))
        outs.append(out)
    a, b = outs
    assert (a / "results.json").read_bytes() == (b / "results.json").read_bytes()
    assert (a / "results.csv").read_bytes() == (b / "results.csv").read_bytes()
    results = json.loads((a / "results.json").read_text())
    assert "timing" not in results
    assert results["provenance"]["command"].startswith("bayeskd compare-priors --size smoke")
    times = [json.loads((d / "timing.json").read_text())["runtime_s"] for d in outs]
    assert all(t > 0 for t in times)

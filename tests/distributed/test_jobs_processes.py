"""Every job on two processes on the loopback address gives the results of the same job on one
process, at smoke size. A killed process 0 ends its peer in one line; the same command then
finishes the run from the units already stored.

The three jobs run in the default suite, each with a few of its arms (``JOBS``, ``KILLED``):
this file takes about 5 minutes of this machine's two cores, because every process of a pair
computes every unit and one smoke job costs about 70 CPU seconds, mostly compilation. Every
``reproduce`` figure on two processes runs with ``pytest -m heavy tests/distributed`` (one
``reproduce --all`` on two processes and on one, about 17 minutes).
"""

import json
import pathlib
import time

import pytest

SMOKE = ("--size", "smoke", "--no-progress")
# Fewer arms and seeds than the jobs' defaults (the suite's time): a trained teacher, a
# labels-only and an on-policy student of one seed; the NUTS reference, a MAP and SGLD chains;
# three priors (no prior, KD, weight decay), so that the killed run has units left to resume.
JOBS = {"lm-distill": ("lm-distill", *SMOKE, "--methods", "hard,on_policy-forward_kl",
                       "--seeds", "1"),
        "posterior-zoo": ("posterior-zoo", *SMOKE, "--methods", "map,sgld")}
KILLED = ("compare-priors", *SMOKE, "--priors", "none,kd,weight_decay")  # killed, then rerun
COMPARED = ("rows", "values", "summary", "verdicts", "extra")


def _pair(start, args, out, cache, port=None):
    """Processes 0 and 1 of one run of ``args`` into ``out`` (one CPU device each)."""
    port = port or start.free_port()
    return [start.cli(*args, "--out", str(out), "--coordinator", f"127.0.0.1:{port}",
                      "--num-processes", "2", "--process-id", str(i), "--devices", "1",
                      devices=1, env={"BAYESKD_CACHE": str(cache)}, timeout=600) for i in (0, 1)]


def _alone(start, args, out, cache):
    return start.cli(*args, "--out", str(out), devices=1, env={"BAYESKD_CACHE": str(cache)},
                     timeout=600)


def _ok(child) -> str:
    code, out, err, _ = child.wait()
    assert code == 0, err[-3000:]
    return out


def _results(out: pathlib.Path) -> dict:
    data = json.loads((out / "results.json").read_text())
    return {k: data[k] for k in COMPARED}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, start):
    """Every run of this file, started at once (each job: its own caches for two and for one)."""
    root = tmp_path_factory.mktemp("jobs")
    t0 = time.monotonic()
    started = {name: (_pair(start, args, root / name / "two", root / name / "cache-two"),
                      _alone(start, args, root / name / "one", root / name / "cache-one"))
               for name, args in JOBS.items()}
    killed = root / "killed"
    doomed, survivor = _pair(start, KILLED, killed / "two", killed / "cache-two")
    alone = _alone(start, KILLED, killed / "one", killed / "cache-one")
    units = killed / "two" / ".checkpoints" / "units"
    while not list(units.glob("*.npz")):  # process 0 stored its first unit: kill it mid-run
        assert doomed.proc.poll() is None, doomed.wait()[2][-3000:]
        assert time.monotonic() - t0 < 500, "process 0 stored no unit"
        time.sleep(0.1)
    stored = sorted(p.stem for p in units.glob("*.npz"))
    doomed.kill()
    lost = survivor.wait()
    again = _pair(start, KILLED, killed / "two", killed / "cache-two")
    outs = [_ok(c) for c in again]
    _ok(alone)
    for pair, one in started.values():
        for child in (*pair, one):
            _ok(child)
    return {"root": root, "lost": lost, "stored": stored, "again": outs, "killed": killed,
            "seconds": time.monotonic() - t0}


@pytest.mark.parametrize("name", JOBS)
def test_a_job_on_two_processes_equals_it_on_one(runs, name):
    two, one = runs["root"] / name / "two", runs["root"] / name / "one"
    assert _results(two) == _results(one)
    # only process 0 wrote: one set of outputs, no second writer's leftovers
    assert not [p.name for p in two.rglob("*") if ".tmp" in p.name or p.name.endswith("-1.json")]


def test_a_lost_process_0_is_one_line_on_its_peer(runs):
    code, _, err, seconds = runs["lost"]
    assert code == 1, err[-3000:]
    lines = err.strip().splitlines()
    assert len(lines) == 1, err[-3000:]
    assert lines[0].startswith("bayeskd: error: process 0 (the coordinator) of this run was lost")
    assert "run the same command on every process to resume" in lines[0]
    assert "Check failure" not in err and "Traceback" not in err
    print(lines[0])  # shown with -s: the line a survivor prints


def test_the_same_command_finishes_the_killed_run_from_its_stored_units(runs):
    first, second = runs["again"]
    reloaded = [line.split("unit ")[1].split(":")[0] for line in first.splitlines()
                if "[checkpoint] unit" in line and "reloaded" in line]
    assert runs["stored"] and set(runs["stored"]) <= set(reloaded), (runs["stored"], reloaded)
    assert "process 0 wrote" in second  # process 1 says who wrote
    killed = runs["killed"]
    assert _results(killed / "two") == _results(killed / "one")


@pytest.mark.heavy
def test_every_figure_on_two_processes_equals_it_on_one(tmp_path, start):
    args = ("reproduce", "--all", *SMOKE)
    pair = _pair(start, args, tmp_path / "two", tmp_path / "cache-two")
    one = _alone(start, args, tmp_path / "one", tmp_path / "cache-one")
    for child in (*pair, one):
        child.timeout = 1500
        _ok(child)
    from bayeskd.experiments.registry import FIGURES

    for name in FIGURES:
        assert _results(tmp_path / "two" / name) == _results(tmp_path / "one" / name), name

"""Two processes on the loopback address form one 4-device mesh (fit, checkpoint, resume); bad
settings, a lonely process 0 and disagreeing process counts fail in one line, writing nothing."""

import json

import numpy as np
import pytest

from bayeskd.cli import main


@pytest.fixture(scope="module", autouse=True)
def _start_together(failed_starts, two_processes, single):
    """Every child this file reads starts at once: most of their time is spent waiting."""


def _results(two_processes) -> list[dict]:
    return [child.json() for child in two_processes[1]]


def test_two_processes_fit_equal_one_process(two_processes, single, reference_dir):
    outs = _results(two_processes)
    assert [o["process"] for o in outs] == [0, 1]
    assert all(o["devices"] == 4 and o["local"] == 2 for o in outs)
    np.testing.assert_allclose(outs[0]["loss"], single.json()["reference_loss"], atol=1e-5)
    assert outs[1]["loss"] == outs[0]["loss"]  # every process sees the gathered losses
    written = json.loads((two_processes[0] / "result-0.json").read_text())
    expected = np.load(reference_dir / "reference.npz")
    for i, leaf in enumerate(written["params"]):
        np.testing.assert_allclose(np.asarray(leaf), expected[f"arr_{i}"], atol=1e-5)


def test_two_processes_resume_on_the_mesh(two_processes):
    outs = _results(two_processes)
    assert [o["steps_run"] for o in outs] == [20, 20]  # resumed from the halfway checkpoint
    # The restored state is placed again: members split over the 4 devices of both processes.
    assert all(o["spec"] == "P('members',)" and o["spread"] == 4 for o in outs), outs


def test_only_process_zero_writes(two_processes):
    _results(two_processes)
    out = two_processes[0]
    assert json.loads((out / "result-0.json").read_text())["writer"] == 0
    assert not (out / "result-1.json").exists()  # process 1 skipped its write


@pytest.mark.parametrize(("args", "message"), [
    (("--devices", "2"), "--devices: at most 1 CPU device(s) are available, got 2"),
    (("--mesh", "data=3"), "--mesh: data * vocab = 3 must divide the 1 devices"),
    (("--num-processes", "2"), "--coordinator: a multi-process run needs"),
    (("--coordinator", "127.0.0.1:9", "--num-processes", "2", "--process-id", "2"),
     "--process-id: must lie in [0, 2) for --num-processes 2, got 2"),
])
def test_bad_device_and_process_settings_fail_in_one_line(args, message, capsys, tmp_path):
    assert main(["reproduce", "kd_as_map", "--size", "smoke", "--out", str(tmp_path / "out"),
                 *args]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"bayeskd: error: {message}"), lines
    assert not (tmp_path / "out").exists()


def _job(start, out, coordinator: str, num_processes: int, process_id: int, timeout: int):
    return start.cli("reproduce", "kd_as_map", "--size", "smoke", "--out", str(out),
               "--coordinator", coordinator, "--num-processes", str(num_processes),
               "--process-id", str(process_id), "--init-timeout", str(timeout))


@pytest.fixture(scope="module")
def failed_starts(tmp_path_factory, start):
    """Processes that cannot form a run, all started at once: ``name -> (child, out folder)``."""
    root = tmp_path_factory.mktemp("failed_starts")
    lonely, unreachable, disagree = (f"127.0.0.1:{start.free_port()}" for _ in range(3))
    cases = {"unreachable": (unreachable, 2, 1, 2),  # process 1; nothing listens there
             "lonely": (lonely, 2, 0, 2),  # process 0; process 1 never comes
             "says_2": (disagree, 2, 0, 300), "says_3": (disagree, 3, 1, 300)}
    return {name: (_job(start, root / name, *case), root / name) for name, case in cases.items()}


# Seconds from start to exit, interpreter start included (a few seconds; more on a busy machine):
# the disagreeing pair must not wait out its 300 s --init-timeout.
WITHIN = 120


@pytest.mark.parametrize(("name", "code", "message"), [
    ("unreachable", 1, "unreachable after 2 s"),
    ("lonely", 1, "process(es) 1 of --num-processes 2 did not arrive within 2 s"),
    ("says_2", 2, "--num-processes: process 1 was started with 3, process 0 with 2"),
    ("says_3", 2, "--num-processes: process 0 was started with 2, process 1 with 3"),
])
def test_processes_that_cannot_meet_fail_in_one_line(failed_starts, name, code, message):
    child, out = failed_starts[name]
    returncode, _, stderr, seconds = child.wait()
    lines = stderr.strip().splitlines()
    assert returncode == code, stderr[-3000:]
    assert len(lines) == 1 and message in lines[0], lines
    assert seconds < WITHIN
    assert not out.exists()


@pytest.fixture(scope="module")
def runner_runs(tmp_path_factory, start):
    """The runner's worked example on two processes (one output folder) and on one."""
    two, one, port = (tmp_path_factory.mktemp("runner_two"), tmp_path_factory.mktemp("runner_one"),
                      str(start.free_port()))
    children = [start.program("runner_job", str(i), port, str(two / "out"), devices=1)
                for i in (0, 1)]
    alone = start.program("runner_job", "-", "0", str(one / "out"), devices=1)
    return two / "out", [c.json() for c in children], alone.json()


def test_runner_on_two_processes_equals_one_process(runner_runs):
    out, (first, second), alone = runner_runs
    # Process 1 received process 0's units (it did not read None), so all three agree exactly.
    assert first == second == alone
    assert json.loads((out / "results.json").read_text())["rows"] == alone["rows"]
    # Only process 0 wrote: one set of files, no leftovers of a second writer.
    assert not [p.name for p in out.rglob("*") if ".tmp" in p.name or p.name.endswith("-1.json")]


def test_a_lost_peer_is_one_line(start):
    """Process 0 dies mid-run: the survivor prints one line naming it and its own last step,
    exits with status 1, and none of the runtime's abort trace reaches the user."""
    port = str(start.free_port())
    doomed = start.program("peer_loop", "0", port, devices=1)
    survivor = start.program("supervised_peer", "1", port, devices=1).json()
    code, _, err, _ = doomed.wait()
    assert code == -9, err[-2000:]  # killed, as a lost machine
    assert survivor["code"] == 1
    lines = survivor["stderr"].splitlines()
    assert len(lines) == 1, survivor["stderr"][-2000:]
    assert lines[0].startswith("bayeskd: error: process 0 (the coordinator) of this run was lost")
    assert "[peer_loop] step" in lines[0] and "to resume" in lines[0]
    assert "Check failure" not in survivor["stdout"] + survivor["stderr"]

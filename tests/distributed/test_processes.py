"""Two processes on the loopback address form one 4-device mesh (fit, checkpoint, resume); bad
settings fail in one line."""

import json
import socket
import subprocess
import sys
import time

import numpy as np


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_fit_and_resume_equal_one_process(tmp_path, run_program, programs):
    PROGRAMS, _, environment = programs
    port = str(_free_port())
    env = environment(devices=1)
    env.pop("XLA_FLAGS")  # each process gets its two CPU devices from jax_num_cpu_devices
    procs = [subprocess.Popen([sys.executable, str(PROGRAMS), "multiprocess", str(i), port,
                               str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for i in (0, 1)]
    outs = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=120)
        assert p.returncode == 0, stderr[-3000:]
        outs.append(json.loads(stdout.strip().splitlines()[-1]))
    assert [o["process"] for o in outs] == [0, 1]
    assert all(o["devices"] == 4 and o["local"] == 2 for o in outs)
    assert [o["steps_run"] for o in outs] == [20, 20]  # resumed from the halfway checkpoint
    ref = run_program("one_process", str(tmp_path), devices=1)
    np.testing.assert_allclose(outs[0]["loss"], ref["loss"], atol=1e-5)
    assert outs[1]["loss"] == outs[0]["loss"]  # every process sees the gathered losses
    written = json.loads((tmp_path / "result-0.json").read_text())
    assert written["writer"] == 0
    assert not (tmp_path / "result-1.json").exists()  # process 1 skipped its write
    expected = np.load(tmp_path / "reference.npz")
    for i, leaf in enumerate(written["params"]):
        np.testing.assert_allclose(np.asarray(leaf), expected[f"arr_{i}"], atol=1e-5)


def _cli(programs, *args: str, timeout: float = 60):
    _, ROOT, environment = programs
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "bayeskd.cli", "check-results", *args],
                          capture_output=True, text=True, env=environment(devices=2),
                          timeout=timeout, cwd=ROOT)
    return proc, time.monotonic() - t0


def test_bad_device_and_process_settings_fail_in_one_line(programs):
    cases = [
        (("--devices", "3"), 2, "--devices: at most 2 CPU device(s) are available, got 3"),
        (("--mesh", "data=3"), 2, "--mesh: data * vocab = 3 must divide the 2 devices"),
        (("--num-processes", "2"), 2, "--coordinator: a multi-process run needs"),
        (("--coordinator", "127.0.0.1:9", "--num-processes", "2", "--process-id", "2"), 2,
         "--process-id: must lie in [0, 2) for --num-processes 2, got 2"),
    ]
    for args, code, message in cases:
        proc, _ = _cli(programs, *args)
        assert proc.returncode == code, (args, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"bayeskd: error: {message}"), lines


def test_unreachable_coordinator_fails_within_the_timeout(programs):
    port = str(_free_port())  # nothing listens there
    proc, seconds = _cli(programs, "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2",
                         "--process-id", "1", "--init-timeout", "2")
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "unreachable after 2 s" in lines[0], lines
    assert seconds < 30

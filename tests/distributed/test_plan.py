"""The memory plan's models have the sizes it claims; the mesh and process settings are checked."""

import re

import pytest

from bayeskd.bench.memory_plan import STUDENT, TEACHER, VOCAB
from bayeskd.distributed import make_mesh, parse_mesh, process_settings


def test_plan_models_are_1b_teacher_and_100m_student():
    assert VOCAB == 131_072
    assert 1.0e9 <= TEACHER.params() <= 1.1e9
    assert 1.0e8 <= STUDENT.params() <= 1.1e8


def test_mesh_and_process_settings_errors():
    with pytest.raises(ValueError, match=r"^devices: at most 1 CPU device\(s\) are available"):
        make_mesh(2)
    assert dict(make_mesh(1).shape) == {"members": 1, "data": 1, "vocab": 1}
    assert parse_mesh("data=2,vocab=4") == {"data": 2, "vocab": 4}
    with pytest.raises(ValueError, match="^--mesh: must look like"):
        parse_mesh("members=2")
    assert process_settings(env={}) is None
    env = {"BAYESKD_COORDINATOR": "10.0.0.1:123", "BAYESKD_NUM_PROCESSES": "4",
           "BAYESKD_PROCESS_ID": "3"}
    assert process_settings(env=env) == {"coordinator": "10.0.0.1:123", "num_processes": 4,
                                         "process_id": 3}
    assert process_settings(process_id=1, env=env)["process_id"] == 1  # flags win
    with pytest.raises(ValueError, match=r"^--process-id: must lie in \[0, 4\)"):
        process_settings(process_id=4, env=env)
    with pytest.raises(ValueError, match="^--coordinator: must be HOST:PORT"):
        process_settings("10.0.0.1", 2, 0, env={})
    with pytest.raises(ValueError, match="^--process-id: a multi-process run needs"):
        process_settings("10.0.0.1:1", 2, env={})
    assert process_settings(env={"SLURM_NTASKS": "8", "SLURM_STEP_NODELIST": "n[1-2]"}) == {
        "cluster": "slurm"}


def _meet(settings: list[tuple[int, int]], timeout_s: int = 20) -> list[str]:
    """Each ``(process_id, num_processes)`` meets on one loopback port (threads, no JAX runtime);
    what each raised, or ``"ok"``."""
    import socket
    import threading

    from bayeskd.distributed import _rendezvous

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    outcome = ["ok"] * len(settings)

    def one(i, pid, n):
        try:
            _rendezvous(f"127.0.0.1:{port}", pid, n, timeout_s)
        except (ValueError, RuntimeError) as e:
            outcome[i] = f"{type(e).__name__}: {e}"

    threads = [threading.Thread(target=one, args=(i, *s)) for i, s in enumerate(settings)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(2 * timeout_s)
    return outcome


def test_processes_meet_before_the_runtime():
    assert _meet([(0, 3), (1, 3), (2, 3)]) == ["ok"] * 3
    out = _meet([(0, 3), (1, 3), (1, 3)])  # two processes say they are process 1
    duplicate = "--process-id: two processes were started with 1"
    assert out[0] == f"ValueError: {duplicate}", out
    assert all(re.fullmatch(rf"DistributedInitError: coordinator 127\.0\.0\.1:\d+: process 0 "
                            rf"stopped the run: {duplicate}", o) for o in out[1:]), out
    out = _meet([(0, 2)], timeout_s=1)  # process 1 never comes
    assert re.fullmatch(r"DistributedInitError: coordinator 127\.0\.0\.1:\d+: process\(es\) 1 of "
                        r"--num-processes 2 did not arrive within 1 s", out[0]), out

"""The memory plan's models have the sizes it claims; the mesh and process settings are checked."""

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

"""Run a program of ``programs.py`` in a fresh Python with forced CPU devices; parse its JSON."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

PROGRAMS = pathlib.Path(__file__).with_name("programs.py")
ROOT = pathlib.Path(__file__).parents[2]


def environment(devices: int = 1) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    env["JAX_PLATFORMS"] = "cpu"
    return env


@pytest.fixture
def programs():
    """``(programs.py, repository root, environment(devices))`` for tests that start processes."""
    return PROGRAMS, ROOT, environment


@pytest.fixture
def run_program():
    def run(name: str, *args: str, devices: int = 4, timeout: float = 120) -> dict:
        proc = subprocess.run([sys.executable, str(PROGRAMS), name, *args], capture_output=True,
                              text=True, env=environment(devices), timeout=timeout)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return json.loads(proc.stdout.strip().splitlines()[-1])

    return run

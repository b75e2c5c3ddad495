"""Programs of ``programs.py`` and CLI commands in fresh Pythons with forced CPU devices.

Each kind of run starts once per test session, in the background, when a test first asks for
it; the tests that read the same run share it.
"""

import contextlib
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import threading
import time
import types

import pytest

PROGRAMS = pathlib.Path(__file__).with_name("programs.py")
ROOT = pathlib.Path(__file__).parents[2]


def environment(devices: int | None = 1) -> dict:
    """The environment of a child: this checkout first, CPU only, ``devices`` forced devices
    (``None``: leave the count to the child)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.pop("XLA_FLAGS", None)
    if devices is not None:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    env["JAX_PLATFORMS"] = "cpu"
    # The programs are small and compile-bound: XLA optimises little (each comparison is between
    # programs compiled alike, so it tests the sharding, not the optimiser).
    env["JAX_DISABLE_MOST_OPTIMIZATIONS"] = "1"
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_STARTED: list = []


@pytest.fixture(scope="session", autouse=True)
def _stop_children():
    """No child outlives the session (a failing test may leave one waiting on its peers)."""
    yield
    for child in _STARTED:
        if child.proc.poll() is None:
            child.kill()


class Child:
    """A started child process; :meth:`wait` gives ``(returncode, stdout, stderr, seconds)``."""

    def __init__(self, args: list[str], *, devices: int | None, timeout: float = 240,
                 env: dict | None = None):
        self.timeout, t0 = timeout, time.monotonic()
        # its own process group: a test can kill it with every process it started
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=environment(devices) | (env or {}), cwd=ROOT,
                                     start_new_session=True)
        _STARTED.append(self)
        self._done = None

        def collect():  # in the background, so ``seconds`` is when the child ended
            out, err = self.proc.communicate()
            self._done = (self.proc.returncode, out, err, time.monotonic() - t0)

        self._reader = threading.Thread(target=collect, daemon=True)
        self._reader.start()

    def kill(self) -> None:
        """SIGKILL to the child and every process it started (as a lost machine would go)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def wait(self):
        self._reader.join(self.timeout)
        if self._done is None:
            self.kill()
            raise TimeoutError(f"{self.proc.args[2:]}: still running after {self.timeout} s")
        return self._done

    def json(self) -> dict:
        code, out, err, _ = self.wait()
        assert code == 0, err[-3000:]
        return json.loads(out.strip().splitlines()[-1])


def program(name: str, *args: str, devices: int | None = 4) -> Child:
    return Child([sys.executable, str(PROGRAMS), name, *args], devices=devices)


def cli(*args: str, devices: int = 2, env: dict | None = None, timeout: float = 400) -> Child:
    return Child([sys.executable, "-m", "bayeskd.cli", *args], devices=devices, timeout=timeout,
                 env=env)


class Shared:
    """A program run once per test session, even when xdist workers share the session.

    The first worker to ask starts it; :meth:`json` waits for its result (the starter writes it
    to ``folder``, the others read it there).
    """

    def __init__(self, folder: pathlib.Path, name: str, *args: str):
        self.result = folder / f"{name}.json"
        try:
            os.close(os.open(folder / f"{name}.started", os.O_CREAT | os.O_EXCL))
            self.child = program(name, *args)
        except FileExistsError:
            self.child = None

    def json(self) -> dict:
        if self.child is not None and not self.result.exists():
            code, out, err, _ = self.child.wait()
            data = json.loads(out.strip().splitlines()[-1]) if code == 0 else {"error": err[-3000:]}
            self.result.with_suffix(".tmp").write_text(json.dumps(data))
            self.result.with_suffix(".tmp").replace(self.result)
        deadline = time.monotonic() + 400
        while not self.result.exists():
            assert time.monotonic() < deadline, f"{self.result}: never written"
            time.sleep(0.5)
        data = json.loads(self.result.read_text())
        assert "error" not in data, data.get("error")
        return data


@pytest.fixture(scope="session")
def reference_dir(tmp_path_factory) -> pathlib.Path:
    """This session's folder for shared runs (common to the xdist workers of the session)."""
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "shared_runs"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def single(reference_dir) -> Shared:
    """Every one-process program on 4 CPU devices, one interpreter (see ``programs.single``)."""
    return Shared(reference_dir, "single", str(reference_dir))


@pytest.fixture(scope="session")
def two_processes(tmp_path_factory) -> tuple[pathlib.Path, list[Child]]:
    """Two processes with two CPU devices each: one sharded fit, checkpointed and resumed."""
    out, port = tmp_path_factory.mktemp("two_processes"), str(free_port())
    # Each process gets its two CPU devices from jax_num_cpu_devices (no XLA_FLAGS).
    return out, [program("multiprocess", str(i), port, str(out), devices=None) for i in (0, 1)]


@pytest.fixture(scope="session")
def start():
    """``start.cli(*args)``, ``start.program(name, *args)`` and ``start.free_port()``."""
    return types.SimpleNamespace(cli=cli, program=program, free_port=free_port)

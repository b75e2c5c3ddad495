"""Atomic outputs: a crash or a SIGKILL mid-write never leaves a half-written file."""

import importlib.util
import json
import pathlib
import signal
import subprocess
import sys
import time

import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import bayeskd.io as bio  # noqa: E402


class Crash(BaseException):
    pass


def test_crash_while_writing_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    bio.write_json(path, {"old": 1})

    def crash(fd):
        raise Crash

    monkeypatch.setattr(bio.os, "fsync", crash)
    with pytest.raises(Crash):
        bio.write_json(path, {"new": list(range(1000))})
    assert json.loads(path.read_text()) == {"old": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


def test_figure_that_fails_to_render_writes_nothing(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    with pytest.raises(ValueError):
        bio.save_figure(fig, tmp_path / "figure.notaformat")
    plt.close(fig)
    assert list(tmp_path.iterdir()) == []


def test_equal_figures_give_equal_bytes(tmp_path):
    for name in ("a.png", "b.png"):
        fig, ax = plt.subplots()
        ax.plot([0, 1, 2], [2, 0, 1])
        bio.save_figure(fig, tmp_path / name)
        plt.close(fig)
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


WRITER = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("bio", sys.argv[1])
bio = importlib.util.module_from_spec(spec); spec.loader.exec_module(bio)
payloads = [b'{"version": %d, "pad": "' % i + b"x" * 20_000_000 + b'"}' for i in range(2)]
i = 0
while True:  # nearly all of each round is spent inside write_bytes, so a kill lands mid-write
    bio.write_bytes(sys.argv[2], payloads[i % 2])
    if i == 0:
        print("written", flush=True)  # the test starts its clock only now (imports are slow under load)
    i += 1
"""


def test_sigkill_during_writes_leaves_a_whole_file(tmp_path):
    """A process rewrites a 20 MB results.json in a loop and is killed until a kill lands
    mid-write (a temporary file is left); results.json is whole every time."""
    io_path = pathlib.Path(importlib.util.find_spec("bayeskd.io").origin)
    target = tmp_path / "results.json"
    mid_write = 0
    for attempt in range(12):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(io_path), str(target)],
                                stdout=subprocess.PIPE)
        assert proc.stdout.readline() == b"written\n"
        time.sleep(0.013 * attempt)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        r = json.loads(target.read_bytes())  # never truncated
        assert len(r["pad"]) == 20_000_000 and isinstance(r["version"], int)
        leftovers = list(tmp_path.glob(".results.json.*.tmp"))
        mid_write += bool(leftovers)
        for p in leftovers:
            p.unlink()
        if mid_write and target.exists():
            break
    assert mid_write, "no kill landed mid-write; the test proved nothing"
    # the next job holding the folder clears the temporary files a kill leaves behind
    (tmp_path / ".results.csv.abc.tmp").write_bytes(b"half")
    with bio.locked_output(tmp_path):
        pass
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))

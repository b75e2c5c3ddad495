"""The machine fails the run: a cache folder that cannot be written, a full disk. The CLI prints
one line naming the path and the reason and exits 1; nothing half-written is left. Outputs get
the user's umask.

An unwritable cache folder is made with a path whose parent is a regular file
(``<tmp>/a-file/cache``): permission bits do not stop root, but no one can create a folder inside
a file. A full disk is a 64 KiB tmpfs mounted in a temporary folder (skipped where mounting is not
permitted)."""

import errno
import os
import subprocess
import sys

import pytest

import bayeskd.io as bio
from bayeskd.cli import describe_os_error, main

SMOKE = ["compare-priors", "--size", "smoke", "--priors", "none", "--seeds", "1", "--no-progress"]


def _one_line(err: str) -> str:
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def cache_under_a_file(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    return blocker / "cache"


def test_compare_priors_with_an_unwritable_cache_exits_1_with_one_line(cache_under_a_file, tmp_path,
                                                                       monkeypatch, capsys):
    monkeypatch.setenv("BAYESKD_CACHE", str(cache_under_a_file))
    monkeypatch.setenv("BAYESKD_COMPILE_CACHE", "0")  # the data cache is what this test is about
    out = tmp_path / "out"
    assert main([*SMOKE, "--out", str(out)]) == 1
    line = _one_line(capsys.readouterr().err)
    assert line.startswith(f"bayeskd: error: '{cache_under_a_file}") and "Not a directory" in line
    assert not out.exists()


def test_reproduce_with_an_unwritable_compile_cache_warns_once_and_runs_without_it(
        cache_under_a_file, tmp_path):
    """In a fresh process: the compile cache is only a speed-up, so a cache folder that cannot be
    made costs one warning line and the figure still runs (a job that needs the data cache stops
    with one line instead: the compare-priors test above)."""
    env = dict(os.environ, BAYESKD_CACHE=str(cache_under_a_file))
    r = subprocess.run([sys.executable, "-m", "bayeskd.cli", "reproduce", "variance_reduction",
                        "--size", "smoke", "--no-progress", "--out", str(tmp_path / "out")],
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    line = _one_line(r.stderr)
    assert line.startswith(f"bayeskd: warning: compile cache folder '{cache_under_a_file}/xla'")
    assert f"('{cache_under_a_file.parent}' is a file, not a folder)" in line
    assert "compiling without it" in line
    assert (tmp_path / "out" / "results.json").exists()


@pytest.fixture
def full_disk(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
                       capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {r.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_full_disk_write_names_the_file_and_leaves_nothing(full_disk):
    path = full_disk / "results.json"
    with pytest.raises(OSError) as info:
        bio.write_bytes(path, b"x" * 200_000)
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(path)
    assert describe_os_error(info.value) == f"'{path}': No space left on device"
    assert list(full_disk.iterdir()) == []  # no temporary file, no partial file


def test_compare_priors_on_a_full_disk_exits_1_with_one_line(full_disk, tmp_path, monkeypatch,
                                                             capsys):
    monkeypatch.setenv("BAYESKD_CACHE", str(full_disk))  # the MNIST-1D arrays need 1.6 MB
    out = tmp_path / "out"
    assert main([*SMOKE, "--out", str(out)]) == 1
    line = _one_line(capsys.readouterr().err)
    assert line.startswith(f"bayeskd: error: '{full_disk}/mnist1d/")
    assert line.endswith(".npz': No space left on device")
    assert [p for p in full_disk.rglob("*") if p.is_file()] == [] and not out.exists()


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_outputs_get_the_umask_mode(tmp_path, umask):
    old = os.umask(umask)
    try:
        bio.write_json(tmp_path / "r.json", {"a": 1})
    finally:
        os.umask(old)
    assert (tmp_path / "r.json").stat().st_mode & 0o777 == 0o666 & ~umask


def test_warnings_print_as_one_line_each(tmp_path):
    """A warning during a command is one ``bayeskd: warning:`` line (here: a temperature outside
    the tested range, before the run is refused as too large for the memory)."""
    r = subprocess.run([sys.executable, "-m", "bayeskd.cli", *SMOKE[:3], "--temperature", "1000",
                        "--seeds", "100000", "--out", str(tmp_path / "out")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    lines = r.stderr.splitlines()
    assert len(lines) == 2, r.stderr
    assert lines[0].startswith("bayeskd: warning: temperature: 1000 lies outside the tested range")
    assert lines[1].startswith("bayeskd: error: seeds: 100000 seeds")

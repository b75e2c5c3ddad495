"""The notebooks: each runs top to bottom at smoke size, and the committed copies show a quick run.

Every notebook is executed with nbclient (two kernels at a time, in a child process) into a
temporary copy (the committed file is never touched) with ``BAYESKD_SIZE=smoke``, in a kernel
running this interpreter
(``notebooks/run_all.py`` writes its kernelspec). Smoke runs spend most of their time compiling,
so XLA optimises little (``JAX_DISABLE_MOST_OPTIMIZATIONS``) and compiled programs are kept in
pytest's cache folder between sessions (``.pytest_cache``): only the first run compiles them all.
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import subprocess
import sys
import time

import nbformat
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = ROOT / "notebooks"
EXPECTED = ("01", "02", "03", "04", "05")


def _load_runner():
    spec = importlib.util.spec_from_file_location("bayeskd_notebook_runner",
                                                  NOTEBOOK_DIR / "run_all.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


run_all = _load_runner()
NOTEBOOKS = run_all.notebook_paths()


def _code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def _outputs(nb, kind):
    return [o for c in _code_cells(nb) for o in c.outputs if o.output_type == kind]


def _images(nb):
    return [o for c in _code_cells(nb) for o in c.outputs
            if o.output_type in ("display_data", "execute_result") and "image/png" in o.get("data", {})]


@pytest.fixture(scope="module")
def compile_cache(request, tmp_path_factory):
    cache = getattr(request.config, "cache", None)
    if cache is not None:
        return cache.mkdir("bayeskd_notebooks_jax")
    return tmp_path_factory.mktemp("bayeskd_notebooks_jax")


def test_the_five_notebooks_are_there():
    assert [p.name[:2] for p in NOTEBOOKS] == list(EXPECTED)


def test_runner_rejects_unknown_size_and_name():
    with pytest.raises(ValueError, match="size"):
        run_all.execute(NOTEBOOKS[0], size="huge")
    with pytest.raises(ValueError, match="notebooks"):
        run_all.notebook_paths(["99"])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebook_shows_a_quick_run(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.get("bayeskd", {}).get("size") == "quick", "re-run: python notebooks/run_all.py"
    counts = [c.execution_count for c in _code_cells(nb)]
    assert all(isinstance(n, int) for n in counts), "every code cell has been executed"
    assert counts == sorted(counts), "cells were executed top to bottom"
    assert not _outputs(nb, "error")
    assert len(_images(nb)) >= 2
    assert path.stat().st_size < 600_000  # figures at ~72 dpi keep the repository light


def test_committed_notebooks_stay_light():
    assert sum(p.stat().st_size for p in NOTEBOOKS) < 2_000_000


@pytest.fixture(scope="module")
def smoke_runs(compile_cache, tmp_path_factory):
    """All five notebooks executed at smoke size by ``run_all.py`` in a child process, two
    kernels at a time (2 cores: one kernel's single-threaded compilation overlaps the other's
    work). The child owns the kernels' sockets and event loops, so none is left to this process.

    Returns the output folder, ``{notebook name: the runner's report line}`` and the finished
    child process (its stderr holds the whole error of a failing notebook).
    """
    out_dir = tmp_path_factory.mktemp("notebooks")
    env = dict(os.environ, JAX_COMPILATION_CACHE_DIR=str(compile_cache),
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
               JAX_DISABLE_MOST_OPTIMIZATIONS="1")  # smoke runs are compile-bound
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, str(NOTEBOOK_DIR / "run_all.py"), "--size", "smoke",
                           "--jobs", "2", "--out", str(out_dir)],
                          env=env, capture_output=True, text=True, timeout=1200, check=False)
    print(f"five notebooks at smoke size: {time.perf_counter() - t0:.0f} s")
    reports = {}
    for line in proc.stdout.splitlines():
        name, sep, rest = line.partition(": ")
        if sep and name.endswith(".ipynb"):
            reports[name] = rest
    return out_dir, reports, proc


def test_execute_many_rejects_bad_jobs():
    with pytest.raises(ValueError, match="jobs"):
        run_all.execute_many(NOTEBOOKS[:1], size="smoke", jobs=0)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_at_smoke_size(path, smoke_runs):
    out_dir, reports, proc = smoke_runs
    report = reports.get(path.name)
    assert report is not None, f"run_all.py said nothing of {path.name}:\n{proc.stderr[-3000:]}"
    assert not report.startswith("FAILED"), f"{path.name}: {report}\n{proc.stderr[-3000:]}"
    print(f"{path.name}: {report} (two kernels at a time)")
    out = out_dir / path.name
    nb = nbformat.read(out, as_version=4)
    assert nb.metadata["bayeskd"]["size"] == "smoke"
    assert all(isinstance(c.execution_count, int) for c in _code_cells(nb))
    assert not _outputs(nb, "error")
    stderr = "".join(o.text for o in _outputs(nb, "stream") if o.name == "stderr")
    assert "Warning" not in stderr, stderr[-2000:]
    assert len(_images(nb)) >= 2
    stdout = "".join(o.text for o in _outputs(nb, "stream") if o.name == "stdout")
    assert "size: smoke" in stdout
    verdicts = [line for line in stdout.splitlines() if line.startswith(("[holds]", "[does not hold]"))]
    assert len(verdicts) >= 4, "the closing cell prints a verdict for each claim it tests"

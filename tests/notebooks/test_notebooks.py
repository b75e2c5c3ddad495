"""The notebooks: each runs top to bottom at smoke size, and the committed copies show a quick run.

Every notebook is executed with nbclient (two kernels at a time) into a temporary copy (the committed file is never
touched) with ``BAYESKD_SIZE=smoke``, in a kernel running this interpreter
(``notebooks/run_all.py`` writes its kernelspec). Smoke runs spend most of their time compiling,
so XLA optimises little (``JAX_DISABLE_MOST_OPTIMIZATIONS``) and compiled programs are kept in
pytest's cache folder between sessions (``.pytest_cache``): only the first run compiles them all.
"""

from __future__ import annotations

import importlib.util
import pathlib
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
    """All five notebooks executed at smoke size, two kernels at a time (2 cores: one kernel's
    single-threaded compilation overlaps the other's work)."""
    out_dir = tmp_path_factory.mktemp("notebooks")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JAX_COMPILATION_CACHE_DIR", str(compile_cache))
        mp.setenv("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
        mp.setenv("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")  # smoke runs are compile-bound
        t0 = time.perf_counter()
        runs = run_all.execute_many(NOTEBOOKS, size="smoke", out_dir=out_dir, jobs=2, timeout=600)
    print(f"five notebooks at smoke size: {time.perf_counter() - t0:.0f} s")
    return out_dir, runs


def test_execute_many_rejects_bad_jobs():
    with pytest.raises(ValueError, match="jobs"):
        run_all.execute_many(NOTEBOOKS[:1], size="smoke", jobs=0)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_at_smoke_size(path, smoke_runs):
    out_dir, runs = smoke_runs
    res = runs[path]
    if isinstance(res, Exception):
        raise res
    nb, seconds = res
    out = out_dir / path.name
    print(f"{path.name}: {seconds:.0f} s at smoke size (two kernels at a time)")

    assert out.exists() and nbformat.read(out, as_version=4).metadata["bayeskd"]["size"] == "smoke"
    assert all(isinstance(c.execution_count, int) for c in _code_cells(nb))
    assert not _outputs(nb, "error")
    stderr = "".join(o.text for o in _outputs(nb, "stream") if o.name == "stderr")
    assert "Warning" not in stderr, stderr[-2000:]
    assert len(_images(nb)) >= 2
    stdout = "".join(o.text for o in _outputs(nb, "stream") if o.name == "stdout")
    assert "size: smoke" in stdout
    verdicts = [line for line in stdout.splitlines() if line.startswith(("[holds]", "[does not hold]"))]
    assert len(verdicts) >= 4, "the closing cell prints a verdict for each claim it tests"

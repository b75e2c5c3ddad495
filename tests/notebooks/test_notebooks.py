"""The notebooks: each runs top to bottom at smoke size, the committed copies show a quick run,
each ``.ipynb`` holds the same cells as the percent-format script jupytext pairs it with, and the
notebooks import only public names of bayeskd.

Every notebook is executed with nbclient (two kernels at a time, in a child process) into a
temporary copy (the committed file is never touched) with ``BAYESKD_SIZE=smoke``, in a kernel
running this interpreter
(``notebooks/run_all.py`` writes its kernelspec). Smoke runs spend most of their time compiling,
so XLA optimises little (``JAX_DISABLE_MOST_OPTIMIZATIONS``) and compiled programs are kept in
pytest's cache folder between sessions (``.pytest_cache``): only the first run compiles them all.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import pathlib
import shutil
import subprocess
import sys
import time

import nbformat
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = ROOT / "notebooks"
EXPECTED = ("01", "02", "03", "04", "05", "06")


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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_paired_with_a_percent_script(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata.get("jupytext", {}).get("formats") == "ipynb,py:percent"
    assert run_all.paired_script(path) == path.with_suffix(".py")
    assert path.with_suffix(".py").exists(), f"jupytext --sync {path}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_and_its_script_hold_the_same_cells(path):
    assert run_all.pair_differences(path) == [], f"bring them together: jupytext --sync {path}"


@pytest.fixture
def pair_copy(tmp_path):
    """A copy of notebook 04 and its script in a temporary folder (the committed files stay)."""
    src = next(p for p in NOTEBOOKS if p.name.startswith("04"))
    for suffix in (".ipynb", ".py"):
        shutil.copy(src.with_suffix(suffix), tmp_path / (src.stem + suffix))
    return tmp_path / src.name


def _edit_script(path, old, new):
    script = path.with_suffix(".py")
    text = script.read_text()
    assert text.count(old) == 1
    script.write_text(text.replace(old, new))


def test_pair_differences_names_the_cell_edited_on_one_side(pair_copy):
    assert run_all.pair_differences(pair_copy) == []
    nb = nbformat.read(pair_copy, as_version=4)
    first_code = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    first_line = nb.cells[first_code].source.splitlines()[0]
    _edit_script(pair_copy, f"\n{first_line}\n", f"\n{first_line}  # edited\n")
    assert run_all.pair_differences(pair_copy) == [
        f"cell {first_code} (code), line 1: {first_line!r} in {pair_copy.name}, "
        f"{first_line + '  # edited'!r} in {pair_copy.with_suffix('.py').name}"]

    nb.cells[first_code].source = nb.cells[first_code].source.replace(first_line, first_line + "  # edited")
    nb.cells[0].source += "\nA sentence added in Jupyter."
    nbformat.write(nb, pair_copy)
    differences = run_all.pair_differences(pair_copy)
    assert len(differences) == 1 and differences[0].startswith("cell 0 (markdown), line ")


def test_pair_differences_counts_a_cell_added_to_one_side(pair_copy):
    text = pair_copy.with_suffix(".py").read_text()
    pair_copy.with_suffix(".py").write_text(text + "\n# %%\nprint('one more cell')\n")
    nb = nbformat.read(pair_copy, as_version=4)
    assert run_all.pair_differences(pair_copy) == [
        f"{len(nb.cells)} cells in {pair_copy.name}, {len(nb.cells) + 1} in {pair_copy.stem}.py"]


def test_runner_refuses_a_pair_out_of_sync_before_running(pair_copy, monkeypatch):
    _edit_script(pair_copy, "import json\n", "import json  # edited\n")
    started = []
    monkeypatch.setattr(run_all, "NotebookClient", lambda *a, **k: started.append(a))
    with pytest.raises(ValueError, match=r"differ .*jupytext --sync"):
        run_all.execute(pair_copy, size="smoke", out=pair_copy.parent / "out.ipynb")
    assert started == [], "no kernel starts for a notebook out of sync"


def test_pair_differences_names_a_notebook_without_its_script(pair_copy):
    pair_copy.with_suffix(".py").unlink()
    assert run_all.pair_differences(pair_copy) == [
        f"{pair_copy.name}: its paired script {pair_copy.stem}.py is missing "
        f"(jupytext --sync {pair_copy})"]
    nb = nbformat.read(pair_copy, as_version=4)
    del nb.metadata["jupytext"]
    nbformat.write(nb, pair_copy)
    assert run_all.paired_script(pair_copy) is None
    assert run_all.pair_differences(pair_copy)[0].startswith(f"{pair_copy.name}: not paired")


def _public(module_name: str, name: str) -> bool:
    """``name`` is listed in the ``__all__`` of ``module_name``, whose parts are all public."""
    if any(part.startswith("_") for part in module_name.split(".")) or name.startswith("_"):
        return False
    return name in getattr(importlib.import_module(module_name), "__all__", ())


def _bayeskd_names(source: str):
    """``(module, name)`` for every bayeskd name a cell imports or reaches as ``bayeskd.a.b``."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "bayeskd":
            yield from ((node.module, alias.name) for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                yield from ((".".join(parts[:i]), parts[i]) for i in range(1, len(parts))
                            if parts[0] == "bayeskd")
        elif isinstance(node, ast.Attribute):
            parts = ast.unparse(node).split(".")
            if parts[0] == "bayeskd" and all(p.isidentifier() for p in parts):
                yield ".".join(parts[:-1]), parts[-1]


def test_notebooks_import_only_public_names():
    used = set()
    for path in NOTEBOOKS:
        for cell in _code_cells(nbformat.read(path, as_version=4)):
            used |= {(path.stem, m, n) for m, n in _bayeskd_names(cell.source)}
    unexplained = sorted(f"{stem}: {m}.{n}" for stem, m, n in used if not _public(m, n))
    assert not unexplained, f"notebooks import names outside any bayeskd `__all__`: {unexplained}"


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

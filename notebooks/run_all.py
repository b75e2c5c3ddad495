"""Re-execute the bayeskd notebooks, saving their outputs in place (or into another folder).

Usage (from the repository root, in the environment where bayeskd is installed)::

    python notebooks/run_all.py                           # all six at quick size, in place
    python notebooks/run_all.py 02 04                     # only notebooks 02 and 04
    python notebooks/run_all.py --size smoke --out /tmp/nb  # smoke size, executed copies elsewhere
    python notebooks/run_all.py --size smoke --jobs 2       # two kernels at a time

Every notebook reads its size from the environment variable ``BAYESKD_SIZE`` (``smoke``: seconds,
for the tests; ``quick``: the outputs committed to the repository); this script sets it. The kernel
always runs this interpreter (``sys.executable``), whatever kernels Jupyter has registered.

Each ``.ipynb`` is paired by jupytext with a percent-format script of the same name (``.py``, the
pairing is in the notebook's ``jupytext`` metadata). A notebook whose cells differ from its
script's is refused before anything runs: bring the two together with
``jupytext --sync notebooks/NAME.ipynb`` first (the newer file wins).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pathlib
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import jupytext
import nbformat
from jupytext.paired_paths import paired_paths
from nbclient import NotebookClient

HERE = pathlib.Path(__file__).resolve().parent
SIZES = ("smoke", "quick")
KERNEL_NAME = "bayeskd-python"
PAIRING = "ipynb,py:percent"  # jupytext formats of every notebook


def notebook_paths(select: list[str] | None = None) -> list[pathlib.Path]:
    """The numbered notebooks ``notebooks/0N_*.ipynb``, optionally only those whose name starts
    with one of ``select`` (e.g. ``["02", "04"]``)."""
    paths = sorted(HERE.glob("[0-9][0-9]_*.ipynb"))
    if select:
        unknown = [s for s in select if not any(p.name.startswith(s) for p in paths)]
        if unknown:
            names = ", ".join(p.stem for p in paths)
            raise ValueError(f"notebooks: no notebook matches {unknown}; choose from: {names}")
        paths = [p for p in paths if any(p.name.startswith(s) for s in select)]
    return paths


def paired_script(path: pathlib.Path) -> pathlib.Path | None:
    """The text file jupytext pairs with the notebook at ``path`` (from the ``jupytext.formats``
    entry of its metadata), or None for a notebook that is not paired."""
    nb = nbformat.read(path, as_version=4)
    formats = nb.metadata.get("jupytext", {}).get("formats")
    if not formats:
        return None
    others = [p for p, fmt in paired_paths(str(path), "ipynb", formats) if fmt["extension"] != ".ipynb"]
    return pathlib.Path(others[0]) if others else None


def pair_differences(path: pathlib.Path) -> list[str]:
    """Where the notebook at ``path`` and its paired script disagree, one line per cell.

    Both files are read with jupytext and compared cell by cell on type and source (outputs and
    metadata live in the ``.ipynb`` only). Empty when they hold the same cells; one line when
    the notebook is not paired or its script is missing.
    """
    path = pathlib.Path(path)
    script = paired_script(path)
    if script is None:
        return [f"{path.name}: not paired (jupytext --set-formats {PAIRING} {path})"]
    if not script.exists():
        return [f"{path.name}: its paired script {script.name} is missing (jupytext --sync {path})"]
    cells = [(c.cell_type, c.source) for c in jupytext.read(path).cells]
    script_cells = [(c.cell_type, c.source) for c in jupytext.read(script).cells]
    out = []
    for i, (a, b) in enumerate(zip(cells, script_cells, strict=False)):
        if a[0] != b[0]:
            out.append(f"cell {i}: {a[0]} in {path.name}, {b[0]} in {script.name}")
        elif a[1] != b[1]:
            lines_a, lines_b = a[1].splitlines(), b[1].splitlines()
            k = next((j for j, (x, y) in enumerate(zip(lines_a, lines_b, strict=False)) if x != y),
                     min(len(lines_a), len(lines_b)))
            shown = [lines[k] if k < len(lines) else "<end of cell>" for lines in (lines_a, lines_b)]
            out.append(f"cell {i} ({a[0]}), line {k + 1}: {shown[0]!r} in {path.name}, "
                       f"{shown[1]!r} in {script.name}")
    if len(cells) != len(script_cells):
        out.append(f"{len(cells)} cells in {path.name}, {len(script_cells)} in {script.name}")
    return out


_ENV_LOCK = threading.Lock()
_ENV_ACTIVE: dict[str, object] = {"size": None, "depth": 0}


@contextlib.contextmanager
def _environment(size: str):
    """``BAYESKD_SIZE`` set, and a kernelspec that runs ``sys.executable`` first on JUPYTER_PATH.

    Re-entrant: inside an active environment of the same size (as when several notebooks run on
    threads, see :func:`execute_many`) it only yields, so no thread tears the kernelspec down while
    another is starting its kernel.
    """
    with _ENV_LOCK:
        if _ENV_ACTIVE["depth"]:
            if _ENV_ACTIVE["size"] != size:
                raise ValueError(f"size: {size!r} inside a running {_ENV_ACTIVE['size']!r} batch")
            _ENV_ACTIVE["depth"] += 1
            nested = True
        else:
            nested = False
    if nested:
        try:
            yield
        finally:
            with _ENV_LOCK:
                _ENV_ACTIVE["depth"] -= 1
        return
    with _ENV_LOCK:
        _ENV_ACTIVE.update(size=size, depth=1)
    try:
        with _fresh_environment(size):
            yield
    finally:
        with _ENV_LOCK:
            _ENV_ACTIVE.update(size=None, depth=0)


@contextlib.contextmanager
def _fresh_environment(size: str):
    with tempfile.TemporaryDirectory(prefix="bayeskd-kernel-") as tmp:
        spec_dir = pathlib.Path(tmp) / "kernels" / KERNEL_NAME
        spec_dir.mkdir(parents=True)
        spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "bayeskd (this interpreter)", "language": "python"}
        (spec_dir / "kernel.json").write_text(json.dumps(spec))
        saved = {k: os.environ.get(k) for k in ("BAYESKD_SIZE", "JUPYTER_PATH", "MPLBACKEND")}
        os.environ["BAYESKD_SIZE"] = size
        os.environ["JUPYTER_PATH"] = os.pathsep.join(
            [tmp] + ([saved["JUPYTER_PATH"]] if saved["JUPYTER_PATH"] else []))
        os.environ.pop("MPLBACKEND", None)  # the kernel's inline backend draws the figures
        try:
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def execute(path: pathlib.Path, *, size: str, out: pathlib.Path | None = None,
            timeout: int = 900) -> tuple[nbformat.NotebookNode, float]:
    """Run every cell of the notebook at ``path`` at ``size`` and write it to ``out``.

    The kernel's working folder is the notebook's own folder. ``out`` defaults to ``path`` (in
    place); a copy written elsewhere loses the jupytext pairing (it has no script beside it).
    Raises ``ValueError`` before running anything when the notebook and its paired script hold
    different cells, and ``nbclient.exceptions.CellExecutionError`` on the first failing cell.

    Returns:
      the executed notebook and the wall-clock seconds it took.
    """
    if size not in SIZES:
        raise ValueError(f"size: unknown {size!r}; choose one of: {', '.join(SIZES)}")
    path = pathlib.Path(path)
    if paired_script(path) is not None and (diffs := pair_differences(path)):
        raise ValueError(f"{path.name}: the notebook and its paired script differ "
                         f"({'; '.join(diffs[:3])}); bring them together with: "
                         f"jupytext --sync {path}")
    nb = nbformat.read(path, as_version=4)
    t0 = time.perf_counter()
    with _environment(size):
        client = NotebookClient(nb, timeout=timeout, kernel_name=KERNEL_NAME, record_timing=False,
                                resources={"metadata": {"path": str(path.parent)}})
        client.execute()
    seconds = time.perf_counter() - t0
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["bayeskd"] = {"size": size}
    nbformat.validate(nb)
    target = pathlib.Path(out) if out is not None else path
    if target.resolve() != path.resolve():
        nb.metadata.pop("jupytext", None)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".ipynb.tmp")
    nbformat.write(nb, tmp)
    os.replace(tmp, target)
    return nb, seconds


def execute_many(paths: list[pathlib.Path], *, size: str, out_dir: pathlib.Path | None = None,
                 jobs: int = 1, timeout: int = 900) -> dict[pathlib.Path, tuple]:
    """Run several notebooks, ``jobs`` kernels at a time; returns ``{path: (notebook, seconds)}``
    or ``{path: exception}`` for a notebook that failed (the others still run).

    Each kernel is its own process, so ``jobs=2`` on a 2-core machine overlaps one notebook's
    single-threaded compilation and Python with the other's work.
    """
    if size not in SIZES:
        raise ValueError(f"size: unknown {size!r}; choose one of: {', '.join(SIZES)}")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs: must be an integer >= 1, got {jobs!r}")

    def one(path):
        out = pathlib.Path(out_dir) / path.name if out_dir is not None else None
        try:
            return execute(path, size=size, out=out, timeout=timeout)
        except Exception as e:  # noqa: BLE001 -- reported per notebook
            return e

    with _environment(size), ThreadPoolExecutor(max_workers=jobs) as pool:
        return dict(zip(paths, pool.map(one, paths), strict=True))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("notebooks", nargs="*", help="name prefixes, e.g. 01 03 (default: all)")
    p.add_argument("--size", default="quick", choices=SIZES, help="run size (default quick)")
    p.add_argument("--out", default=None, help="folder for the executed copies (default: in place)")
    p.add_argument("--jobs", type=int, default=1,
                   help="notebooks run at the same time (default 1; timings in the outputs are "
                        "only comparable at 1)")
    args = p.parse_args(argv)
    paths = notebook_paths(args.notebooks)
    failed = 0
    for path, res in execute_many(paths, size=args.size, out_dir=args.out, jobs=args.jobs).items():
        if isinstance(res, Exception):
            failed += 1
            print(f"{path.name}: FAILED: {(str(res).splitlines() or [repr(res)])[0]}",
                  flush=True)
            print(f"{path.name}:\n{res}", file=sys.stderr, flush=True)  # the whole cell error
            continue
        out = pathlib.Path(args.out) / path.name if args.out else path
        print(f"{path.name}: {res[1]:.0f} s at {args.size} size, "
              f"{out.stat().st_size / 1024:.0f} KiB", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Re-execute the bayeskd notebooks, saving their outputs in place (or into another folder).

Usage (from the repository root, in the environment where bayeskd is installed)::

    python notebooks/run_all.py                           # all five at quick size, in place
    python notebooks/run_all.py 02 04                     # only notebooks 02 and 04
    python notebooks/run_all.py --size smoke --out /tmp/nb  # smoke size, executed copies elsewhere

Every notebook reads its size from the environment variable ``BAYESKD_SIZE`` (``smoke``: seconds,
for the tests; ``quick``: the outputs committed to the repository); this script sets it. The kernel
always runs this interpreter (``sys.executable``), whatever kernels Jupyter has registered.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pathlib
import sys
import tempfile
import time

import nbformat
from nbclient import NotebookClient

HERE = pathlib.Path(__file__).resolve().parent
SIZES = ("smoke", "quick")
KERNEL_NAME = "bayeskd-python"


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


@contextlib.contextmanager
def _environment(size: str):
    """``BAYESKD_SIZE`` set, and a kernelspec that runs ``sys.executable`` first on JUPYTER_PATH."""
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
    place). Raises ``nbclient.exceptions.CellExecutionError`` on the first failing cell.

    Returns:
      the executed notebook and the wall-clock seconds it took.
    """
    if size not in SIZES:
        raise ValueError(f"size: unknown {size!r}; choose one of: {', '.join(SIZES)}")
    path = pathlib.Path(path)
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
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".ipynb.tmp")
    nbformat.write(nb, tmp)
    os.replace(tmp, target)
    return nb, seconds


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("notebooks", nargs="*", help="name prefixes, e.g. 01 03 (default: all)")
    p.add_argument("--size", default="quick", choices=SIZES, help="run size (default quick)")
    p.add_argument("--out", default=None, help="folder for the executed copies (default: in place)")
    args = p.parse_args(argv)
    for path in notebook_paths(args.notebooks):
        out = pathlib.Path(args.out) / path.name if args.out else None
        _, seconds = execute(path, size=args.size, out=out)
        kib = (out or path).stat().st_size / 1024
        print(f"{path.name}: {seconds:.0f} s at {args.size} size, {kib:.0f} KiB", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

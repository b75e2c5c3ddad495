"""Write the notebooks' cells (without outputs) from the ``nbNN`` modules next to this file.

    python notebooks/_build/build.py 01 02     # rewrites notebooks/01_*.ipynb and 02_*.ipynb
    python notebooks/_build/build.py --markdown 03   # only the text: outputs are kept

The committed ``.ipynb`` files are the source of truth; this script wrote their first version and
is kept to regenerate them after larger edits. Re-execute afterwards with
``python notebooks/run_all.py`` so the outputs come back.
"""

from __future__ import annotations

import importlib
import pathlib
import sys

import nbformat

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

BUILDERS = {
    "01": ("nb01", "01_soft_targets.ipynb"),
    "02": ("nb02", "02_why_distillation_generalizes.ipynb"),
    "03": ("nb03", "03_bayesian_view.ipynb"),
    "04": ("nb04", "04_comparing_priors.ipynb"),
    "05": ("nb05", "05_posterior_zoo.ipynb"),
}


def sync_markdown(built: nbformat.NotebookNode, path: pathlib.Path) -> None:
    """Copy the built markdown cells into the executed notebook at ``path``, keeping its code cells
    and outputs; refuses when the code cells differ (then rebuild and re-execute)."""
    executed = nbformat.read(path, as_version=4)
    kinds = [c.cell_type for c in built.cells]
    if kinds != [c.cell_type for c in executed.cells] or any(
            b.source != e.source for b, e in zip(built.cells, executed.cells, strict=True)
            if b.cell_type == "code"):
        raise SystemExit(f"{path.name}: the code cells changed; rebuild it and re-run run_all.py")
    for b, e in zip(built.cells, executed.cells, strict=True):
        if b.cell_type == "markdown":
            e.source = b.source
    nbformat.write(executed, path)


def main(argv: list[str]) -> int:
    markdown_only = "--markdown" in argv
    keys = [a for a in argv if a != "--markdown"] or list(BUILDERS)
    for key in keys:
        module, name = BUILDERS[key]
        nb = importlib.import_module(module).build()
        nbformat.validate(nb)
        if markdown_only:
            sync_markdown(nb, HERE.parent / name)
            print(f"updated the text of notebooks/{name}")
        else:
            nbformat.write(nb, HERE.parent / name)
            print(f"wrote notebooks/{name} ({len(nb.cells)} cells)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Helpers for the notebook builders: markdown and code cells from dedented strings."""

from __future__ import annotations

import textwrap

import nbformat

SETUP = '''\
import os
import warnings

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm without ipywidgets
import bayeskd  # noqa: E402  (after the filter: bayeskd's progress bars import tqdm)

SIZE = os.environ.get("BAYESKD_SIZE", "quick")  # smoke: seconds (the tests); quick: the committed outputs
if SIZE not in ("smoke", "quick"):
    raise ValueError(f"BAYESKD_SIZE: unknown {SIZE!r}; choose one of: smoke, quick")

# Keep compiled XLA programs on disk, so re-runs and the other notebooks reuse them.
if not jax.config.jax_compilation_cache_dir:
    jax.config.update("jax_compilation_cache_dir", str(bayeskd.data.cache_root() / "jax"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
plt.rcParams.update({"figure.dpi": 72, "font.size": 8, "axes.titlesize": 9})
print(f"size: {SIZE}; jax {jax.__version__} on {jax.devices()[0].platform}")'''


def md(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(textwrap.dedent(text).strip("\n"))


def code(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(textwrap.dedent(text).strip("\n"))


def notebook(cells) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb

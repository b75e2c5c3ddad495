"""The set-up every bayeskd notebook starts with: its run size, a persistent compilation cache,
small figures.

A notebook's first cell::

    import warnings

    warnings.filterwarnings("ignore", message="IProgress not found")  # before bayeskd imports tqdm
    from bayeskd.notebook import setup

    SIZE = setup()

(the filter has to come before the first ``import bayeskd``: bayeskd's progress bars import
``tqdm.auto``, which warns once, at import, in a kernel without ipywidgets).
"""

from __future__ import annotations

import os

from bayeskd.validate import check_choice

#: Run sizes a notebook knows: ``smoke`` (seconds, what the test suite runs; numbers meaningless)
#: and ``quick`` (the outputs committed to the repository).
NOTEBOOK_SIZES = ("smoke", "quick")
SIZE_VARIABLE = "BAYESKD_SIZE"
FIGURE_STYLE = {"figure.dpi": 72, "font.size": 8, "axes.titlesize": 9}


def setup(size: str | None = None, *, verbose: bool = True) -> str:
    """Prepare a notebook's kernel and return its run size.

    - the size is ``size`` if given, else the environment variable ``BAYESKD_SIZE``, else
      ``"quick"``; it must be one of :data:`NOTEBOOK_SIZES` (checked before anything else);
    - compiled XLA programs are kept on disk, in ``<bayeskd cache>/xla``
      (:func:`bayeskd.enable_compile_cache`), so re-runs, the other notebooks and the ``bayeskd``
      commands reuse them; a compilation cache the kernel already has
      (``JAX_COMPILATION_CACHE_DIR``) is kept, and ``BAYESKD_COMPILE_CACHE=0`` switches it off;
    - matplotlib draws small figures (72 dpi, 8 pt text), which keeps the notebooks light;
    - with ``verbose``, one line is printed: ``size: quick; jax 0.x on cpu``.

    Returns:
      the size, ``"smoke"`` or ``"quick"``.
    """
    if size is None:
        size = os.environ.get(SIZE_VARIABLE, "quick")
    check_choice(size, NOTEBOOK_SIZES, name=SIZE_VARIABLE)

    import jax
    import matplotlib.pyplot as plt

    from bayeskd.cache import enable_compile_cache

    enable_compile_cache()
    plt.rcParams.update(FIGURE_STYLE)
    if verbose:
        print(f"size: {size}; jax {jax.__version__} on {jax.devices()[0].platform}")
    return size


__all__ = ["FIGURE_STYLE", "NOTEBOOK_SIZES", "SIZE_VARIABLE", "setup"]

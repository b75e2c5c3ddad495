"""Matplotlib figures: metric bars with error bars, reliability diagrams, 2-D decision maps."""

import sys

import matplotlib

if "ipykernel" not in sys.modules:  # jobs render off-screen; a Jupyter kernel keeps its inline backend
    matplotlib.use("Agg", force=False)

from bayeskd.plotting import panels  # noqa: E402
from bayeskd.plotting.figures import (  # noqa: E402
    metric_bars,
    plane_panels,
    reliability_diagram,
    reliability_grid,
)

__all__ = ["panels", "metric_bars", "plane_panels", "reliability_diagram", "reliability_grid"]

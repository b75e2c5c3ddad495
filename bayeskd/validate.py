"""Argument checks shared by the whole package, each named for what it checks.

Every check runs on the Python side, before any work, and raises ``ValueError`` whose message
begins with the argument's name and says what is allowed: ``"name: must be ..., got X"``. Traced
JAX values (inside ``jit``/``vmap``) pass unchecked: they were checked where they were made.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

#: Temperatures inside this range are covered by the float64 reference tests
#: (``tests/reliability/test_reliability_numerics.py``); outside it a warning says so.
TESTED_TEMPERATURES = (0.05, 100.0)


def _traced(value: Any) -> bool:
    return isinstance(value, jax.Array | jax.core.Tracer) and not isinstance(value, np.ndarray)


def check_choice(value: Any, choices: Sequence, *, name: str) -> None:
    """``value`` must be one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name}: unknown {value!r}; choose one of: {', '.join(map(str, choices))}")


def check_positive_int(value: Any, *, name: str, allow_zero: bool = False) -> int:
    """``value`` must be an integer ``>= 1`` (``>= 0`` with ``allow_zero``); returns it as ``int``."""
    ok = isinstance(value, int | np.integer) and not isinstance(value, bool)
    if not ok or value < (0 if allow_zero else 1):
        bound = ">= 0" if allow_zero else ">= 1"
        raise ValueError(f"{name}: must be an integer {bound}, got {value!r}")
    return int(value)


def check_num_samples(value: Any, *, name: str = "num_samples") -> int:
    """``value`` must be a number of posterior samples: an integer ``>= 1``."""
    ok = isinstance(value, int | np.integer) and not isinstance(value, bool)
    if not ok or value < 1:
        raise ValueError(f"{name}: a posterior needs at least one sample, got {value!r}")
    return int(value)


def check_positive_float(value: Any, *, name: str = "step_size") -> float:
    """``value`` must be a finite number ``> 0``; returns it as ``float``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: must be a finite number > 0, got {value!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{name}: must be a finite number > 0, got {value!r}")
    return v


def check_temperature(temperature: Any, *, name: str = "temperature") -> None:
    """``temperature`` must be a finite number ``> 0``; outside the tested range it warns."""
    if _traced(temperature):
        return
    t = float(temperature)
    if not math.isfinite(t) or t <= 0:
        raise ValueError(f"{name}: must be a finite number > 0, got {temperature!r}")
    lo, hi = TESTED_TEMPERATURES
    if not lo <= t <= hi:
        warnings.warn(f"{name}: {t:g} lies outside the tested range [{lo:g}, {hi:g}]; the "
                      "divergences are finite there but not checked against float64 references",
                      UserWarning, stacklevel=2)


def check_unit_interval(value: Any, *, name: str, open_ends: bool = False) -> None:
    """``value`` must lie in ``[0, 1]`` (in ``(0, 1)`` with ``open_ends``)."""
    if _traced(value):
        return
    v = float(value)
    if open_ends and not (0.0 < v < 1.0):
        raise ValueError(f"{name}: must lie in the open interval (0, 1), got {value!r}")
    if not (0.0 <= v <= 1.0):
        raise ValueError(f"{name}: must lie in [0, 1], got {value!r}")

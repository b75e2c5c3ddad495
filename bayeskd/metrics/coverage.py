r"""Empirical coverage of equal-tailed credible intervals: how often a known truth lies inside
the interval that posterior samples give it.

For samples :math:`\pi_{1..S}` of a quantity with truth :math:`p`, the equal-tailed level-
:math:`\ell` interval is :math:`[q_{(1-\ell)/2}, q_{(1+\ell)/2}]` of the samples; over many
``(input, class)`` cells a calibrated posterior covers about the fraction :math:`\ell` of them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bayeskd.validate import check_unit_interval

__all__ = ["credible_coverage", "credible_coverages"]


def credible_coverages(samples_SBK: np.ndarray, truth_BK: np.ndarray,
                       levels: Sequence[float]) -> dict[float, float]:
    r"""``{level: coverage}``: the fraction of cells ``(b, k)`` whose ``truth_BK[b, k]`` lies in
    the equal-tailed ``level`` interval of ``samples_SBK[:, b, k]``, every level from one
    quantile pass (``numpy.quantile``, linear interpolation; the ends are inclusive).

    Args:
      samples_SBK: posterior samples ``[S, B, K]``; truth_BK: the truth ``[B, K]``.
      levels: nominal levels, each in the open interval (0, 1).

    Example:
      >>> draws = np.linspace(0, 1, 101)[:, None, None]  # [S=101, B=1, K=1]: 90% is [.05, .95]
      >>> credible_coverages(draws, np.array([[0.5]]), (0.5, 0.9))
      {0.5: 1.0, 0.9: 1.0}
    """
    for lv in levels:
        check_unit_interval(lv, name="level", open_ends=True)
    qs = [q for lv in levels for q in ((1 - lv) / 2, (1 + lv) / 2)]
    bounds = np.quantile(samples_SBK, qs, axis=0)
    return {lv: float(np.mean((truth_BK >= bounds[2 * j]) & (truth_BK <= bounds[2 * j + 1])))
            for j, lv in enumerate(levels)}


def credible_coverage(samples_SBK: np.ndarray, truth_BK: np.ndarray, level: float) -> float:
    """:func:`credible_coverages` at one ``level``.

    Example:
      >>> draws = np.linspace(0, 1, 101)[:, None, None]
      >>> credible_coverage(draws, np.array([[0.97]]), 0.9)
      0.0
    """
    return credible_coverages(samples_SBK, truth_BK, (level,))[level]

"""Coverage of equal-tailed credible intervals, against hand-computed quantiles."""

import numpy as np
import pytest

from bayeskd.metrics.coverage import credible_coverage, credible_coverages


def test_coverage_counts_truths_inside_equal_tailed_intervals():
    draws = np.arange(1, 101, dtype=float)[:, None, None] / 100  # 5% / 95% quantiles .0595 / .9505
    truth = np.array([[0.06], [0.5], [0.95], [0.99]])  # [B=4, K=1]
    draws = np.broadcast_to(draws, (100, 4, 1))
    assert credible_coverage(draws, truth, 0.9) == 0.75  # all but 0.99
    # 25% / 75% quantiles .2575 / .7525: only 0.5 inside
    assert credible_coverages(draws, truth, (0.5, 0.9)) == {0.5: 0.25, 0.9: 0.75}


def test_interval_ends_are_inclusive():
    draws = np.array([0.0, 1.0])[:, None, None]  # the 100%-like ends of two draws
    assert credible_coverage(draws, np.array([[0.05]]), 0.9) == 1.0  # [0.05, 0.95]
    assert credible_coverage(draws, np.array([[0.0499]]), 0.9) == 0.0


@pytest.mark.parametrize("level", [0.0, 1.0, 1.5, -0.1])
def test_coverage_level_outside_the_open_unit_interval(level):
    with pytest.raises(ValueError, match=r"^level: must lie in the open interval \(0, 1\)"):
        credible_coverage(np.zeros((3, 1, 1)), np.zeros((1, 1)), level)

"""The two temperatures' pieces against hand-computed answers."""

import numpy as np
import pytest

from bayeskd.posteriors.tempering import entropy_crossing, softened_entropy


def test_softened_entropy_is_the_entropy_of_softmax_over_t():
    logp = np.log(np.array([[0.7, 0.2, 0.1], [0.5, 0.25, 0.25]]))
    h1 = np.mean([-(p * np.log(p)).sum() for p in np.exp(logp)])
    assert softened_entropy(logp, 1.0) == pytest.approx(h1, rel=1e-12)
    qs = [np.exp(row / 4) / np.exp(row / 4).sum() for row in logp]
    assert softened_entropy(logp, 4.0) == pytest.approx(
        np.mean([-(q * np.log(q)).sum() for q in qs]), rel=1e-12)
    assert softened_entropy(logp + 3.0, 4.0) == pytest.approx(softened_entropy(logp, 4.0))
    with pytest.raises(ValueError, match="^temperature: must be a finite number > 0"):
        softened_entropy(logp, 0.0)


def test_entropy_crossing_interpolates_in_log_temperature():
    temps, h = np.array([1.0, 0.1, 0.01]), np.array([0.4, 0.2, 0.1])  # any order
    assert entropy_crossing(temps, h, 0.3) == pytest.approx(10 ** -0.5)
    assert entropy_crossing(temps, h, 0.1) == pytest.approx(0.01)
    assert entropy_crossing(temps, h, 0.5) is None and entropy_crossing(temps, h, 0.05) is None

"""The two temperatures' pieces against hand-computed answers."""

import numpy as np
import pytest

from bayeskd.posteriors.tempering import (
    cold_posterior_effect,
    entropy_crossing,
    entropy_meetings,
    softened_entropy,
)


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


def test_cold_posterior_effect_picks_the_best_cold_temperature_against_t1():
    e = cold_posterior_effect([0.01, 1.0, 0.1, 0.3], [0.4, 0.5, 0.2, 0.45], [0.1, 0.9, 0.3, 0.6])
    assert e == pytest.approx({"entropy_drop": 0.8, "nll_T1": 0.5, "best_cold_T": 0.1,
                               "best_cold_nll": 0.2, "nll_gain": 0.3})
    assert cold_posterior_effect([1.0, 2.0], [0.5, 0.4], [0.6, 0.7]) == pytest.approx(
        {"entropy_drop": 0.1})  # no T < 1: no gain reported
    assert cold_posterior_effect([0.3, 0.1], [0.5, 0.4], [0.6, 0.2]) == pytest.approx(
        {"entropy_drop": 0.4})  # no T = 1: no gain reported


def test_entropy_meetings_both_directions_in_log_temperature():
    m = entropy_meetings([1.0, 10.0], [0.2, 0.5], [0.0, 1.0], [0.01, 1.0], [0.0, 0.4])
    assert m["T_post_for_KD1"] == pytest.approx(0.1)  # 0.2 is halfway up 0 -> 0.4
    assert m["T_post_for_KD10"] is None  # 0.5 is above the predictive's range
    assert m["KD_T_for_T_post0.01"] == pytest.approx(1.0)
    assert m["KD_T_for_T_post1"] == pytest.approx(10 ** 0.4)
    assert set(m) == {"T_post_for_KD1", "T_post_for_KD10", "KD_T_for_T_post0.01",
                      "KD_T_for_T_post1"}

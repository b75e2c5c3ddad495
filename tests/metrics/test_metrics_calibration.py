"""Tests for bayeskd.metrics.calibration: hand-computed bins, ECE and MCE."""

import hypothesis.extra.numpy as hnp
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bayeskd.metrics import ReliabilityBins, ece, mce, reliability_bins

B, K, NUM_BINS = 16, 4, 10

# Jitted once here: a whole-function compile is far cheaper than eager op-by-op dispatch.
_ece = jax.jit(ece, static_argnames="num_bins")
_mce = jax.jit(mce, static_argnames="num_bins")
_reliability_bins = jax.jit(reliability_bins, static_argnames="num_bins")

# Four examples, K = 4, with top-1 confidences 0.9, 0.6, 0.8, 0.3 (all on class 0).
HAND_PROBS = jnp.array(
    [
        [0.9, 0.05, 0.03, 0.02],
        [0.6, 0.2, 0.1, 0.1],
        [0.8, 0.1, 0.05, 0.05],
        [0.3, 0.25, 0.25, 0.2],
    ]
)
# Correctness (correct, correct, wrong, wrong): labels 0 are right, labels 1 are wrong.
HAND_LABELS = jnp.array([0, 0, 1, 1])


def test_reliability_bins_hand_computed_four_bins():
    # Edges 0, .25, .5, .75, 1; bins (lo, hi].
    #   bin 0 (0, .25]:   empty
    #   bin 1 (.25, .5]:  {0.3 wrong}            conf .3,  acc 0
    #   bin 2 (.5, .75]:  {0.6 right}            conf .6,  acc 1
    #   bin 3 (.75, 1]:   {0.9 right, 0.8 wrong} conf .85, acc .5
    bins = _reliability_bins(HAND_PROBS, HAND_LABELS, num_bins=4)
    assert isinstance(bins, ReliabilityBins)
    np.testing.assert_allclose(bins.bin_edges, [0.0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_array_equal(bins.count, [0, 1, 1, 2])
    np.testing.assert_allclose(bins.confidence, [0.0, 0.3, 0.6, 0.85], rtol=1e-6)
    np.testing.assert_allclose(bins.accuracy, [0.0, 0.0, 1.0, 0.5])


def test_ece_mce_hand_computed_four_bins():
    # gaps |acc - conf|: bin 1 .3, bin 2 .4, bin 3 .35; weights 1/4, 1/4, 2/4
    # ECE = .3/4 + .4/4 + .35/2 = .075 + .1 + .175 = .35;  MCE = .4
    np.testing.assert_allclose(_ece(HAND_PROBS, HAND_LABELS, num_bins=4), 0.35, rtol=1e-6)
    np.testing.assert_allclose(_mce(HAND_PROBS, HAND_LABELS, num_bins=4), 0.4, rtol=1e-6)


def test_ece_mce_hand_computed_two_bins():
    # Edges 0, .5, 1.
    #   bin 0 (0, .5]: {0.3 wrong}                         gap .3,          weight 1/4
    #   bin 1 (.5, 1]: {0.9 right, 0.6 right, 0.8 wrong}   conf 2.3/3, acc 2/3, gap .1, weight 3/4
    # ECE = .3/4 + .1 * 3/4 = .15;  MCE = .3
    np.testing.assert_allclose(_ece(HAND_PROBS, HAND_LABELS, num_bins=2), 0.15, rtol=1e-5)
    np.testing.assert_allclose(_mce(HAND_PROBS, HAND_LABELS, num_bins=2), 0.3, rtol=1e-5)


def test_edge_convention():
    # Two bins, edges 0, .5, 1 (exact in float32). Confidence .5 lies on the interior edge and
    # goes to the lower bin (0, .5]; confidence 1 to the last bin; confidence 0 (a degenerate
    # all-zero row) to the first bin.
    probs = jnp.array([[0.5, 0.5], [1.0, 0.0], [0.0, 0.0]])
    bins = _reliability_bins(probs, jnp.array([0, 0, 0]), num_bins=2)
    np.testing.assert_array_equal(bins.count, [2, 1])
    np.testing.assert_allclose(bins.confidence, [0.25, 1.0])


def test_perfectly_calibrated_construction_has_zero_error():
    # 10 examples at confidence .7 with 7 correct, 10 at .9 with 9 correct: acc_m == conf_m.
    probs = jnp.array([[0.7, 0.3]] * 10 + [[0.1, 0.9]] * 10)
    labels = jnp.array([0] * 7 + [1] * 3 + [1] * 9 + [0] * 1)
    assert float(_ece(probs, labels)) == pytest.approx(0.0, abs=1e-6)
    assert float(_mce(probs, labels)) == pytest.approx(0.0, abs=1e-6)


def test_confidently_wrong_has_ece_one():
    probs = jnp.array([[1.0, 0.0, 0.0]] * 5)
    assert float(_ece(probs, jnp.ones(5, dtype=jnp.int32))) == 1.0
    assert float(_mce(probs, jnp.ones(5, dtype=jnp.int32))) == 1.0


def _reference_ece(probs: np.ndarray, labels: np.ndarray, num_bins: int) -> float:
    """Loop over bins in float64, with the same (lo, hi] convention."""
    confidence = probs.max(-1)
    correct = probs.argmax(-1) == labels
    edges = np.linspace(0.0, 1.0, num_bins + 1)
    total = 0.0
    for m in range(num_bins):
        in_bin = (confidence > edges[m]) & (confidence <= edges[m + 1])
        if m == 0:
            in_bin |= confidence == 0.0
        if in_bin.any():
            total += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return total


def test_ece_matches_loop_reference():
    rng = np.random.default_rng(0)
    logits = 3.0 * rng.normal(size=(500, 10))
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    labels = rng.integers(0, 10, size=500)
    expected = _reference_ece(probs, labels, num_bins=15)
    np.testing.assert_allclose(_ece(probs.astype(np.float32), labels), expected, atol=1e-5)


def test_bins_are_consistent_with_ece():
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.ones(K), size=B).astype(np.float32)
    labels = rng.integers(0, K, size=B)
    bins = _reliability_bins(probs, labels, num_bins=NUM_BINS)
    assert int(bins.count.sum()) == B
    weighted = np.sum(bins.count / B * np.abs(bins.accuracy - bins.confidence))
    np.testing.assert_allclose(_ece(probs, labels, num_bins=NUM_BINS), weighted, rtol=1e-5)


def _normalize(weights: np.ndarray) -> np.ndarray:
    weights = weights.copy()
    weights[weights.sum(-1) == 0, 0] = 1.0
    return weights / weights.sum(-1, keepdims=True)


@settings(max_examples=50, deadline=None)
@given(
    probs=hnp.arrays(
        np.float32, (B, K), elements=st.floats(0.0, 1.0, width=32, allow_subnormal=False)
    ).map(_normalize),
    labels=hnp.arrays(np.int32, (B,), elements=st.integers(0, K - 1)),
)
def test_ece_mce_ranges(probs, labels):
    ece_value = float(_ece(probs, labels, num_bins=NUM_BINS))
    mce_value = float(_mce(probs, labels, num_bins=NUM_BINS))
    assert -1e-6 <= ece_value <= 1.0 + 1e-6
    assert -1e-6 <= mce_value <= 1.0 + 1e-6
    assert ece_value <= mce_value + 1e-6  # a weighted mean never exceeds the maximum

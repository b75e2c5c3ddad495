"""Tests for bayeskd.metrics.classification: hand-computed values and simplex properties."""

import math

import hypothesis.extra.numpy as hnp
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from bayeskd.metrics import (
    accuracy,
    agreement,
    brier,
    entropy,
    kl_divergence,
    mutual_information,
    nll,
    predictive_mean,
    total_variation,
)

# Fixed shapes so that each jitted metric compiles once across all hypothesis examples.
S, B, K = 4, 8, 5
LOG2 = math.log(2.0)

# Jitted once here: a whole-function compile is far cheaper than eager op-by-op dispatch.
_accuracy = jax.jit(accuracy)
_nll = jax.jit(nll, static_argnames="eps")
_brier = jax.jit(brier)
_agreement = jax.jit(agreement)
_kl = jax.jit(kl_divergence, static_argnames="eps")
_tv = jax.jit(total_variation)
_entropy = jax.jit(entropy)
_mi = jax.jit(mutual_information)
_predictive_mean = jax.jit(predictive_mean)


def _normalize(weights: np.ndarray) -> np.ndarray:
    """Rows of non-negative weights to probabilities; an all-zero row becomes one-hot."""
    weights = weights.copy()
    weights[weights.sum(-1) == 0, 0] = 1.0
    return weights / weights.sum(-1, keepdims=True)


def simplex(shape):
    """Probability vectors along the last axis, with exact zeros and one-hots among them."""
    elements = st.floats(0.0, 1.0, width=32, allow_subnormal=False)
    return hnp.arrays(np.float32, shape, elements=elements).map(_normalize)


labels_strategy = hnp.arrays(np.int32, (B,), elements=st.integers(0, K - 1))


# ---------------------------------------------------------------------------------------------
# Hand-computed values.


def test_accuracy_hand_computed():
    probs = jnp.array(
        [
            [0.6, 0.3, 0.1],  # argmax 0, label 0: correct
            [0.2, 0.5, 0.3],  # argmax 1, label 2: wrong
            [0.1, 0.1, 0.8],  # argmax 2, label 2: correct
            [0.4, 0.4, 0.2],  # tie -> argmax 0, label 1: wrong
        ]
    )
    assert float(_accuracy(probs, jnp.array([0, 2, 2, 1]))) == 0.5


def test_nll_hand_computed():
    probs = jnp.array([[0.5, 0.5], [0.75, 0.25]])
    # -(log 0.5 + log 0.25) / 2 = (log 2 + 2 log 2) / 2 = 1.5 log 2
    np.testing.assert_allclose(_nll(probs, jnp.array([1, 1])), 1.5 * LOG2, rtol=1e-6)


def test_nll_clamps_zero_probability():
    probs = jnp.array([[1.0, 0.0]])
    value = _nll(probs, jnp.array([1]), eps=1e-6)
    np.testing.assert_allclose(value, -math.log(1e-6), rtol=1e-6)
    assert np.isfinite(float(_nll(probs, jnp.array([1]))))


def test_brier_hand_computed():
    probs = jnp.array([[0.5, 0.5], [1.0, 0.0], [0.0, 1.0]])
    # (0.25 + 0.25) + (1 + 1) + (0 + 0) = 2.5, over 3 examples
    np.testing.assert_allclose(_brier(probs, jnp.array([0, 1, 1])), 2.5 / 3, rtol=1e-6)
    assert float(_brier(probs[1:2], jnp.array([0]))) == 0.0  # confident and right
    assert float(_brier(probs[1:2], jnp.array([1]))) == 2.0  # confident and wrong


def test_agreement_hand_computed():
    a = jnp.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.5, 0.4, 0.1]])
    b = jnp.array([[0.4, 0.3, 0.3], [0.1, 0.1, 0.8], [0.2, 0.2, 0.6], [0.1, 0.8, 0.1]])
    # top-1: a = (0, 1, 2, 0), b = (0, 2, 2, 1) -> agree on examples 0 and 2
    assert float(_agreement(a, b)) == 0.5
    assert float(_agreement(a, a)) == 1.0


def test_kl_divergence_hand_computed():
    p = jnp.array([[0.5, 0.5], [1.0, 0.0]])
    q = jnp.array([[0.25, 0.75], [0.5, 0.5]])
    # row 0: 0.5 log(0.5/0.25) + 0.5 log(0.5/0.75) = 0.5 log(4/3)
    # row 1: 1 log(1/0.5) + 0 log 0 = log 2
    expected = (0.5 * math.log(4 / 3) + LOG2) / 2
    np.testing.assert_allclose(_kl(p, q), expected, rtol=1e-6)


def test_kl_divergence_is_finite_when_q_has_zeros():
    p = jnp.array([[0.5, 0.5]])
    q = jnp.array([[1.0, 0.0]])
    # 0.5 log(0.5 / 1) + 0.5 log(0.5 / eps)
    expected = 0.5 * math.log(0.5) + 0.5 * math.log(0.5 / 1e-6)
    np.testing.assert_allclose(_kl(p, q, eps=1e-6), expected, rtol=1e-6)


def _random_probs(seed: int, shape=(B, K)) -> np.ndarray:
    return np.random.default_rng(seed).dirichlet(np.ones(shape[-1]), size=shape[:-1])


def test_kl_divergence_matches_optax():
    p, q = _random_probs(0).astype(np.float32), _random_probs(1).astype(np.float32)
    reference = jax.jit(lambda p, q: jnp.mean(optax.losses.kl_divergence(jnp.log(q), p)))(p, q)
    np.testing.assert_allclose(_kl(p, q), reference, rtol=1e-5)


def test_total_variation_hand_computed():
    p = jnp.array([[1.0, 0.0, 0.0], [0.5, 0.25, 0.25]])
    q = jnp.array([[0.0, 1.0, 0.0], [0.25, 0.25, 0.5]])
    # row 0: 0.5 (1 + 1) = 1; row 1: 0.5 (0.25 + 0 + 0.25) = 0.25
    assert float(_tv(p, q)) == 0.625


def test_entropy_hand_computed():
    probs = jnp.array([[0.25, 0.25, 0.25, 0.25], [1.0, 0.0, 0.0, 0.0], [0.5, 0.25, 0.25, 0.0]])
    # log 4 = 2 log 2; 0; 0.5 log 2 + 2 (0.25 log 4) = 1.5 log 2
    np.testing.assert_allclose(_entropy(probs), [2 * LOG2, 0.0, 1.5 * LOG2], rtol=1e-6)


def test_entropy_matches_scipy():
    probs = _random_probs(2)
    reference = scipy.stats.entropy(probs, axis=-1)
    np.testing.assert_allclose(_entropy(probs.astype(np.float32)), reference, rtol=1e-5)


def test_entropy_keeps_leading_axes():
    assert _entropy(jnp.full((S, B, K), 1.0 / K)).shape == (S, B)


def test_predictive_mean_hand_computed():
    probs_SBK = jnp.array([[[1.0, 0.0], [0.5, 0.5]], [[0.0, 1.0], [0.25, 0.75]]])
    np.testing.assert_allclose(_predictive_mean(probs_SBK), [[0.5, 0.5], [0.375, 0.625]])


def test_mutual_information_hand_computed():
    probs_SBK = jnp.array(
        [
            [[1.0, 0.0], [1.0, 0.0], [0.5, 0.5]],
            [[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]],
        ]
    )
    # Ex. 0: two confident members that disagree -> H(1/2, 1/2) - 0 = log 2.
    # Ex. 1: identical confident members -> 0.  Ex. 2: identical uniform members -> log 2 - log 2 = 0.
    np.testing.assert_allclose(_mi(probs_SBK), [LOG2, 0.0, 0.0], atol=1e-6)


def test_mutual_information_mixed_members():
    probs_SBK = jnp.array([[[1.0, 0.0]], [[0.5, 0.5]]])
    # mean (3/4, 1/4): H = -(3/4 log 3/4 + 1/4 log 1/4); mean member entropy = (0 + log 2) / 2
    total = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    np.testing.assert_allclose(_mi(probs_SBK), [total - 0.5 * LOG2], rtol=1e-6)


@pytest.mark.parametrize(
    "metric",
    [accuracy, nll, brier],
    ids=lambda f: f.__name__,
)
def test_label_metrics_accept_numpy_and_return_scalar_arrays(metric):
    probs = np.full((B, K), 1.0 / K, dtype=np.float32)
    value = jax.jit(metric)(probs, np.zeros(B, dtype=np.int32))
    assert isinstance(value, jax.Array)
    assert value.shape == ()


# ---------------------------------------------------------------------------------------------
# Properties over random points of the simplex.


@settings(max_examples=50, deadline=None)
@given(p=simplex((B, K)), q=simplex((B, K)))
def test_kl_divergence_properties(p, q):
    assert float(_kl(p, q)) >= -1e-6
    assert abs(float(_kl(p, p))) <= 1e-6


@settings(max_examples=50, deadline=None)
@given(p=simplex((B, K)), q=simplex((B, K)))
def test_total_variation_properties(p, q):
    tv = float(_tv(p, q))
    assert -1e-6 <= tv <= 1.0 + 1e-6
    assert float(_tv(p, p)) == 0.0
    assert tv == pytest.approx(float(_tv(q, p)), abs=1e-6)


@settings(max_examples=50, deadline=None)
@given(probs=simplex((B, K)), labels=labels_strategy)
def test_label_metric_ranges(probs, labels):
    assert -1e-6 <= float(_brier(probs, labels)) <= 2.0 + 1e-6
    assert 0.0 <= float(_accuracy(probs, labels)) <= 1.0
    assert float(_nll(probs, labels)) >= 0.0


@settings(max_examples=50, deadline=None)
@given(probs=simplex((B, K)))
def test_entropy_bounds(probs):
    h = np.asarray(_entropy(probs))
    assert h.shape == (B,)
    assert np.all(h >= -1e-6)
    assert np.all(h <= math.log(K) + 1e-6)


@settings(max_examples=50, deadline=None)
@given(probs_SBK=simplex((S, B, K)))
def test_mutual_information_bounds(probs_SBK):
    mi = np.asarray(_mi(probs_SBK))
    assert mi.shape == (B,)
    assert np.all(mi >= -1e-6)
    assert np.all(mi <= math.log(K) + 1e-6)

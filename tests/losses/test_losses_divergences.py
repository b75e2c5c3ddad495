"""Divergences against float64 references, properties, and the stable range of logits/temperatures."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from bayeskd.losses import (
    kl_divergence,
    log_mean_probs,
    reverse_kl_divergence,
    soft_cross_entropy,
    softmax_cross_entropy,
)


def _kl64(zt, zs, t):
    """float64 numpy reference of T^2 KL(softmax(zt/T) || softmax(zs/T))."""
    zt, zs = np.asarray(zt, np.float64) / t, np.asarray(zs, np.float64) / t
    lt = zt - zt.max(-1, keepdims=True)
    lt = lt - np.log(np.exp(lt).sum(-1, keepdims=True))
    ls = zs - zs.max(-1, keepdims=True)
    ls = ls - np.log(np.exp(ls).sum(-1, keepdims=True))
    pt = np.exp(lt)
    return t**2 * np.sum(np.where(pt > 0, pt * (lt - ls), 0.0), -1)


def test_kl_hand_computed():
    # p = (0.5, 0.5), q = (0.25, 0.75): KL = 0.5 log 2 + 0.5 log(2/3)
    zt = jnp.log(jnp.array([0.5, 0.5]))
    zs = jnp.log(jnp.array([0.25, 0.75]))
    expected = 0.5 * np.log(2.0) + 0.5 * np.log(2.0 / 3.0)
    np.testing.assert_allclose(kl_divergence(zt, zs), expected, rtol=1e-6)
    # reverse: 0.25 log(0.5) + 0.75 log(1.5)
    np.testing.assert_allclose(reverse_kl_divergence(zt, zs), 0.25 * np.log(0.5) + 0.75 * np.log(1.5),
                               rtol=1e-6)


@pytest.mark.parametrize("scale", [1.0, 1e2, 1e4])
@pytest.mark.parametrize("temperature", [0.05, 1.0, 4.0, 100.0])
def test_kl_matches_float64_reference_over_range(scale, temperature):
    rng = np.random.default_rng(0)
    zt = rng.normal(size=(64, 10)) * scale
    zs = rng.normal(size=(64, 10)) * scale
    got = np.asarray(kl_divergence(zt, zs, temperature=temperature))
    ref = _kl64(zt, zs, temperature)
    assert np.all(np.isfinite(got))
    # float32 carries ~6e-8 relative error; each of the K log-probabilities is up to
    # log K + |z|/T in size and the sum is scaled by T^2, so the attainable absolute accuracy is
    # about T^2 * K * eps32 * (log K + |z| / T).
    tol = 1e-5 + temperature**2 * 10 * 6e-8 * (3.0 + 4 * scale / temperature)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=tol)


def test_kl_gradient_matches_finite_differences_float64():
    with jax.enable_x64(True):
        rng = np.random.default_rng(1)
        zt = jnp.asarray(rng.normal(size=(3, 5)))
        zs = jnp.asarray(rng.normal(size=(3, 5)))

        def f(z):
            t = 2.5
            lt = jax.nn.log_softmax(zt / t)
            ls = jax.nn.log_softmax(z / t)
            return t**2 * jnp.sum(jnp.exp(lt) * (lt - ls))

        g = jax.grad(f)(zs)
        eps = 1e-6
        fd = np.zeros((3, 5))
        for i in range(3):
            for j in range(5):
                e = jnp.zeros((3, 5)).at[i, j].set(eps)
                fd[i, j] = (f(zs + e) - f(zs - e)) / (2 * eps)
        np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-9)
        # and the library function gives the same gradient in float32
        g32 = jax.grad(lambda z: jnp.sum(kl_divergence(zt.astype(jnp.float32), z, temperature=2.5)))(
            zs.astype(jnp.float32))
        np.testing.assert_allclose(g32, g, rtol=1e-4, atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float32, (4, 6), elements=st.floats(-30, 30, width=32)),
       arrays(np.float32, (4, 6), elements=st.floats(-30, 30, width=32)),
       st.floats(-50, 50), st.sampled_from([0.5, 1.0, 3.0]))
def test_kl_properties(zt, zs, shift, t):
    kl = np.asarray(kl_divergence(zt, zs, temperature=t))
    assert np.all(kl >= 0)
    np.testing.assert_allclose(kl_divergence(zt, zt + 0 * zs, temperature=t), 0.0, atol=1e-5)
    # invariant to adding a constant to every logit of either side
    np.testing.assert_allclose(kl_divergence(zt + shift, zs - shift, temperature=t), kl,
                               rtol=1e-3, atol=2e-4)


def test_kl_zero_only_for_equal_distributions():
    z = jnp.array([[0.0, 1.0, 2.0]])
    assert float(kl_divergence(z, z + 3.0)[0]) == 0.0
    assert float(kl_divergence(z, z * 1.01)[0]) > 0.0


def test_kl_handles_zero_teacher_probabilities():
    zt = jnp.array([[0.0, -jnp.inf, 1.0]])
    zs = jnp.array([[0.0, 0.0, 0.0]])
    v = kl_divergence(zt, zs)
    assert np.isfinite(v).all() and float(v[0]) > 0


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_kl_rejects_bad_temperature(bad):
    with pytest.raises(ValueError, match="temperature"):
        kl_divergence(jnp.zeros((1, 3)), jnp.zeros((1, 3)), temperature=bad)


def test_kl_rejects_shape_mismatch():
    with pytest.raises(ValueError, match="teacher_logits"):
        kl_divergence(jnp.zeros((2, 3)), jnp.zeros((2, 4)))


def test_cross_entropies():
    z = jnp.array([[2.0, 0.0, -1.0]])
    logp = jax.nn.log_softmax(z)
    np.testing.assert_allclose(softmax_cross_entropy(z, jnp.array([1])), -logp[:, 1], rtol=1e-6)
    q = jnp.array([[0.2, 0.3, 0.5]])
    np.testing.assert_allclose(soft_cross_entropy(z, q), -(q * logp).sum(-1), rtol=1e-6)


def test_log_mean_probs_averages_in_probability_space():
    p1 = jnp.array([0.9, 0.1])
    p2 = jnp.array([0.1, 0.9])
    members = jnp.log(jnp.stack([p1, p2]))[None]  # [1, M=2, K=2]
    np.testing.assert_allclose(jnp.exp(log_mean_probs(members)), [[0.5, 0.5]], rtol=1e-6)
    # averaging logits instead would give a different (here also uniform) answer; use unequal
    p3 = jnp.array([0.99, 0.01])
    members = jnp.log(jnp.stack([p3, p2]))[None]
    np.testing.assert_allclose(jnp.exp(log_mean_probs(members)), [[0.545, 0.455]], rtol=1e-5)

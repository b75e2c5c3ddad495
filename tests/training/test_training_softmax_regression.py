"""Softmax regression against exact answers: the bias-only optimum is the mean target, the fit is
a stationary point of its objective, padding rows change nothing, and the feature map."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayeskd.training.softmax_regression import (
    QuadraticFeatures,
    fit_softmax_regression,
    quadratic_features,
)


def test_bias_only_optimum_is_the_weighted_mean_target():
    # zero features: the weights feel only the prior (stay 0) and softmax(b) = sum w q / sum w
    rng = np.random.default_rng(0)
    q = rng.dirichlet(np.ones(3), size=(1, 40)).astype(np.float32)
    w = rng.uniform(0.5, 2, size=(1, 40)).astype(np.float32)
    W, b = fit_softmax_regression(np.zeros((1, 40, 2), np.float32), q, w, steps=2000,
                                  prior_variance=10.0)
    assert np.all(np.asarray(W) == 0)
    expect = (w[0, :, None] * q[0]).sum(0) / w.sum()
    np.testing.assert_allclose(jax.nn.softmax(b[0]), expect, atol=1e-4)


def test_fit_is_a_stationary_point_and_padding_changes_nothing():
    rng = np.random.default_rng(1)
    phi = rng.normal(size=(30, 4)).astype(np.float32)
    y = rng.integers(0, 3, size=30)
    q = np.eye(3, dtype=np.float32)[y]
    pad = lambda a: np.concatenate([a, np.ones((10, *a.shape[1:]), np.float32)])  # noqa: E731
    phis, qs = np.stack([pad(phi), pad(phi)]), np.stack([pad(q), pad(q)])
    w = np.stack([np.r_[np.ones(30), np.zeros(10)], np.r_[np.ones(30), np.zeros(10)]])
    qs[1, 30:] = 0.5  # different padding content, masked out
    W, b = fit_softmax_regression(phis, qs, w.astype(np.float32), steps=3000, prior_variance=1.0)
    np.testing.assert_allclose(W[0], W[1], atol=1e-5)

    def objective(params):
        Wm, bm = params
        logp = jax.nn.log_softmax(phi @ Wm + bm, -1)
        return -jnp.mean(jnp.sum(q * logp, -1)) + jnp.sum(Wm**2) / (2 * 1.0 * 30)

    gW, gb = jax.grad(objective)((W[0], b[0]))
    assert float(jnp.max(jnp.abs(gW))) < 1e-3 and float(jnp.max(jnp.abs(gb))) < 1e-3


def test_quadratic_features_are_standardised_on_the_reference():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(500, 3))
    f = QuadraticFeatures.fit(x)
    assert quadratic_features(x).shape == (500, 9)
    np.testing.assert_allclose(f(x).mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(f(x).std(0), 1, atol=1e-4)
    assert f(x[:1])[0, 8] == pytest.approx((x[0, 1] * x[0, 2] - f.mean[8]) / f.std[8], rel=1e-5)

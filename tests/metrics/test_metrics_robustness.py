"""Tests for bayeskd.metrics.robustness against closed forms for linear models."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from bayeskd.metrics import input_grad_norm, noise_accuracy


def _threshold_fn(x):
    """1-D two-class model with logits (x, -x): predicts class 0 iff x > 0."""
    return jnp.concatenate([x, -x], axis=-1)


def test_noise_accuracy_matches_gaussian_cdf():
    # Every input is x = 1 with label 0, so acc(sigma) = P(1 + sigma * eps > 0) = Phi(1 / sigma).
    n = 4000
    x = jnp.ones((n, 1))
    labels = jnp.zeros(n, dtype=jnp.int32)
    sigmas = [0.0, 0.5, 1.0, 2.0]
    run = jax.jit(functools.partial(noise_accuracy, _threshold_fn, sigmas=sigmas))
    acc = run(x, labels, key=jax.random.key(0))
    assert acc.shape == (4,)
    expected = [1.0] + [scipy.stats.norm.cdf(1.0 / s) for s in sigmas[1:]]
    # binomial standard error is at most sqrt(0.25 / 4000) ~ 0.008
    np.testing.assert_allclose(acc, expected, atol=0.03)
    assert float(acc[0]) == 1.0


def test_noise_accuracy_clean_value_chunking_and_key():
    x = jnp.array([[2.0], [-1.0], [0.5], [-0.2], [3.0]])
    labels = jnp.array([0, 1, 1, 1, 0])  # clean predictions 0, 1, 0, 1, 0: 4 of 5 correct
    sigmas = jnp.array([0.0, 0.7])

    @functools.partial(jax.jit, static_argnames="batch_size")
    def run(sigmas, key, batch_size=1024):
        return noise_accuracy(
            _threshold_fn, x, labels, sigmas=sigmas, key=key, batch_size=batch_size
        )

    full = run(sigmas, jax.random.key(3))
    chunked = run(sigmas, jax.random.key(3), batch_size=2)
    assert float(full[0]) == pytest.approx(0.8)
    # One noise draw is shared across chunkings (and padding rows are ignored).
    np.testing.assert_array_equal(full, chunked)
    # The same key gives the same noise.
    np.testing.assert_array_equal(run(sigmas, jax.random.key(3)), full)


def _linear_case(batch=10, dim=6, classes=4):
    rng = np.random.default_rng(0)
    x, w, b = (
        rng.normal(size=(batch, dim)),
        rng.normal(size=(dim, classes)),
        rng.normal(size=classes),
    )
    return x.astype(np.float32), w.astype(np.float32), b.astype(np.float32)


@functools.partial(jax.jit, static_argnames="batch_size")
def _linear_grad_norm(x, w, b, batch_size=1024):
    def apply_fn(x):
        return x.reshape(x.shape[0], -1) @ w + b

    return input_grad_norm(apply_fn, x, batch_size=batch_size)


def test_input_grad_norm_linear_model_closed_form():
    # logits = x W + b:  grad_x log p_c = W[:, c] - sum_k p_k W[:, k] = W[:, c] - W p.
    x, w, b = (a.astype(np.float64) for a in _linear_case())
    logits = x @ w + b
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    grads = w[:, probs.argmax(-1)].T - probs @ w.T
    expected = np.mean(np.linalg.norm(grads, axis=-1))
    value = _linear_grad_norm(*_linear_case())
    np.testing.assert_allclose(value, expected, rtol=1e-5)
    # Chunking with padding (10 = 3 + 3 + 3 + 1) does not change the value.
    np.testing.assert_allclose(_linear_grad_norm(*_linear_case(), batch_size=3), value, rtol=1e-6)


def test_input_grad_norm_flattens_feature_axes():
    x, w, b = _linear_case()
    np.testing.assert_allclose(
        _linear_grad_norm(x.reshape(10, 2, 3), w, b), _linear_grad_norm(x, w, b), rtol=1e-6
    )


def test_input_grad_norm_matches_finite_differences_float64():
    # A small tanh network; central differences of log p_c(x) with c held fixed, in float64.
    rng = np.random.default_rng(1)
    w1, w2, x = rng.normal(size=(3, 5)), rng.normal(size=(5, 4)), rng.normal(size=(4, 3))
    h = 1e-6

    def apply_fn(x):
        return jnp.tanh(x @ w1) @ w2

    @jax.jit
    def grad_norm_and_fd(x):
        log_probs = jax.nn.log_softmax(apply_fn(x))
        predicted = jnp.argmax(log_probs, axis=-1)
        steps = h * jnp.eye(3)  # [D, D]
        up = jax.nn.log_softmax(apply_fn((x[:, None] + steps).reshape(-1, 3))).reshape(4, 3, 4)
        down = jax.nn.log_softmax(apply_fn((x[:, None] - steps).reshape(-1, 3))).reshape(4, 3, 4)
        fd_grad = (up - down)[jnp.arange(4), :, predicted] / (2 * h)  # [B, D]
        return input_grad_norm(apply_fn, x), jnp.mean(jnp.linalg.norm(fd_grad, axis=-1))

    with jax.enable_x64(True):
        value, fd_value = grad_norm_and_fd(jnp.asarray(x, dtype=jnp.float64))
        assert value.dtype == jnp.float64
    np.testing.assert_allclose(value, fd_value, rtol=1e-6)

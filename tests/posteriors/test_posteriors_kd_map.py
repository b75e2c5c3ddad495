"""KD is MAP under a teacher-centred Dirichlet prior: the two objectives differ by a constant, so
their float64 minimisers agree to machine precision at T = 1 and not at T = 4 or alpha = 0."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayeskd.posteriors.kd_map import (
    dirichlet_neg_log_posterior,
    kd_loss,
    map_gaps,
    posterior_checks,
    regression_probs,
    solve_maps,
    unflatten,
)


def _toy(seed=0, n=40, d=3, k=3):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, d)), rng.integers(0, k, n).astype(np.int32),
            rng.dirichlet(np.ones(k), size=n))


def test_kd_objective_is_the_dirichlet_log_posterior_up_to_a_constant():
    phi, y, t = _toy()
    n, alpha, wd = len(y), 0.5, 1e-2
    with jax.enable_x64(True):
        args = (jnp.asarray(phi), jnp.asarray(y))
        thetas = np.random.default_rng(1).standard_normal((3, 12))
        diff = [float(n / (1 - alpha) * kd_loss(th, *args, jnp.log(t), alpha=alpha,
                                                weight_decay=wd)
                      - dirichlet_neg_log_posterior(th, *args, jnp.asarray(t), alpha=alpha,
                                                    weight_decay=wd)) for th in thetas]
    assert np.ptp(diff) < 1e-9 and abs(diff[0]) > 1e-3  # constant, and not trivially zero


def test_kd_minimiser_is_the_dirichlet_map_at_t1_only():
    phi, y, t = _toy()
    w = solve_maps(phi, y, t, alpha=0.5, weight_decay=1e-2)
    assert set(w) == {"kd", "kd_T4", "labels", "dirichlet"}
    assert np.max(np.abs(w["kd"] - w["dirichlet"])) < 1e-8
    assert np.max(np.abs(w["kd_T4"] - w["dirichlet"])) > 1e-3
    assert np.max(np.abs(w["labels"] - w["dirichlet"])) > 1e-3
    g = map_gaps(w, phi)
    assert g["weight_gap"] < 1e-8 and g["prob_gap"] < 1e-8 and g["prob_gap_T4"] > 1e-3


def test_unflatten_and_probs_are_the_softmax_regression():
    theta = np.arange(8, dtype=float) / 10  # d = 3, k = 2
    W, b = unflatten(theta, 3, 2)
    np.testing.assert_array_equal(W, theta[:6].reshape(3, 2))
    np.testing.assert_array_equal(b, theta[6:])
    phi = np.array([[1.0, 0.0, -1.0]])
    z = phi @ W + b
    np.testing.assert_allclose(regression_probs(theta, phi), np.exp(z) / np.exp(z).sum(),
                               rtol=1e-15)


def test_posterior_checks_of_draws_at_the_truth():
    phi, y, _ = _toy(n=120)
    theta = np.random.default_rng(2).standard_normal(12)
    p = regression_probs(theta, phi)
    draws = theta + 1e-3 * np.random.default_rng(3).standard_normal((2 * 50, 12))
    row = posterior_checks(draws, theta, phi, y, p, num_coverage=100, levels=(0.5, 0.9), chains=2)
    assert row["coverage_0.5"] <= row["coverage_0.9"] and row["coverage_0.9"] > 0.8
    assert 0 < row["mean_width_0.9"] < 0.01
    assert row["nll_map"] == pytest.approx(row["nll_posterior_mean"], abs=1e-4)

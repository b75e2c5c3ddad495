"""Whitened Langevin on a Gaussian: the whitened potential is exactly ||z||^2 / 2, so unadjusted
Langevin with step eta is an AR(1) chain whose stationary covariance is A^{-1} / (1 - eta / 2)."""

import jax
import jax.numpy as jnp
import numpy as np

from bayeskd.posteriors.langevin import whitened_langevin


def test_gaussian_draws_have_the_closed_form_moments():
    n, eta = 50, 0.05
    A = jnp.array([[4.0, 1.0], [1.0, 2.0]])  # precision of the target N(mu, A^-1)
    mu = jnp.array([1.0, -2.0])

    def u(theta, mu_, a_):  # negative log density per example
        d = theta - mu_
        return 0.5 * d @ a_ @ d / n

    draws = jax.jit(lambda k: whitened_langevin(
        u, mu, (mu, A), num_data=n, step_size=eta, burn_in=200, samples=500, thin=5,
        keys=jax.random.split(k, 64)))(jax.random.key(0))
    assert draws.shape == (64, 500, 2)
    flat = np.asarray(draws).reshape(-1, 2)
    want = np.linalg.inv(np.asarray(A)) / (1 - eta / 2)
    np.testing.assert_allclose(flat.mean(0), mu, atol=0.03)
    np.testing.assert_allclose(np.cov(flat.T), want, rtol=0.1, atol=0.01)

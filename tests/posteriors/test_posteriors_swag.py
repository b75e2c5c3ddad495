"""SWAG: moments, ring buffer and sampling against the closed form of a linear-Gaussian posterior."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from bayeskd.models import MLP
from bayeskd.posteriors import SWAG, fit_swag, swag_moments, swag_sample
from bayeskd.priors import GaussianPrior
from bayeskd.training import init_members


def linear_gaussian_posterior(seed=0, n=30, d=3, alpha=1.0, beta=4.0):
    """Posterior N(m, S) of w in y = X w + noise, w ~ N(0, 1/alpha), noise ~ N(0, 1/beta)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    y = x @ np.array([1.0, -2.0, 0.5])[:d] + rng.normal(size=n) / np.sqrt(beta)
    prec = alpha * np.eye(d) + beta * x.T @ x
    cov = np.linalg.inv(prec)
    return cov @ (beta * x.T @ y), cov


def _collect(iterates, **kw):
    """Run swag_moments on a sequence of parameter vectors (the 'SGD iterates')."""
    tx = swag_moments(**kw)
    params = {"w": jnp.zeros(iterates.shape[1], jnp.float32)}
    state = tx.init(params)

    def step(carry, theta):
        params, state = carry
        updates = {"w": theta - params["w"]}
        updates, state = tx.update(updates, state, params)
        return (optax.apply_updates(params, updates), state), None

    (_, state), _ = jax.lax.scan(step, (params, state), jnp.asarray(iterates, jnp.float32))
    return state


def test_moments_and_ring_buffer_are_exact():
    it = np.random.default_rng(0).normal(size=(17, 4)).astype(np.float32)
    state = _collect(it, rank=3, collect_every=2, start_step=1)
    kept = it[1::2]  # steps 1, 3, 5, ...
    assert int(state.count) == len(kept)
    np.testing.assert_allclose(state.mean["w"], kept.mean(0), atol=1e-5)
    np.testing.assert_allclose(state.sq_mean["w"], (kept**2).mean(0), atol=1e-5)
    running = np.cumsum(kept, 0) / np.arange(1, len(kept) + 1)[:, None]
    devs = kept - running  # deviation from the running mean at collection time
    slots = [i % 3 for i in range(len(kept))]
    for j in range(3):
        last = max(i for i, s in enumerate(slots) if s == j)
        np.testing.assert_allclose(state.deviations["w"][j], devs[last], atol=1e-5)


def test_swag_samples_match_linear_gaussian_closed_form():
    """Iterates drawn from the exact posterior N(m, S): SWAG's draws have mean m and covariance
    s (diag(S) + S) with s = 1/2 (low rank), and diag(S) for SWAG-Diagonal."""
    m, cov = linear_gaussian_posterior()
    rng = np.random.default_rng(1)
    it = rng.multivariate_normal(m, cov, size=4000)
    state = _collect(it, rank=400)
    keys = jax.random.split(jax.random.key(0), 20000)
    draws = np.asarray(jax.vmap(lambda k: swag_sample(state, k, scale=0.5, diagonal=False))(keys)["w"])
    var = np.asarray(state.sq_mean["w"]) - np.asarray(state.mean["w"]) ** 2
    dev = np.asarray(state.deviations["w"])
    implied = 0.5 * (np.diag(var) + dev.T @ dev / (400 - 1))
    # the sampler draws from the Gaussian its state defines (Monte Carlo error only) ...
    np.testing.assert_allclose(draws.mean(0), m, atol=0.01)
    np.testing.assert_allclose(np.cov(draws.T), implied, atol=0.03 * np.abs(implied).max())
    # ... and that Gaussian is the closed form s (diag S + S) up to the iterates' sampling error
    target = 0.5 * (np.diag(np.diag(cov)) + cov)
    np.testing.assert_allclose(implied, target, atol=0.15 * np.abs(target).max())
    diag = np.asarray(jax.vmap(lambda k: swag_sample(state, k, scale=1.0, diagonal=True))(keys)["w"])
    np.testing.assert_allclose(np.cov(diag.T), np.diag(np.diag(cov)), atol=0.06 * np.diag(cov).max())


def _mlp(key):
    return MLP(2, 2, hidden=(4,), rngs=nnx.Rngs(params=key))


def test_fit_swag_posterior_and_bad_rank():
    rng = np.random.default_rng(0)
    data = {"x": rng.normal(size=(40, 2)).astype(np.float32), "y": rng.integers(0, 2, 40)}
    _, init = init_members(_mlp, jax.random.split(jax.random.key(0), 2))
    post = fit_swag(_mlp, data, prior=GaussianPrior(1e-2), init_params=init, key=jax.random.key(1),
                    steps=60, learning_rate=0.05, batch_size=10, rank=5, collect_every=2,
                    num_samples=6, progress=False)
    assert post.num_members == 2 and int(post.state.count[0]) == 30
    probs = post.sample_probs(data["x"][:3], key=jax.random.key(2))
    assert probs.shape == (6, 3, 2) and float(jnp.std(probs[:, 0, 0])) > 0
    again = post.sample_probs(data["x"][:3], key=jax.random.key(2))
    np.testing.assert_allclose(probs, again)  # same key, same weights
    for bad in (1, -2):
        with pytest.raises(ValueError, match="rank"):
            swag_moments(rank=bad)
    empty = jax.tree.map(jnp.zeros_like, post.state)
    with pytest.raises(ValueError, match="snapshots"):
        SWAG(post.graphdef, empty)

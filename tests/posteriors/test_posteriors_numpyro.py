"""NUTS, SVI (AutoNormal) and the AIES/ESS ensemble samplers against a linear-Gaussian posterior;
BayesianNet's NNX <-> NumPyro parameter mapping."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from flax import nnx

from bayeskd.models import MLP
from bayeskd.posteriors.numpyro_bnn import (
    BayesianNet,
    check_divergences,
    prior_std_from_weight_decay,
    run_ensemble_sampler,
    run_nuts,
    run_svi,
    weight_decay_from_prior_std,
)
from bayeskd.training import apply_model, split_params

ALPHA, BETA = 1.0, 4.0


def linear_model(x, y=None):
    w = numpyro.sample("w", dist.Normal(0.0, 1 / np.sqrt(ALPHA)).expand([x.shape[1]]).to_event(1))
    numpyro.sample("y", dist.Normal(x @ w, 1 / np.sqrt(BETA)).to_event(1), obs=y)


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 2)).astype(np.float32)
    y = (x @ np.array([1.0, -0.5]) + rng.normal(size=20) / np.sqrt(BETA)).astype(np.float32)
    prec = ALPHA * np.eye(2) + BETA * x.T.astype(np.float64) @ x
    cov = np.linalg.inv(prec)
    return x, y, cov @ (BETA * x.T @ y), cov, prec


def _check(draws, mean, cov, tol):
    sd = np.sqrt(np.diag(cov))
    np.testing.assert_allclose(draws.mean(0), mean, atol=tol * sd.max())
    np.testing.assert_allclose(np.cov(draws.T), cov, atol=2 * tol * np.abs(cov).max())


def test_nuts_matches_closed_form(problem):
    x, y, mean, cov, _ = problem
    run = run_nuts(linear_model, x, y, key=jax.random.key(0), num_warmup=200, num_samples=400,
                   num_chains=2)
    assert run.samples["w"].shape == (2, 400, 2) and run.num_divergent == 0
    _check(np.asarray(run.samples["w"]).reshape(-1, 2), mean, cov, tol=0.2)


@pytest.mark.parametrize("kind", ["aies", "ess"])
def test_ensemble_samplers_match_closed_form(problem, kind):
    x, y, mean, cov, _ = problem
    run = run_ensemble_sampler(linear_model, x, y, kind=kind, key=jax.random.key(1),
                               num_walkers=20, num_warmup=300, num_samples=100, thinning=2)
    assert run.samples["w"].shape == (20, 100, 2)
    _check(np.asarray(run.samples["w"]).reshape(-1, 2), mean, cov, tol=0.25)


def test_svi_autonormal_matches_mean_field_closed_form(problem):
    """Mean-field VI on a Gaussian posterior: exact means, variances 1 / diag(precision)."""
    x, y, mean, _, prec = problem
    run = run_svi(linear_model, x, y, key=jax.random.key(2), num_steps=2000, learning_rate=1e-2,
                  num_particles=8)
    loc, scale = np.asarray(run.params["w_auto_loc"]), np.asarray(run.params["w_auto_scale"])
    sd = 1 / np.sqrt(np.diag(prec))
    np.testing.assert_allclose(loc, mean, atol=0.3 * sd.max())
    np.testing.assert_allclose(scale, sd, rtol=0.2)
    assert run.losses[-100:].mean() < run.losses[:10].mean()


def test_divergences_are_counted_and_all_divergent_fails_clearly(problem):
    x, y, *_ = problem
    assert check_divergences(np.array([[True, False], [False, False]])) == (1, 4)
    with pytest.raises(ValueError, match="step_size: every one of the 6 NUTS transitions diverged"):
        check_divergences(np.ones((2, 3), bool), step_size=1e4)
    for kw, name in (({"num_samples": 0}, "num_samples"), ({"step_size": 0.0}, "step_size"),
                     ({"num_chains": 0}, "num_chains")):
        args = {"num_warmup": 1, "num_samples": 1} | kw
        with pytest.raises(ValueError, match=name):
            run_nuts(linear_model, x, y, key=jax.random.key(0), **args)
    with pytest.raises(ValueError, match="num_walkers"):
        run_ensemble_sampler(linear_model, x, y, kind="aies", key=jax.random.key(0),
                             num_walkers=3, num_warmup=1, num_samples=1)
    with pytest.raises(ValueError, match="kind"):
        run_ensemble_sampler(linear_model, x, y, kind="emcee", key=jax.random.key(0),
                             num_walkers=4, num_warmup=1, num_samples=1)


def test_bayesian_net_sites_map_back_to_nnx_params():
    fn = lambda k: MLP(2, 3, hidden=(4,), rngs=nnx.Rngs(params=k))  # noqa: E731
    bnn = BayesianNet(fn, key=jax.random.key(0), prior_std=0.5)
    graphdef, params = split_params(fn(jax.random.key(0)))
    sites = {name: leaf[None] for name, leaf in zip(bnn.site_names, jax.tree.leaves(params),
                                                     strict=True)}
    back = jax.tree.map(lambda a: a[0], bnn.params_from_samples(sites))
    x = jnp.ones((2, 2))
    np.testing.assert_allclose(apply_model(graphdef, back, x), apply_model(graphdef, params, x))
    assert bnn.num_params == 2 * 4 + 4 + 4 * 3 + 3
    # the model's prior is N(0, prior_std^2) on every weight
    tr = numpyro.handlers.trace(numpyro.handlers.seed(bnn.model, 0)).get_trace(x)
    assert {n for n in tr if tr[n]["type"] == "sample"} == set(bnn.site_names) | {"y"}
    np.testing.assert_allclose(tr["net/head.kernel"]["fn"].variance, 0.25)
    with pytest.raises(ValueError, match="prior_std"):
        BayesianNet(fn, key=jax.random.key(0), prior_std=0.0)


def test_prior_std_weight_decay_round_trip():
    wd = weight_decay_from_prior_std(0.5, 40)
    assert wd == pytest.approx(1 / (0.25 * 40))
    assert prior_std_from_weight_decay(wd, 40) == pytest.approx(0.5)

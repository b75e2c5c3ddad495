"""The NUTS reference predictive is the average over every draw of its run, with the split
R-hat / ESS of that run's weights and predictive."""

import jax
import numpy as np
from flax import nnx

from bayeskd.models import MLP
from bayeskd.posteriors import (
    BayesianNet,
    nuts_reference,
    offline_predictive,
    predictive_diagnostics,
    run_nuts,
)


def _net(key):
    return MLP(2, 2, hidden=(3,), rngs=nnx.Rngs(params=key))


def test_reference_is_the_run_it_reports():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 2)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int32)
    grid = rng.normal(size=(7, 2)).astype(np.float32)
    kw = dict(num_warmup=30, num_samples=20)
    ref = nuts_reference(_net, x, y, grid, key=jax.random.key(1), init_key=jax.random.key(0),
                         prior_std=1.0, **kw)
    # the same run by hand: the predictive of every draw, chain-major
    bnn = BayesianNet(_net, key=jax.random.key(0), prior_std=1.0)
    run = run_nuts(bnn.model, x, y, key=jax.random.key(1), num_chains=2, **kw)
    pred = offline_predictive(bnn.posterior(run, name="nuts"), grid, key=jax.random.key(0),
                              keep_samples=True)
    np.testing.assert_array_equal(ref["probs"], pred.probs)
    np.testing.assert_allclose(ref["probs"].sum(-1), 1.0, rtol=1e-5)
    assert ref["divergent"] == int(run.num_divergent)
    assert ref["predictive"] == predictive_diagnostics(pred.sample_probs.reshape(2, 20, 7, 2))
    for part in ("weights", "predictive"):
        assert ref[part]["chains"] == 2 and ref[part]["draws"] == 20
        assert ref[part]["rhat_max"] >= ref[part]["rhat_median"] > 0.9

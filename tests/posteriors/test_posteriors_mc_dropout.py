"""MC dropout: dropout on at prediction time, one mask set per key."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from bayeskd.models import MLP
from bayeskd.posteriors import MCDropout
from bayeskd.training import apply_model, split_params


def test_mc_dropout_draws_differ_and_average():
    graphdef, params = split_params(MLP(2, 3, hidden=(16,), dropout=0.5, rngs=nnx.Rngs(0)))
    post = MCDropout(graphdef, params, num_samples=64)
    x = np.random.default_rng(0).normal(size=(5, 2)).astype(np.float32)
    probs = post.sample_probs(x, key=jax.random.key(0))
    assert probs.shape == (64, 5, 3)
    assert float(jnp.std(probs[:, 0, 0])) > 1e-3  # masks differ between draws
    np.testing.assert_allclose(post.predictive(x, key=jax.random.key(0)), probs.mean(0), atol=1e-6)
    one = jax.nn.softmax(apply_model(graphdef, params, x, key=jax.random.split(jax.random.key(0), 64)[0]))
    np.testing.assert_allclose(probs[0], one, atol=1e-6)


def test_mc_dropout_needs_dropout():
    graphdef, params = split_params(MLP(2, 3, hidden=(16,), rngs=nnx.Rngs(0)))
    with pytest.raises(ValueError, match="dropout"):
        MCDropout(graphdef, params)
    graphdef, params = split_params(MLP(2, 3, hidden=(16,), dropout=0.5, rngs=nnx.Rngs(0)))
    with pytest.raises(ValueError, match="num_samples"):
        MCDropout(graphdef, params, num_samples=0)

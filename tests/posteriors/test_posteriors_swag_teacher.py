"""The SWAG teacher: exactly Maddox et al.'s recipe through fit_swag, normalised predictive
log-probabilities on every input set, and too short a run refused."""

import jax
import numpy as np
import pytest
from flax import nnx

from bayeskd.models import MLP
from bayeskd.posteriors import fit_swag, swag_teacher, teacher_log_probs
from bayeskd.priors import GaussianPrior
from bayeskd.training import init_members


def _mlp(key):
    return MLP(2, 3, hidden=(4,), rngs=nnx.Rngs(params=key))


def _setup():
    rng = np.random.default_rng(0)
    data = {"x": rng.normal(size=(40, 2)).astype(np.float32), "y": rng.integers(0, 3, 40)}
    _, init = init_members(_mlp, jax.random.split(jax.random.key(0), 1))
    return data, init


def test_is_the_recipe_and_returns_normalised_log_probabilities():
    data, init = _setup()
    x_new = data["x"][:5] + 1.0
    got = swag_teacher(_mlp, data, (data["x"], x_new), init_params=init, key=jax.random.key(1),
                       predictive_key=jax.random.key(2), steps=12, num_samples=3,
                       batch_size=10, rank=2, progress=False)
    assert [g.shape for g in got] == [(40, 3), (5, 3)]
    np.testing.assert_allclose(np.exp(got[1]).sum(-1), 1.0, rtol=1e-5)
    # by hand: SGD at 0.05 under weight decay 5e-4, one snapshot per epoch of 40 / 10 steps
    post = fit_swag(_mlp, data, prior=GaussianPrior(weight_decay=5e-4), init_params=init,
                    key=jax.random.key(1), steps=12, learning_rate=0.05, batch_size=10, rank=2,
                    collect_every=4, num_samples=3, progress=False)
    assert int(post.state.count[0]) == 3
    np.testing.assert_allclose(got[1], teacher_log_probs(post, x_new, key=jax.random.key(2)),
                               rtol=1e-6, atol=1e-6)


def test_fewer_than_two_epochs_is_refused():
    data, init = _setup()
    with pytest.raises(ValueError, match=r"steps: SWAG needs at least two epochs \(8 steps\), "
                                         r"got 7"):
        swag_teacher(_mlp, data, (data["x"],), init_params=init, key=jax.random.key(1),
                     predictive_key=jax.random.key(2), steps=7, num_samples=2, batch_size=10)

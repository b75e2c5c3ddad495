"""The predictive interface, chunked offline predictives, ensembles and multi-teacher distillation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from bayeskd.models import MLP
from bayeskd.posteriors import ParamSamples, distill, fit_ensemble, offline_predictive
from bayeskd.priors import GaussianPrior
from bayeskd.training import TrainConfig, apply_model, init_members
from bayeskd.validate import check_positive_float


def _mlp(key):
    return MLP(2, 3, hidden=(5,), rngs=nnx.Rngs(params=key))


@pytest.fixture(scope="module")
def samples():
    graphdef, params = init_members(_mlp, jax.random.split(jax.random.key(0), 6))
    return ParamSamples(graphdef, params, name="toy", chains=2)


def test_predictive_is_mean_of_member_softmaxes(samples):
    x = np.random.default_rng(0).normal(size=(7, 2)).astype(np.float32)
    probs_SBK = samples.sample_probs(x, key=jax.random.key(1))
    assert probs_SBK.shape == (6, 7, 3)
    manual = np.mean([jax.nn.softmax(apply_model(samples.graphdef,
                                                 jax.tree.map(lambda a, s=s: a[s], samples.params),
                                                 x), -1) for s in range(6)], axis=0)
    np.testing.assert_allclose(samples.predictive(x, key=jax.random.key(1)), manual, atol=1e-6)
    np.testing.assert_allclose(np.sum(probs_SBK, -1), 1.0, atol=1e-5)


def test_chunked_predictive_equals_one_call(samples):
    x = np.random.default_rng(1).normal(size=(23, 2)).astype(np.float32)
    key = jax.random.key(3)
    whole = samples.sample_probs(x, key=key, num_samples=4)
    chunked = offline_predictive(samples, x, key=key, num_samples=4, chunk_size=5,
                                 keep_samples=True)
    np.testing.assert_allclose(chunked.sample_probs, whole, atol=1e-6)
    np.testing.assert_allclose(chunked.probs, whole.mean(0), atol=1e-6)


def test_subset_and_bad_sample_counts(samples):
    x = np.zeros((2, 2), np.float32)
    assert samples.sample_logits(x, key=jax.random.key(0), num_samples=3).shape == (3, 2, 3)
    for bad in (0, -1, 2.5):
        with pytest.raises(ValueError, match="num_samples"):
            samples.predictive(x, key=jax.random.key(0), num_samples=bad)
    with pytest.raises(ValueError, match="num_samples"):
        samples.predictive(x, key=jax.random.key(0), num_samples=7)
    with pytest.raises(ValueError, match="params"):
        ParamSamples(samples.graphdef, jax.tree.map(lambda a: a[:0], samples.params))
    with pytest.raises(ValueError, match="chains"):
        ParamSamples(samples.graphdef, samples.params, chains=4)
    with pytest.raises(ValueError, match="step_size"):
        check_positive_float(0.0)


def test_ensemble_members_differ_and_zero_members_fail():
    rng = np.random.default_rng(0)
    data = {"x": rng.normal(size=(32, 2)).astype(np.float32), "y": rng.integers(0, 3, 32)}
    cfg = TrainConfig(steps=20, batch_size=8, learning_rate=1e-2, eval_every=20)
    ens = fit_ensemble(_mlp, data, prior=GaussianPrior(1e-3), config=cfg, key=jax.random.key(0),
                       num_members=3, progress=False)
    probs = ens.sample_probs(data["x"], key=jax.random.key(0))
    assert probs.shape == (3, 32, 3)
    assert float(jnp.max(jnp.abs(probs[0] - probs[1]))) > 1e-3  # different inits
    assert ens.member(1).num_samples == 1
    with pytest.raises(ValueError, match="num_members"):
        fit_ensemble(_mlp, data, prior=GaussianPrior(1e-3), config=cfg, key=jax.random.key(0),
                     num_members=0)


def test_distill_trains_one_student_per_teacher():
    """Two teachers that disagree everywhere give two students that follow their own teacher."""
    x = np.random.default_rng(2).normal(size=(64, 2)).astype(np.float32)
    logp_a = np.log(np.tile([[0.9, 0.05, 0.05]], (64, 1)))
    logp_b = np.log(np.tile([[0.05, 0.05, 0.9]], (64, 1)))
    cfg = TrainConfig(steps=150, batch_size=32, learning_rate=3e-2, eval_every=150)
    res = distill(_mlp, x, np.stack([logp_a, logp_b]), config=cfg, key=jax.random.key(0),
                  progress=False)
    post = ParamSamples.from_fit(res)
    probs = np.asarray(post.sample_probs(x, key=jax.random.key(0)))
    np.testing.assert_allclose(probs[0].mean(0), [0.9, 0.05, 0.05], atol=0.05)
    np.testing.assert_allclose(probs[1].mean(0), [0.05, 0.05, 0.9], atol=0.05)
    with pytest.raises(ValueError, match="teacher_logp"):
        distill(_mlp, x, logp_a[:10], config=cfg, key=jax.random.key(0))
    with pytest.raises(ValueError, match="y"):
        distill(_mlp, x, logp_a, config=cfg, key=jax.random.key(0), alpha=0.5)

"""SGLD against a closed-form Gaussian posterior; cyclical schedule; chains; dark knowledge."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from bayeskd.models import MLP
from bayeskd.posteriors import (
    bayesian_dark_knowledge,
    chain_arms,
    cyclical_step_size,
    fit_sgld,
    sgld,
)
from bayeskd.priors import GaussianPrior
from bayeskd.training import TrainConfig, fit


def test_sgld_samples_linear_gaussian_posterior():
    """Full-batch SGLD on U(w) = -log N(w; 0, 1/alpha) - sum_n log N(y_n; x_n.w, 1/beta)."""
    rng = np.random.default_rng(0)
    n, alpha, beta = 40, 1.0, 2.0
    x = rng.normal(size=(n, 2))
    y = x @ np.array([0.7, -1.2]) + rng.normal(size=n) / np.sqrt(beta)
    prec = alpha * np.eye(2) + beta * x.T @ x
    cov = np.linalg.inv(prec)
    mean = cov @ (beta * x.T @ y)
    xj, yj = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)

    def per_example_objective(w):  # U / N, the trainer's scale
        return (0.5 * alpha * w @ w + 0.5 * beta * jnp.sum((xj @ w - yj) ** 2)) / n

    tx = sgld(2e-3, num_data=n, key=jax.random.key(0))
    w0 = jnp.asarray(mean, jnp.float32)

    def step(carry, _):
        w, st = carry
        upd, st = tx.update(jax.grad(per_example_objective)(w), st, w)
        w = optax.apply_updates(w, upd)
        return (w, st), w

    (_, state), ws = jax.lax.scan(step, (w0, tx.init(w0)), length=40000)
    ws = np.asarray(ws[2000:])
    assert int(state.step) == 40000
    np.testing.assert_allclose(ws.mean(0), mean, atol=0.3 * np.sqrt(np.diag(cov)).max())
    np.testing.assert_allclose(np.cov(ws.T), cov, atol=0.2 * np.abs(cov).max())


def test_step_size_checks_and_cyclical_schedule():
    for bad in (0.0, -1e-3, float("nan")):
        with pytest.raises(ValueError, match="step_size"):
            sgld(bad, num_data=10, key=jax.random.key(0))
    sched = cyclical_step_size(1.0, total_steps=100, num_cycles=4)  # cycles of 25 steps
    np.testing.assert_allclose([sched(0), sched(25), sched(50)], 1.0, atol=1e-6)
    np.testing.assert_allclose(sched(12.5), 0.5, atol=1e-6)
    assert float(sched(24)) < 0.01


def _mlp(hidden):
    return lambda key: MLP(2, 2, hidden=hidden, rngs=nnx.Rngs(params=key))


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 2)).astype(np.float32)
    return {"x": x, "y": (x[:, 0] > 0).astype(np.int32)}


def test_fit_sgld_chains_are_thinned_and_independent(data):
    post = fit_sgld(_mlp((4,)), data, prior=GaussianPrior(1 / 32), key=jax.random.key(0),
                    step_size=1e-3, num_steps=200, burn_in=100, thin=25, batch_size=16,
                    num_chains=2, progress=False)
    assert post.chains == 2 and post.num_samples == 2 * 4  # 4 kept draws per chain
    w = np.asarray(post.params["head"]["kernel"][...]).reshape(2, 4, -1)
    assert not np.allclose(w[0], w[1])  # chains draw their own noise
    assert np.all(np.std(w, axis=1) > 0)  # the chain moves
    with pytest.raises(ValueError, match="burn_in"):
        fit_sgld(_mlp((4,)), data, prior=GaussianPrior(1e-2), key=jax.random.key(0),
                 step_size=1e-3, num_steps=10, burn_in=10, thin=1, batch_size=8)
    with pytest.raises(ValueError, match="step_size"):
        fit_sgld(_mlp((4,)), data, prior=GaussianPrior(1e-2), key=jax.random.key(0),
                 step_size=-1.0, num_steps=10, burn_in=0, thin=1, batch_size=8)


def test_dark_knowledge_student_follows_the_chain(data):
    dk = bayesian_dark_knowledge(_mlp((4,)), _mlp((8,)), data, prior=GaussianPrior(1 / 32),
                                 key=jax.random.key(0), step_size=1e-3, num_steps=600,
                                 burn_in=100, batch_size=16, input_noise=0.1,
                                 student_learning_rate=1e-2)
    s = np.asarray(dk.student.predictive(data["x"], key=jax.random.key(0)))
    t = np.asarray(dk.teacher.predictive(data["x"], key=jax.random.key(0)))
    assert np.mean(s.argmax(1) == t.argmax(1)) > 0.8
    assert np.mean(s.argmax(1) == data["y"]) > 0.8
    with pytest.raises(ValueError, match="input_noise"):
        bayesian_dark_knowledge(_mlp((4,)), _mlp((8,)), data, prior=GaussianPrior(1e-2),
                                key=jax.random.key(0), step_size=1e-3, num_steps=10, burn_in=0,
                                batch_size=8, input_noise=-1.0)


def test_chain_arms_are_the_component_runs_from_one_key(data):
    """Each arm equals its own call with the same key: SGD = fit, SGLD = fit_sgld, the last draws
    = the chain's tail, the student = bayesian_dark_knowledge's student."""
    prior, key = GaussianPrior(1 / 32), jax.random.key(3)
    chain = dict(step_size=1e-3, num_steps=120, burn_in=20, batch_size=16)
    sgd = TrainConfig(steps=30, batch_size=32, learning_rate=0.05, optimizer="sgd", eval_every=30)
    kw = {"input_noise": 0.1}
    arms = chain_arms(_mlp((4,)), data, prior=prior, key=key, sgd=sgd, thin=20, last=2,
                      students={"student": (_mlp((6,)), kw)}, **chain)
    assert list(arms) == ["SGD", "SGLD", "SGLD last 2 draws", "student"]
    want_sgd = fit(_mlp((4,)), data, prior=prior, key=key, config=sgd, num_members=1,
                   progress=False).params
    want_chain = fit_sgld(_mlp((4,)), data, prior=prior, key=key, thin=20, progress=False,
                          **chain).params
    want_student = bayesian_dark_knowledge(_mlp((4,)), _mlp((6,)), data, prior=prior, key=key,
                                           **chain, **kw).student.params
    tail = jax.tree.map(lambda a: a[-2:], want_chain)
    assert arms["SGLD"].num_samples == 5 and arms["SGLD last 2 draws"].num_samples == 2
    for got, want in ((arms["SGD"], want_sgd), (arms["SGLD"], want_chain),
                      (arms["SGLD last 2 draws"], tail), (arms["student"], want_student)):
        jax.tree.map(lambda a, b: np.testing.assert_array_equal(np.asarray(a), np.asarray(b)),
                     got.params, want)
    assert list(chain_arms(_mlp((4,)), data, prior=prior, key=key, sgd=sgd, thin=20,
                           **chain)) == ["SGD", "SGLD"]
    with pytest.raises(ValueError, match="last"):
        chain_arms(_mlp((4,)), data, prior=prior, key=key, sgd=sgd, thin=20, last=6, **chain)

"""Any Flax NNX model through ``fit``: the ``__call__(x)`` convention, nnx.Dropout and BatchNorm.

Each guarantee is checked against an eager NNX training loop written the ordinary way
(``nnx.Optimizer``, ``nnx.value_and_grad``, ``nnx.jit``) on the same minibatches and the same
initial key: the compiled, vmapped trainer must give the same losses and weights.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from bayeskd.checkpoint import TrainCheckpointer
from bayeskd.losses.divergences import softmax_cross_entropy
from bayeskd.posteriors.swag import fit_swag
from bayeskd.priors import ModelTeacher, NoPrior
from bayeskd.training import (
    TrainConfig,
    batch_stats_graphdef,
    fit,
    predict_logits_members,
    recompute_batch_stats,
    split_model,
    to_leaves,
)
from bayeskd.training.trainer import chunk_draws


class Net(nnx.Module):
    """Linear -> relu -> [BatchNorm] -> [Dropout] -> Linear, written as the Flax docs write one."""

    def __init__(self, rngs: nnx.Rngs, *, batch_norm: bool, dropout: float):
        self.l1 = nnx.Linear(4, 16, rngs=rngs)
        self.bn = nnx.BatchNorm(16, rngs=rngs) if batch_norm else None
        self.drop = nnx.Dropout(dropout, rngs=rngs) if dropout else None
        self.l2 = nnx.Linear(16, 3, rngs=rngs)

    def __call__(self, x):
        h = jax.nn.relu(self.l1(x))
        if self.bn is not None:
            h = self.bn(h)
        if self.drop is not None:
            h = self.drop(h)
        return self.l2(h)


@dataclasses.dataclass(frozen=True)
class NetFn:
    """A hashable ``key -> Net``."""

    batch_norm: bool = False
    dropout: float = 0.0

    def __call__(self, key):
        return Net(nnx.Rngs(key), batch_norm=self.batch_norm, dropout=self.dropout)


CONFIG = TrainConfig(steps=24, batch_size=16, learning_rate=1e-2, eval_every=8)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4)).astype(np.float32)
    y = ((x[:, 0] > 0).astype(np.int32) + (x[:, 1] > 0.5)).astype(np.int32)
    return {"x": x, "y": y}


def eager_loop(model_fn, data, key, member: int = 0, config: TrainConfig = CONFIG):
    """Member ``member`` of ``fit(model_fn, data, key=key)`` trained eagerly, step by step.

    The same initial weights (``split(fold_in(key, m))[0]``) and the same minibatch rows
    (:func:`chunk_draws` on the other half of that split); everything else is plain NNX.
    Returns ``(model, per-chunk mean losses)``.
    """
    init_key, run_key = jax.random.split(jax.random.fold_in(key, member))
    model = model_fn(init_key)
    opt = nnx.Optimizer(model, config.make_optimizer(), wrt=nnx.Param)

    @nnx.jit
    def step(model, opt, xb, yb):
        def loss_fn(model):
            return jnp.mean(softmax_cross_entropy(model(xb), yb))

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        opt.update(model, grads)
        return loss

    chunks = []
    for _ in range(config.steps // config.eval_every):
        run_key, xs = chunk_draws(run_key, rows=len(data["y"]), batch_size=config.batch_size,
                                  length=config.eval_every, step_keys=False, augment=False)
        idx = np.asarray(xs["idx"])
        chunks.append(np.mean([float(step(model, opt, data["x"][i], data["y"][i]))
                               for i in idx]))
    return model, np.array(chunks)


def _member_params(res, m):
    return jax.tree.map(lambda a: np.asarray(a[m]), res.params)


@pytest.mark.parametrize("model_fn", [NetFn(dropout=0.3), NetFn(batch_norm=True),
                                      NetFn(batch_norm=True, dropout=0.3)],
                         ids=["dropout", "batchnorm", "both"])
def test_fit_equals_an_eager_nnx_loop(data, model_fn):
    key = jax.random.key(3)
    res = fit(model_fn, data, config=CONFIG, key=key, num_members=2, progress=False)
    for m in range(2):  # each member has its own RNG stream and batch statistics
        model, losses = eager_loop(model_fn, data, key, member=m)
        np.testing.assert_allclose(np.asarray(res.history["loss"])[:, m], losses, rtol=1e-5,
                                   atol=1e-6)
        _, params, state = split_model(model)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5),
                     _member_params(res, m), jax.tree.map(np.asarray, params))
        got = jax.tree.map(lambda a, m=m: a[m], res.model_state)
        np.testing.assert_array_equal(  # the RNG streams advanced once per step
            np.asarray(got["drop"]["rngs"]["count"]) if model_fn.dropout else 0,
            np.asarray(state["drop"]["rngs"]["count"]) if model_fn.dropout else 0)
        if model_fn.batch_norm:
            np.testing.assert_allclose(got["bn"]["mean"], state["bn"]["mean"], rtol=1e-4,
                                       atol=1e-6)
            np.testing.assert_allclose(got["bn"]["var"], state["bn"]["var"], rtol=1e-4,
                                       atol=1e-6)
    # the two members did not share their dropout masks or statistics
    assert not np.allclose(res.history["loss"][0][0], res.history["loss"][0][1])


def test_evaluation_uses_eval_mode(data):
    """Predictions use running averages and no dropout: those of ``model.eval()``."""
    fn = NetFn(batch_norm=True, dropout=0.5)
    key = jax.random.key(4)
    res = fit(fn, data, config=CONFIG, key=key, eval_data=(data["x"], data["y"]), progress=False)
    model, _ = eager_loop(fn, data, key)
    model.eval()
    want = np.asarray(model(data["x"]))
    got = np.asarray(predict_logits_members(res.graphdef, res.variables, data["x"]))[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(res.member(0)(data["x"])), want, rtol=1e-4, atol=1e-5)
    acc = np.mean(np.argmax(want, -1) == data["y"])
    np.testing.assert_allclose(res.history["test_accuracy"][-1][0], acc, atol=1e-6)
    # a teacher built from the trained module is evaluated in eval mode too
    np.testing.assert_allclose(np.asarray(ModelTeacher.from_module(res.member(0))(data["x"])),
                               want, rtol=1e-4, atol=1e-5)


def test_resume_restores_batch_statistics_and_rng_streams(data, tmp_path):
    fn = NetFn(batch_norm=True, dropout=0.3)
    key = jax.random.key(5)
    full = fit(fn, data, config=CONFIG, key=key, progress=False)
    ckpt = TrainCheckpointer(tmp_path / "run", config_hash="h")
    short = dataclasses.replace(CONFIG, steps=16)
    first = fit(fn, data, config=short, key=key, checkpoint=ckpt, progress=False)
    assert first.steps_run == 16
    resumed = fit(fn, data, config=CONFIG, key=key, checkpoint=ckpt, progress=False)
    assert resumed.steps_run == 8  # only the remaining chunk was trained
    for a, b in zip(to_leaves(resumed.variables), to_leaves(full.variables), strict=True):
        np.testing.assert_array_equal(a, b)
    assert resumed.history["loss"] == full.history["loss"]


def test_prior_defaults_to_maximum_likelihood(data):
    key = jax.random.key(6)
    a = fit(NetFn(batch_norm=True), data, config=CONFIG, key=key, progress=False)
    b = fit(NetFn(batch_norm=True), data, config=CONFIG, key=key, prior=NoPrior(),
            progress=False)
    assert a.history["loss"] == b.history["loss"]


def test_a_custom_objective_refuses_a_stateful_model(data):
    def obj(graphdef, params, batch, prior, key):
        return 0.0

    with pytest.raises(ValueError, match=r"^objective: "):
        fit(NetFn(batch_norm=True), data, config=CONFIG, key=jax.random.key(0), objective=obj)


def test_recompute_batch_stats_is_the_full_data_statistics(data):
    model = NetFn(batch_norm=True, dropout=0.3)(jax.random.key(1))
    _, params, state = split_model(model)
    graph = batch_stats_graphdef(model)
    new = recompute_batch_stats(graph, params, state, jnp.asarray(data["x"]))
    h = np.asarray(jax.nn.relu(model.l1(data["x"])))
    np.testing.assert_allclose(new["bn"]["mean"], h.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new["bn"]["var"], h.var(0), rtol=1e-4, atol=1e-6)
    # the model it came from is untouched and still trains in train mode
    assert model.bn.use_running_average is False or model.bn.use_running_average is None
    np.testing.assert_array_equal(model.bn.mean[...], np.zeros(16))


def test_swag_of_a_batchnorm_network_recomputes_statistics_per_draw(data):
    fn = NetFn(batch_norm=True)
    key = jax.random.key(7)
    pre = fit(fn, data, config=CONFIG, key=key, progress=False)
    swag = fit_swag(fn, data, prior=NoPrior(), init_params=pre.variables, key=key, steps=40,
                    learning_rate=0.05, batch_size=16, rank=4, num_samples=5, progress=False)
    draws = swag.sample_variables(jax.random.key(8), 5)
    graph = batch_stats_graphdef(nnx.eval_shape(lambda: fn(jax.random.key(0))))
    final = jax.tree.map(lambda a: a[0], swag.batch_stats[1])
    means = []
    for s in range(5):
        drawn = jax.tree.map(lambda a, s=s: a[s], draws)
        params, stats = nnx.split_state(drawn, nnx.Param, ...)
        want = recompute_batch_stats(graph, params, final, jnp.asarray(data["x"]))
        np.testing.assert_allclose(stats["bn"]["mean"], want["bn"]["mean"], rtol=1e-5,
                                   atol=1e-6)
        np.testing.assert_allclose(stats["bn"]["var"], want["bn"]["var"], rtol=1e-5, atol=1e-6)
        means.append(np.asarray(stats["bn"]["mean"]))
    # each draw has statistics of its own, not the last SGD iterate's running averages
    assert not np.allclose(means[0], means[1])
    assert not np.allclose(means[0], np.asarray(final["bn"]["mean"]))
    probs = swag.predictive(data["x"], key=jax.random.key(9))
    assert np.all(np.isfinite(np.asarray(probs)))


def test_mc_dropout_uses_the_models_own_dropout_layers(data):
    """Dropout right before the last linear layer is unbiased: the mean of many MC-dropout
    logits is the eval-mode logits; each draw differs, and the same key repeats the draws."""
    from bayeskd.posteriors.mc_dropout import MCDropout

    fn = NetFn(batch_norm=True, dropout=0.5)
    res = fit(fn, data, config=CONFIG, key=jax.random.key(2), progress=False)
    post = MCDropout.from_fit(res, num_samples=4000)
    x = data["x"][:8]
    logits = np.asarray(post.sample_logits(x, key=jax.random.key(0)))
    want = np.asarray(predict_logits_members(res.graphdef, res.variables, x))[0]
    assert not np.allclose(logits[0], logits[1])
    spread = logits.std(0) / np.sqrt(len(logits))
    assert np.all(np.abs(logits.mean(0) - want) < 5 * spread + 1e-5)
    again = np.asarray(post.sample_logits(x, key=jax.random.key(0), num_samples=4000))
    np.testing.assert_array_equal(logits, again)
    off = fit(NetFn(dropout=0.0), data, config=CONFIG, key=jax.random.key(2), progress=False)
    with pytest.raises(ValueError, match=r"^model: "):
        MCDropout.from_fit(off)


def test_sgld_samples_of_a_batchnorm_network_carry_their_own_statistics(data):
    from bayeskd.posteriors.sgld import fit_sgld

    fn = NetFn(batch_norm=True)
    post = fit_sgld(fn, data, prior=NoPrior(), key=jax.random.key(1), step_size=1e-3,
                    num_steps=40, burn_in=20, thin=10, batch_size=16, num_chains=2,
                    progress=False)
    assert post.num_samples == 4
    graph = batch_stats_graphdef(nnx.eval_shape(lambda: fn(jax.random.key(0))))
    template = split_model(fn(jax.random.key(0)))[2]
    for s in range(4):
        params, stats = nnx.split_state(jax.tree.map(lambda a, s=s: a[s], post.params),
                                        nnx.Param, ...)
        want = recompute_batch_stats(graph, params, template, jnp.asarray(data["x"]))
        np.testing.assert_allclose(stats["bn"]["mean"], want["bn"]["mean"], rtol=1e-5,
                                   atol=1e-6)
        np.testing.assert_allclose(stats["bn"]["var"], want["bn"]["var"], rtol=1e-5, atol=1e-6)
    assert np.all(np.isfinite(np.asarray(post.predictive(data["x"], key=jax.random.key(2)))))

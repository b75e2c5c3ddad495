"""The compiled trainer: learns, is deterministic, vmaps members and priors, guards divergence."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayeskd.data import load_gmm
from bayeskd.models import make_model
from bayeskd.priors import GaussianPrior, NoPrior, TeacherPrior, stack_priors
from bayeskd.training import (
    TrainConfig,
    TrainingDiverged,
    evaluate_accuracy,
    fit,
    predict_logits,
)


@pytest.fixture(scope="module")
def gmm():
    return load_gmm(num_train=400, num_test=1000, dim=2, num_classes=3, seed=0)


def _mlp(ds, **kw):
    return lambda k: make_model("mlp-small", (2,), ds.num_classes, key=k, **kw)


CFG = TrainConfig(steps=400, batch_size=50, learning_rate=1e-2, eval_every=200)


def test_fit_learns_close_to_bayes_accuracy(gmm):
    res = fit(_mlp(gmm), {"x": gmm.x_train, "y": gmm.y_train}, prior=NoPrior(), config=CFG,
              key=jax.random.key(0), num_members=2, eval_data=(gmm.x_test, gmm.y_test),
              progress=False)
    bayes_acc = float(np.mean(gmm.bayes_probs_test.argmax(-1) == gmm.y_test))
    acc = evaluate_accuracy(res.graphdef, res.params, gmm.x_test, gmm.y_test)
    assert acc.shape == (2,)
    assert np.all(acc > bayes_acc - 0.08), (acc, bayes_acc)
    assert np.all(acc > 1.5 / gmm.num_classes)
    assert res.history["step"] == [200, 400]
    # the loss went down
    assert res.history["loss"][-1][0] < res.history["loss"][0][0] * 1.01


def test_same_key_same_numbers_and_members_differ(gmm):
    data = {"x": gmm.x_train, "y": gmm.y_train}
    a = fit(_mlp(gmm), data, prior=NoPrior(), config=CFG, key=jax.random.key(3), num_members=2,
            progress=False)
    b = fit(_mlp(gmm), data, prior=NoPrior(), config=CFG, key=jax.random.key(3), num_members=2,
            progress=False)
    for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params), strict=True):
        np.testing.assert_array_equal(x, y)
    la = predict_logits(a.graphdef, jax.tree.map(lambda p: p[0], a.params), gmm.x_test)
    lb = predict_logits(a.graphdef, jax.tree.map(lambda p: p[1], a.params), gmm.x_test)
    assert not np.allclose(la, lb)


def test_prior_sweep_member_equals_single_run(gmm):
    teacher_logp = np.log(np.clip(gmm.meta["problem"].bayes_probs(gmm.x_train), 1e-12, 1))
    table = teacher_logp.astype(np.float32)
    data = {"x": gmm.x_train, "y": gmm.y_train}
    sweep = stack_priors([TeacherPrior(alpha=0.5, temperature=1.0, table=table),
                          TeacherPrior(alpha=0.5, temperature=4.0, table=table)])
    cfg = TrainConfig(steps=100, batch_size=50, learning_rate=1e-2, eval_every=100)
    res = fit(_mlp(gmm), data, prior=sweep, prior_axis=0, config=cfg, key=jax.random.key(1),
              num_members=2, progress=False)
    one = fit(_mlp(gmm), data, prior=TeacherPrior(alpha=0.5, temperature=1.0, table=table), config=cfg,
              key=jax.random.key(1), num_members=1, progress=False)
    for x, y in zip(jax.tree.leaves(res.params), jax.tree.leaves(one.params), strict=True):
        np.testing.assert_allclose(x[0], y[0], rtol=1e-4, atol=1e-5)


def test_weight_decay_shrinks_weights(gmm):
    data = {"x": gmm.x_train, "y": gmm.y_train}
    norms = []
    for prior in (NoPrior(), GaussianPrior(weight_decay=0.05)):
        r = fit(_mlp(gmm), data, prior=prior, config=CFG, key=jax.random.key(0), progress=False)
        norms.append(sum(float(jnp.sum(p**2)) for p in jax.tree.leaves(r.params)))
    assert norms[1] < 0.7 * norms[0]


def test_divergence_guard_names_step_and_prior(gmm):
    data = {"x": gmm.x_train * 1e6, "y": gmm.y_train}
    cfg = TrainConfig(steps=200, batch_size=50, learning_rate=1e6, optimizer="sgd", eval_every=100)
    with pytest.raises(TrainingDiverged, match=r"at step \d+.*prior.*last finite loss"):
        fit(_mlp(gmm), data, prior=NoPrior(), config=cfg, key=jax.random.key(0), progress=False)


def test_on_chunk_and_resume_from_state(gmm):
    data = {"x": gmm.x_train, "y": gmm.y_train}
    seen = {}

    def hook(step, state):
        seen[step] = state

    full = fit(_mlp(gmm), data, prior=NoPrior(), config=CFG, key=jax.random.key(5), on_chunk=hook,
               progress=False)
    assert sorted(seen) == [200, 400]
    resumed = fit(_mlp(gmm), data, prior=NoPrior(), config=CFG, key=jax.random.key(5),
                  initial_state=seen[200], progress=False)
    assert full.steps_run == 400 and resumed.steps_run == 200
    for x, y in zip(jax.tree.leaves(full.params), jax.tree.leaves(resumed.params), strict=True):
        np.testing.assert_array_equal(x, y)


def test_dropout_model_trains_with_keys(gmm):
    r = fit(_mlp(gmm, dropout=0.3), {"x": gmm.x_train, "y": gmm.y_train}, prior=NoPrior(),
            config=CFG, key=jax.random.key(0), progress=False)
    acc = evaluate_accuracy(r.graphdef, r.params, gmm.x_test, gmm.y_test)
    assert acc[0] > 1.5 / gmm.num_classes


@pytest.mark.parametrize(
    "kwargs, arg",
    [
        ({"steps": 0}, "steps"),
        ({"batch_size": -1}, "batch_size"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"learning_rate": float("nan")}, "learning_rate"),
        ({"optimizer": "lbfgs"}, "optimizer"),
        ({"schedule": "step"}, "schedule"),
    ],
)
def test_train_config_validation(kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        TrainConfig(**kwargs)


def test_fit_validates_data():
    with pytest.raises(ValueError, match="data"):
        fit(lambda k: make_model("mlp-small", (2,), 2, key=k), {"x": np.zeros((0, 2)), "y": np.zeros(0)},
            prior=NoPrior(), config=CFG, key=jax.random.key(0))
    with pytest.raises(ValueError, match="table"):
        fit(lambda k: make_model("mlp-small", (2,), 2, key=k),
            {"x": np.zeros((4, 2)), "y": np.zeros(4, np.int32)},
            prior=TeacherPrior(table=np.zeros((3, 2))), config=CFG, key=jax.random.key(0))


RANDOM_PRIMITIVES = ("random_bits", "random_split", "random_fold_in", "random_seed",
                     "threefry2x32")


def _random_calls(jaxpr, in_loop: bool = False) -> tuple[int, int]:
    """``(outside, inside)``: PRNG primitives outside and inside ``scan`` bodies of a jaxpr."""
    outside = inside = 0
    for eqn in jaxpr.eqns:
        if eqn.primitive.name in RANDOM_PRIMITIVES:
            inside, outside = (inside + 1, outside) if in_loop else (inside, outside + 1)
        for value in eqn.params.values():
            for sub in value if isinstance(value, tuple | list) else (value,):
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    o, i = _random_calls(inner, in_loop or eqn.primitive.name == "scan")
                    outside, inside = outside + o, inside + i
    return outside, inside


def test_a_chunk_draws_its_randomness_once_not_per_step(gmm):
    """The compiled chunk draws every minibatch (and key) before its loop: no PRNG call inside
    the scanned step, and the same number of calls for a chunk of 3 steps as for one of 30."""
    from bayeskd.training import CompiledRun, run_chunk

    run = CompiledRun(_mlp(gmm), {"x": gmm.x_train, "y": gmm.y_train}, prior=NoPrior(),
                      config=CFG)
    state = run.init_state(jax.random.key(0))
    counts = {}
    for length in (3, 30):
        jaxpr = jax.make_jaxpr(lambda s, n=length: run_chunk(s, run.data, run.prior,
                                                             **run._static(n)))(state)
        counts[length] = _random_calls(jaxpr.jaxpr)
    assert counts[3] == counts[30]
    outside, inside = counts[3]
    assert inside == 0 and outside > 0

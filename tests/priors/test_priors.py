"""Priors: exact values, the Dirichlet identity of KD, and validation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayeskd.losses import soft_cross_entropy, softmax_cross_entropy
from bayeskd.priors import (
    GaussianPrior,
    LabelSmoothing,
    NoPrior,
    SumPrior,
    TeacherPrior,
    objective,
    stack_priors,
)


def _batch(k=4, b=5, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "y": jnp.asarray(rng.integers(0, k, b)),
        "label_mask": jnp.ones(b),
        "index": jnp.arange(b),
        "teacher_logp": jax.nn.log_softmax(jnp.asarray(rng.normal(size=(b, k)) * 2)),
    }


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.9, 1.0])
def test_kd_gradient_equals_dirichlet_posterior_mean_target(alpha):
    """At T = 1: grad of (1-a) CE(y) + a KL(p_T||p_S) = grad of CE against (1-a) onehot + a p_T."""
    with jax.enable_x64(True):
        k, b = 4, 5
        batch = _batch(k, b)
        batch = {kk: (v.astype(jnp.float64) if v.dtype == jnp.float32 else v) for kk, v in batch.items()}
        z = jnp.asarray(np.random.default_rng(1).normal(size=(b, k)))
        prior = TeacherPrior(alpha=alpha, temperature=1.0, table=batch["teacher_logp"])

        def kd_loss(zz):
            return objective(softmax_cross_entropy(zz, batch["y"]), prior, None, zz, batch)

        target = (1 - alpha) * jax.nn.one_hot(batch["y"], k) + alpha * jnp.exp(batch["teacher_logp"])

        def dirichlet_loss(zz):
            return jnp.mean(soft_cross_entropy(zz, target))

        g1, g2 = jax.grad(kd_loss)(z), jax.grad(dirichlet_loss)(z)
        np.testing.assert_allclose(g1, g2, atol=1e-6, rtol=0)
        # and the closed form: (softmax(z) - target) / B
        np.testing.assert_allclose(g1, (jax.nn.softmax(z) - target) / b, atol=1e-12)


def test_gaussian_prior_value_and_sigma():
    params = {"w": jnp.array([1.0, 2.0]), "b": jnp.array([[3.0]])}
    p = GaussianPrior(weight_decay=0.1)
    np.testing.assert_allclose(p(params, None, {}), 0.5 * 0.1 * 14.0, rtol=1e-6)
    q = GaussianPrior.from_sigma(0.5, 4000)
    np.testing.assert_allclose(q.weight_decay, 1.0 / (0.25 * 4000))
    # the gradient is weight decay: lambda * theta
    g = jax.grad(lambda th: p(th, None, {}))(params)
    np.testing.assert_allclose(g["w"], 0.1 * params["w"], rtol=1e-6)


def test_label_smoothing_equals_smoothed_target_cross_entropy():
    k, b, eps = 4, 5, 0.2
    batch = _batch(k, b)
    z = jnp.asarray(np.random.default_rng(2).normal(size=(b, k)))
    prior = LabelSmoothing(epsilon=eps)
    loss = objective(softmax_cross_entropy(z, batch["y"]), prior, None, z, batch)
    target = (1 - eps) * jax.nn.one_hot(batch["y"], k) + eps / k
    np.testing.assert_allclose(loss, jnp.mean(soft_cross_entropy(z, target)), rtol=1e-5)


def test_label_mask_excludes_unlabelled_examples():
    k, b = 3, 4
    batch = _batch(k, b)
    batch["label_mask"] = jnp.array([1.0, 1.0, 0.0, 0.0])
    z = jnp.asarray(np.random.default_rng(3).normal(size=(b, k)))
    nll = softmax_cross_entropy(z, batch["y"])
    np.testing.assert_allclose(objective(nll, NoPrior(), None, z, batch), nll[:2].mean(), rtol=1e-6)


def test_ensemble_teacher_averages_probabilities():
    k, b, m = 3, 2, 4
    rng = np.random.default_rng(4)
    member_logp = jax.nn.log_softmax(jnp.asarray(rng.normal(size=(b, m, k)) * 3))
    mean_p = jnp.exp(member_logp).mean(1)
    z = jnp.asarray(rng.normal(size=(b, k)))
    batch = {"index": jnp.arange(b)}
    e = TeacherPrior.from_members(member_logp, member_axis=1, alpha=0.5, temperature=2.0)
    t = TeacherPrior(alpha=0.5, temperature=2.0, table=jnp.log(mean_p))
    v1 = e(None, z, batch)
    v2 = t(None, z, batch)
    np.testing.assert_allclose(v1, v2, rtol=1e-5)
    # logit averaging is a different teacher
    v3 = TeacherPrior(alpha=0.5, temperature=2.0, table=member_logp.mean(1))(None, z, batch)
    assert abs(float(v3) - float(v1)) > 1e-3


def test_sum_prior_adds_terms_and_shares():
    params = {"w": jnp.ones(3)}
    batch = _batch(4, 5)
    z = jnp.zeros((5, 4))
    parts = (GaussianPrior(weight_decay=0.1), LabelSmoothing(epsilon=0.1),
             TeacherPrior(alpha=0.3, table=batch["teacher_logp"]))
    s = SumPrior(parts)
    np.testing.assert_allclose(s.likelihood_weight, 0.6)
    np.testing.assert_allclose(s(params, z, batch), sum(p(params, z, batch) for p in parts), rtol=1e-6)
    with pytest.raises(ValueError, match="priors"):
        SumPrior((TeacherPrior(alpha=0.8, table=batch["teacher_logp"]), LabelSmoothing(epsilon=0.5)))


def test_priors_are_vmappable_pytrees():
    batch = _batch(4, 5)
    z = jnp.asarray(np.random.default_rng(5).normal(size=(5, 4)))
    table = batch["teacher_logp"]
    stacked = stack_priors(TeacherPrior(alpha=a, temperature=t, table=table)
                           for a, t in [(0.1, 1.0), (0.5, 4.0)])
    got = jax.vmap(lambda p: p(None, z, batch))(stacked)
    want = [TeacherPrior(alpha=a, temperature=t, table=table)(None, z, batch)
            for a, t in [(0.1, 1.0), (0.5, 4.0)]]
    np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.parametrize(
    "make, arg",
    [
        (lambda: TeacherPrior(alpha=1.5), "alpha"),
        (lambda: TeacherPrior(alpha=-0.1), "alpha"),
        (lambda: TeacherPrior(temperature=0.0), "temperature"),
        (lambda: TeacherPrior(temperature=float("nan")), "temperature"),
        (lambda: LabelSmoothing(epsilon=2.0), "epsilon"),
        (lambda: GaussianPrior(weight_decay=-1.0), "weight_decay"),
        (lambda: GaussianPrior.from_sigma(0.0, 10), "sigma"),
        (lambda: GaussianPrior.from_sigma(1.0, 0), "num_data"),
    ],
)
def test_prior_validation(make, arg):
    with pytest.raises(ValueError, match=arg):
        make()


def test_table_prior_reads_the_rows_named_by_the_batch_index():
    """A table teacher is looked up by ``batch["index"]``; stacked tables give each member its own."""
    from bayeskd.losses import kl_divergence
    from bayeskd.priors import stack_priors

    rng = np.random.default_rng(0)
    table = np.log(rng.dirichlet(np.ones(5), size=12)).astype(np.float32)
    idx = np.array([3, 0, 7, 7], np.int32)
    logits = jnp.asarray(rng.normal(size=(4, 5)), jnp.float32)
    prior = TeacherPrior(alpha=0.7, temperature=3.0, table=table)
    want = 0.7 * np.mean(np.asarray(kl_divergence(table[idx], logits, temperature=3.0)))
    assert float(prior(None, logits, {"index": idx})) == pytest.approx(want, rel=1e-6)
    assert float(prior(None, logits, {"index": idx[::-1]})) != pytest.approx(want, rel=1e-3)
    assert prior.likelihood_weight == pytest.approx(0.3)
    other = TeacherPrior(alpha=0.0, temperature=1.0, table=np.zeros((12, 5), np.float32))
    stacked = stack_priors([prior, other])
    assert stacked.table.shape == (2, 12, 5)
    vals = jax.vmap(lambda p: p(None, logits, {"index": idx}))(stacked)
    assert float(vals[0]) == pytest.approx(want, rel=1e-6) and float(vals[1]) == 0.0


def test_callable_teacher_equals_its_table_on_the_same_inputs():
    """A teacher evaluated inside the step gives the same term as the table of its outputs."""
    from bayeskd.models import make_model
    from bayeskd.priors import ModelTeacher

    rng = np.random.default_rng(2)
    x = jnp.asarray(rng.normal(size=(6, 3)), jnp.float32)
    net = make_model("mlp-small", (3,), 4, key=jax.random.key(0))
    logits = jnp.asarray(rng.normal(size=(6, 4)), jnp.float32)
    batch = {"x": x, "index": jnp.arange(6)}
    table = TeacherPrior(alpha=0.6, temperature=2.0, table=jax.nn.log_softmax(net(x)))
    for teacher in (net, ModelTeacher.from_module(net), lambda xx: net(xx)):
        online = TeacherPrior(alpha=0.6, temperature=2.0, teacher=teacher)
        assert float(online(None, logits, batch)) == pytest.approx(
            float(table(None, logits, batch)), rel=1e-5)
    # the teacher is held fixed: no gradient flows into its weights
    mt = ModelTeacher.from_module(net)
    g = jax.grad(lambda t: TeacherPrior(alpha=0.6, temperature=2.0, teacher=t)(
        None, logits, batch))(mt)
    assert all(float(jnp.abs(leaf).max()) == 0.0 for leaf in jax.tree.leaves(g))


def test_teacher_prior_needs_exactly_one_teacher():
    with pytest.raises(ValueError, match="teacher"):
        TeacherPrior(alpha=0.5)
    with pytest.raises(ValueError, match="teacher"):
        TeacherPrior(alpha=0.5, table=np.zeros((2, 3)), teacher=lambda x: x)
    with pytest.raises(ValueError, match="divergence"):
        TeacherPrior(table=np.zeros((2, 3)), divergence="hellinger")

"""Language models through the compiled trainer: teachers, top-k tails, the KV-cache sampler."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from scipy import stats

from bayeskd.losses.divergences import divergence, log_mean_probs
from bayeskd.models.transformer import TransformerConfig
from bayeskd.training import TrainConfig, fit
from bayeskd.training.lm import (
    HardLabels,
    LMObjective,
    ModelLMTeacher,
    TableLMTeacher,
    expand_topk,
    lm_log_probs,
    sample_lm,
    token_metrics,
    topk_log_probs,
)

V = 13
CFG = TransformerConfig(vocab_size=V, num_layers=1, width=16, num_heads=2, max_len=8)
TEACHER_CFG = TransformerConfig(vocab_size=V, num_layers=2, width=16, num_heads=2, max_len=8)


@pytest.fixture(scope="module")
def setup():
    tokens = jax.random.randint(jax.random.key(0), (6, 8), 0, V)
    teacher = TEACHER_CFG(jax.random.key(1))
    student = CFG(jax.random.key(2))
    gd, params = nnx.split(student, nnx.Param)
    return tokens, ModelLMTeacher.from_module(teacher), gd, params


def _batch(tokens):
    return {"x": tokens, "index": jnp.arange(tokens.shape[0])}


def _full_table(teacher, tokens):
    return lm_log_probs(teacher.graphdef, teacher.params, tokens)


def test_online_teacher_loss_is_the_divergence_of_the_materialised_logits(setup):
    tokens, teacher, gd, params = setup
    obj = LMObjective(divergence="reverse_kl", temperature=2.0, chunk_size=5)
    got = obj(gd, params, _batch(tokens), teacher, jax.random.key(0))
    zs = nnx.merge(gd, params)(tokens[:, :-1]).reshape(-1, V)
    zt = nnx.merge(teacher.graphdef, teacher.params)(tokens[:, :-1]).reshape(-1, V)
    want = jnp.mean(divergence(zt, zs, name="reverse_kl", temperature=2.0))
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_full_table_teacher_equals_the_online_teacher(setup):
    tokens, teacher, gd, params = setup
    table = TableLMTeacher(_full_table(teacher, tokens), vocab_size=V)
    for div in ("forward_kl", "jsd", "tvd"):
        obj = LMObjective(divergence=div, label_weight=0.25)
        a = jax.value_and_grad(obj, argnums=1)(gd, params, _batch(tokens), teacher, None)
        b = jax.value_and_grad(obj, argnums=1)(gd, params, _batch(tokens), table, None)
        np.testing.assert_allclose(a[0], b[0], rtol=1e-5)
        for x, y in zip(jax.tree.leaves(a[1]), jax.tree.leaves(b[1]), strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("tail", ["zero", "uniform", "dirichlet"])
def test_topk_with_k_equal_to_v_equals_the_full_loss(setup, tail):
    tokens, teacher, gd, params = setup
    full = _full_table(teacher, tokens)
    vals, idx = topk_log_probs(full, V)
    prior = jnp.log(jnp.arange(1.0, V + 1))
    topk = TableLMTeacher(vals, idx, prior, tail=tail, vocab_size=V)
    obj = LMObjective(divergence="forward_kl")
    a = obj(gd, params, _batch(tokens), TableLMTeacher(full, vocab_size=V), None)
    b = obj(gd, params, _batch(tokens), topk, None)
    np.testing.assert_allclose(a, b, rtol=1e-5)


def test_tail_treatments_by_hand():
    logp = jnp.log(jnp.array([[0.5, 0.1, 0.3, 0.06, 0.04]]))
    vals, idx = topk_log_probs(logp, 2)  # keeps 0.5 and 0.3, missing mass 0.2
    prior = jnp.log(jnp.array([1.0, 1.0, 1.0, 2.0, 1.0]))
    q = {t: np.exp(np.asarray(expand_topk(idx, vals, vocab_size=5, tail=t, tail_log_prior=prior)))
         for t in ("zero", "uniform", "dirichlet")}
    np.testing.assert_allclose(q["zero"], [[0.625, 0, 0.375, 0, 0]], atol=1e-6)
    np.testing.assert_allclose(q["uniform"], [[0.5, 0.2 / 3, 0.3, 0.2 / 3, 0.2 / 3]], rtol=1e-5)
    np.testing.assert_allclose(q["dirichlet"], [[0.5, 0.05, 0.3, 0.1, 0.05]], rtol=1e-5)


def test_top_k_larger_than_the_vocabulary_is_refused():
    with pytest.raises(ValueError, match="top_k: must be at most the vocabulary size 5, got 6"):
        topk_log_probs(jnp.zeros((1, 5)), 6)


def test_ensemble_teacher_averages_probabilities(setup):
    tokens, _, _, _ = setup
    members = [TEACHER_CFG(jax.random.key(k)) for k in (5, 6, 7)]
    gd = nnx.split(members[0], nnx.Param)[0]
    stacked = jax.tree.map(lambda *a: jnp.stack(a),
                           *[nnx.split(m, nnx.Param)[1] for m in members])
    h, w = ModelLMTeacher(gd, stacked, members=3).head_inputs(tokens[:, :-1])
    logits = jnp.stack([m(tokens[:, :-1]).reshape(-1, V) for m in members], axis=1)
    np.testing.assert_allclose(h @ w, log_mean_probs(logits), atol=1e-5)


DROP_CFG = TransformerConfig(vocab_size=V, num_layers=2, width=16, num_heads=2, max_len=8,
                             dropout=0.5)


def test_mc_dropout_teacher_averages_probabilities_over_its_masks(setup):
    tokens, _, _, _ = setup
    model = DROP_CFG(jax.random.key(5))
    gd, params = nnx.split(model, nnx.Param)
    key = jax.random.key(9)
    h, w = ModelLMTeacher(gd, params, samples=3).head_inputs(tokens[:, :-1], key)
    keys = jax.random.split(key, 3)
    logits = jnp.stack([model(tokens[:, :-1], key=k).reshape(-1, V) for k in keys], axis=1)
    np.testing.assert_allclose(h @ w, log_mean_probs(logits), atol=1e-5)
    # the masks differ: the predictive is not one masked network, nor the deterministic one
    assert not np.allclose(logits[:, 0], logits[:, 1], atol=1e-3)
    assert not np.allclose(h @ w, jax.nn.log_softmax(model(tokens[:, :-1]).reshape(-1, V)),
                           atol=1e-3)


def test_mc_dropout_teacher_needs_dropout_and_a_key(setup):
    tokens, teacher, _, _ = setup
    with pytest.raises(ValueError, match="has no dropout layer with rate > 0"):
        ModelLMTeacher(teacher.graphdef, teacher.params, samples=4)
    gd, params = nnx.split(DROP_CFG(jax.random.key(5)), nnx.Param)
    with pytest.raises(ValueError, match="samples: a posterior needs at least one sample"):
        ModelLMTeacher(gd, params, samples=-1)
    with pytest.raises(ValueError, match="key: an MC-dropout teacher"):
        ModelLMTeacher(gd, params, samples=2).head_inputs(tokens[:, :-1])


def test_a_model_with_dropout_trains_with_it_and_one_without_ignores_the_key(setup):
    tokens, teacher, gd, params = setup
    obj = LMObjective(label_weight=1.0)
    k1, k2 = jax.random.key(1), jax.random.key(2)
    same = [obj(gd, params, _batch(tokens), HardLabels(), k) for k in (k1, k2)]
    assert float(same[0]) == float(same[1])
    gd_d, params_d = nnx.split(DROP_CFG(jax.random.key(5)), nnx.Param)
    drop = [obj(gd_d, params_d, _batch(tokens), HardLabels(), k) for k in (k1, k2)]
    assert abs(float(drop[0]) - float(drop[1])) > 1e-4


def test_cached_sampler_equals_uncached(setup):
    _, teacher, _, _ = setup
    prompt = jnp.array([[1, 2], [3, 4], [5, 6]], jnp.int32)
    kw = dict(key=jax.random.key(4), length=8, temperature=0.7)
    a = sample_lm(teacher.graphdef, teacher.params, prompt, use_cache=True, **kw)
    b = sample_lm(teacher.graphdef, teacher.params, prompt, use_cache=False, **kw)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[:, :2], prompt)


def test_sampler_distribution_matches_model_probabilities_chi_square():
    cfg = TransformerConfig(vocab_size=3, num_layers=1, width=8, num_heads=2, max_len=3)
    model = cfg(jax.random.key(3))
    gd, params = nnx.split(model, nnx.Param)
    n = 20_000
    x = np.asarray(sample_lm(gd, params, jnp.zeros((n, 1), jnp.int32), key=jax.random.key(0),
                             length=3, temperature=1.5))
    counts = np.bincount(x[:, 1] * 3 + x[:, 2], minlength=9)
    seqs = jnp.array([[0, a, b] for a, b in itertools.product(range(3), repeat=2)], jnp.int32)
    lp = jax.nn.log_softmax(model(seqs) / 1.5, -1)
    probs = np.exp(np.asarray(lp[:, 0][jnp.arange(9), seqs[:, 1]] + lp[:, 1][jnp.arange(9), seqs[:, 2]],
                              np.float64))
    _, pvalue = stats.chisquare(counts, probs / probs.sum() * n)
    assert pvalue > 1e-3


def test_on_policy_rows_depend_only_on_their_prompts(setup):
    tokens, teacher, gd, params = setup
    obj = LMObjective(on_policy=1.0, prompt_len=2)
    changed = tokens.at[:, 2:].set((tokens[:, 2:] + 1) % V)
    a = obj(gd, params, _batch(tokens), teacher, jax.random.key(1))
    b = obj(gd, params, _batch(changed), teacher, jax.random.key(1))
    c = LMObjective()(gd, params, _batch(tokens), teacher, jax.random.key(1))
    np.testing.assert_allclose(a, b, rtol=1e-6)
    assert abs(float(a) - float(c)) > 1e-4


def test_on_policy_rows_are_the_students_own_samples_not_the_teachers(setup):
    """GKD: the first round(f B) rows are the *student's* continuations (the compiled sampler at
    the step's key and ``sample_temperature``), then scored by the teacher; the teacher's own
    samples of the same prompts give another loss."""
    tokens, teacher, gd, params = setup
    key, n_on = jax.random.key(3), 3
    obj = LMObjective(on_policy=0.5, prompt_len=2, sample_temperature=1.3)
    got = obj(gd, params, _batch(tokens), teacher, key)
    draw = dict(key=key, length=tokens.shape[1], temperature=1.3)
    own = sample_lm(gd, params, tokens[:n_on, :2], **draw)
    theirs = sample_lm(teacher.graphdef, teacher.params, tokens[:n_on, :2], **draw)
    assert not np.array_equal(own, theirs)  # the two samplers disagree on these prompts
    off = LMObjective(prompt_len=2, sample_temperature=1.3)  # the same loss on fixed rows
    want = off(gd, params, _batch(tokens.at[:n_on].set(own)), teacher, key)
    wrong = off(gd, params, _batch(tokens.at[:n_on].set(theirs)), teacher, key)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert abs(float(got) - float(wrong)) > 1e-4
    # ...and the same inside the compiled step (the trainer jits the objective)
    jitted = jax.jit(obj, static_argnums=0)(gd, params, _batch(tokens), teacher, key)
    np.testing.assert_allclose(jitted, want, rtol=1e-5)


def test_fit_trains_a_language_model_and_chunked_equals_naive(setup):
    tokens = jnp.tile(jnp.arange(8, dtype=jnp.int32)[None] % 4, (32, 1))  # a periodic language
    config = TrainConfig(steps=30, batch_size=8, learning_rate=1e-2, eval_every=15)
    runs = {}
    for impl in ("chunked", "naive"):
        obj = LMObjective(label_weight=1.0, implementation=impl)
        runs[impl] = fit(CFG, {"x": tokens}, prior=HardLabels(), config=config,
                         key=jax.random.key(0), objective=obj, progress=False)
    first, last = runs["chunked"].history["loss"][0][0], runs["chunked"].history["loss"][-1][0]
    assert last < 0.5 * first
    np.testing.assert_allclose(runs["chunked"].history["loss"], runs["naive"].history["loss"],
                               rtol=1e-3)
    lp = lm_log_probs(runs["chunked"].graphdef, jax.tree.map(lambda a: a[0], runs["chunked"].params),
                      tokens[:4])
    m = token_metrics(lp, tokens[:4, 1:], true_log_probs=lp)
    assert m["kl_true"] == pytest.approx(0.0, abs=1e-6)
    assert m["bits_per_token"] == pytest.approx(m["nll"] / np.log(2))


@pytest.mark.parametrize(("beta", "plain"), [(0.0, "forward_kl"), (1.0, "reverse_kl")])
def test_jsd_endpoints_are_the_plain_kls_unclamped(setup, beta, plain):
    """beta = 0 and 1 reach the kernel as given (no clamp to 1e-6) and are the KLs exactly."""
    tokens, teacher, gd, params = setup
    jsd = LMObjective(divergence="jsd", beta=beta, chunk_size=5)
    got = jsd(gd, params, _batch(tokens), teacher, None)
    want = LMObjective(divergence=plain, chunk_size=5)(gd, params, _batch(tokens), teacher, None)
    assert float(got) == float(want)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"beta": 1.5}, "beta: must lie in"), ({"divergence": "jsd", "beta": -0.1}, "beta: must lie"), ({"lam": -0.1}, "lam: must lie in"),
    ({"on_policy": 2.0}, "on_policy"), ({"divergence": "kl"}, "divergence")])
def test_bad_objective_settings_name_themselves(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LMObjective(**kwargs)


def test_check_data_refuses_mismatches(setup):
    tokens, teacher, _, _ = setup
    cfg = TrainConfig(steps=1, batch_size=2, eval_every=1)
    with pytest.raises(ValueError, match="label_weight: must be 1 without a teacher"):
        fit(CFG, {"x": tokens}, prior=HardLabels(), config=cfg, key=jax.random.key(0),
            objective=LMObjective())
    with pytest.raises(ValueError, match="teacher: table has shape"):
        fit(CFG, {"x": tokens}, prior=TableLMTeacher(jnp.zeros((6, 3, V)), vocab_size=V),
            config=cfg, key=jax.random.key(0), objective=LMObjective())
    with pytest.raises(ValueError, match="on_policy: needs a teacher model"):
        fit(CFG, {"x": tokens}, prior=TableLMTeacher(jnp.zeros((6, 7, V)), vocab_size=V),
            config=cfg, key=jax.random.key(0), objective=LMObjective(on_policy=0.5))


def _pull_to_three(graphdef, params, batch, prior, key):
    """An objective that ignores the data: every parameter pulled towards 3."""
    del graphdef, batch, prior, key
    return sum(jnp.sum((p - 3.0) ** 2) for p in jax.tree.leaves(params))


def test_fit_minimises_the_objective_it_is_given():
    from bayeskd.models import ModelFactory
    from bayeskd.priors import NoPrior

    res = fit(ModelFactory("mlp-small", (4,), 3), {"x": np.zeros((8, 4), np.float32)},
              prior=NoPrior(), objective=_pull_to_three, key=jax.random.key(0), progress=False,
              config=TrainConfig(steps=300, batch_size=4, learning_rate=0.05, eval_every=300))
    for leaf in jax.tree.leaves(res.params):
        np.testing.assert_allclose(leaf, 3.0, atol=1e-2)

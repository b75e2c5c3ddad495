"""The LM distillation pieces: corpora, posterior teachers, top-k tables, early stopping."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from bayeskd.data.hmm import predictive_log_probs
from bayeskd.data.lm_corpus import hmm_corpus, load_corpus, unigram_log_prior
from bayeskd.models.transformer import TransformerConfig
from bayeskd.training import lm_distill as L
from bayeskd.training.lm import ModelLMTeacher, TableLMTeacher, token_metrics


@pytest.fixture(scope="module")
def corpus():
    return hmm_corpus(seed=0, num_states=4, vocab_size=16, seq_len=8, teacher_rows=40,
                      num_train=20, num_test=10)


@pytest.fixture(scope="module")
def model():
    return TransformerConfig(vocab_size=16, num_layers=1, width=8, num_heads=2, max_len=8)


def _stacked(model, members):
    """``(graphdef, params [M, ...])`` of ``members`` randomly initialised networks, rebuilt
    through :func:`arrays_to_params` (the stored unit's round trip)."""
    nets = [nnx.split(model(jax.random.key(m)), nnx.Param)[1] for m in range(members)]
    stacked = jax.tree.map(lambda *a: jnp.stack(a), *nets)
    return L.arrays_to_params(model, [np.asarray(a) for a in jax.tree.leaves(stacked)])


def test_corpus_rows_are_nested_and_the_true_predictive_is_the_forward_algorithm(corpus):
    np.testing.assert_array_equal(corpus.train, corpus.teacher_train[:20])
    np.testing.assert_array_equal(corpus.val, corpus.teacher_train[20:30])
    exact = predictive_log_probs(corpus.hmm, corpus.test)[:, 1:]
    np.testing.assert_allclose(corpus.true_test, exact)
    assert corpus.meta["true_nll"] == pytest.approx(
        token_metrics(exact, corpus.test[:, 1:])["nll"], rel=1e-6)
    assert corpus.sizes() == {"num_train": 20, "num_test": 10, "num_val": 10,
                              "num_teacher_train": 40, "vocab_size": 16}
    same = load_corpus("hmm", seed=0, num_states=4, vocab_size=16, bpe_vocab=300, seq_len=8,
                       teacher_rows=40, num_train=20, num_test=10)
    np.testing.assert_array_equal(same.test, corpus.test)


def test_unigram_log_prior_is_log_of_add_one_counts():
    got = np.asarray(unigram_log_prior(np.array([[0, 0, 2], [2, 2, 3]]), 5))
    np.testing.assert_allclose(got, np.log([3.0, 1.0, 4.0, 2.0, 1.0]), rtol=1e-6)


def test_best_by_validation_picks_the_lowest_validation_point_per_seed():
    c = {"step": [1, 2, 3], "val_nll": [[3.0, 1.0], [2.0, 2.0], [2.5, 3.0]],
         "nll": [[9.0, 8.0], [7.0, 6.0], [5.0, 4.0]], "kl_true": [[1.0, 2.0]] * 3}
    assert L.best_by_validation(c, 0) == {"nll_best": 7.0, "best_step": 2, "kl_true_best": 1.0}
    assert L.best_by_validation(c, 1) == {"nll_best": 8.0, "best_step": 1, "kl_true_best": 2.0}
    nan = {**c, "val_nll": [[float("nan")] * 2] * 3}
    assert L.best_by_validation(nan, 0) == {}  # no validation rows: no choice
    assert "kl_true_best" not in L.best_by_validation({**c, "kl_true": [[np.nan] * 2] * 3}, 0)


def test_posterior_mutual_information_is_zero_for_copies_and_positive_otherwise(corpus, model):
    gd, params = _stacked(model, 2)
    copies = jax.tree.map(lambda a: jnp.stack([a[0], a[0]]), params)
    key = jax.random.key(0)
    same = L.posterior_metrics(L.posterior_teacher(gd, copies, posterior="ensemble"), corpus,
                               key=key)
    one = L.posterior_metrics(L.posterior_teacher(gd, copies, posterior="single"), corpus, key=key)
    assert abs(same["mutual_information"]) < 1e-5 and abs(one["mutual_information"]) < 1e-5
    assert same["kl_true"] == pytest.approx(one["kl_true"], rel=1e-5)  # mean of copies = one
    two = L.posterior_metrics(L.posterior_teacher(gd, params, posterior="ensemble"), corpus,
                              key=key)
    assert two["mutual_information"] > 1e-4


def test_teacher_prior_tables_and_topk_errors(corpus, model):
    gd, params = _stacked(model, 1)
    t = L.posterior_teacher(gd, params, posterior="single")
    assert L.teacher_prior(t, corpus, online=True, key=jax.random.key(0)) is t
    full = L.teacher_prior(t, corpus, online=False, key=jax.random.key(0))
    assert isinstance(full, TableLMTeacher) and full.log_probs.shape == (20, 7, 16)
    np.testing.assert_allclose(jnp.exp(full.log_probs).sum(-1), 1.0, rtol=1e-5)
    top = L.teacher_prior(t, corpus, online=False, key=jax.random.key(0), top_k=4)
    assert top.log_probs.shape == (20, 7, 4) and top.indices.shape == (20, 7, 4)
    rows = L.topk_errors(t, corpus, ks=(2, 8, 16))
    assert {r["k"] for r in rows} == {2, 8}  # k = V is the full table
    uni = {r["k"]: r for r in rows if r["tail"] == "uniform"}
    assert uni[8]["tvd"] < uni[2]["tvd"] and uni[8]["missing_mass"] < uni[2]["missing_mass"]
    assert uni[2]["bytes_per_token"] == 16 and uni[2]["full_bytes_per_token"] == 64
    assert all(r["kl_full_to_topk"] == np.inf for r in rows if r["tail"] == "zero")


def test_teacher_unit_round_trip_and_methods(corpus, model):
    from bayeskd.training import TrainConfig

    unit = L.train_lm_teacher(model, corpus, config=TrainConfig(steps=4, batch_size=4,
                                                                eval_every=2), seed=0)
    t = L.LMTeacher.from_unit(model, unit, posterior="single")
    assert isinstance(t.predictive, ModelLMTeacher) and t.predictive.draws == 1
    assert unit["metrics"]["mutual_information"] == pytest.approx(0.0, abs=1e-5)
    assert set(unit["metrics"]) >= {"nll", "bits_per_token", "kl_true", "sample_nll_true"}
    with pytest.raises(ValueError, match="method: must be one of"):
        L.train_method("token", t, corpus, student=model, objective=None, config=None,
                       seeds=1, seed=0)
    assert {"hard", "sequence", "token-forward_kl", "on_policy-jsd"} <= set(L.METHODS)

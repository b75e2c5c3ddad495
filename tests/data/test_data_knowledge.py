"""The synthetic knowledge base: answers sit in the right page, the retriever's accuracy is its
setting, and the RAG marginal is the score-weighted mixture."""

import numpy as np
import pytest

from bayeskd.data.knowledge import (
    KnowledgeConfig,
    make_knowledge_base,
    query_features,
    reader_training_rows,
    retrieve,
)
from bayeskd.losses import log_mean_probs

CFG = KnowledgeConfig(num_entities=12, num_relations=3, num_values=7, num_templates=4)


def _lookup(cfg, doc, relation_token):
    """The value token that follows ``relation_token`` in a page (``None`` if absent)."""
    rel = doc[1::2]
    hits = np.flatnonzero(rel == relation_token)
    return None if hits.size == 0 else int(doc[2 + 2 * hits[0]])


def test_every_fact_is_stated_once_in_its_entity_page():
    kb = make_knowledge_base(CFG, seed=3)
    assert kb.documents.shape == (12, 1 + 2 * 3)
    for e in range(CFG.num_entities):
        doc = kb.documents[e]
        assert doc[0] == CFG.entity_token(e)
        assert sorted(doc[1::2]) == sorted(CFG.relation_token(np.arange(3)))  # each relation once
        for r in range(CFG.num_relations):
            assert _lookup(CFG, doc, CFG.relation_token(r)) == kb.values[e, r]


def test_every_reader_row_answers_its_query_from_its_page():
    rows = reader_training_rows(CFG, 300, seed=1)
    d = CFG.doc_len
    for row in rows:
        doc, (t, e, r), answer = row[:d], row[d:d + 3], row[-1]
        assert doc[0] == e  # the right page
        assert CFG.template_token(0) <= t < CFG.vocab_size
        assert _lookup(CFG, doc, r) == answer and 0 <= answer < CFG.num_values


def test_base_is_seeded():
    a, b = make_knowledge_base(CFG, seed=5), make_knowledge_base(CFG, seed=5)
    np.testing.assert_array_equal(a.documents, b.documents)
    assert not np.array_equal(a.values, make_knowledge_base(CFG, seed=6).values)


@pytest.mark.parametrize("accuracy", [0.0, 0.3, 0.8, 1.0])
def test_retriever_accuracy_matches_its_setting(accuracy):
    n, k = 4000, 4
    right = np.random.default_rng(0).integers(0, CFG.num_entities, n)
    pages, scores = retrieve(right, num_entities=CFG.num_entities, k=k, accuracy=accuracy,
                             score_noise=0.5, rng=np.random.default_rng(1))
    hit = pages[:, 0] == right
    # a binomial bound: 4 standard deviations of the hit rate
    assert abs(hit.mean() - accuracy) <= 4 * np.sqrt(accuracy * (1 - accuracy) / n) + 1e-12
    # a miss retrieves only other pages; a hit has the right page first and nowhere else
    assert not np.any(pages[~hit] == right[~hit, None])
    assert not np.any(pages[hit, 1:] == right[hit, None])
    assert all(len(set(p)) == k for p in pages)
    assert np.all(np.diff(scores, axis=1) <= 0)  # best first


def test_retriever_scores_are_noisy_log_relevance():
    pages, scores = retrieve(np.zeros(5, int), num_entities=6, k=3, accuracy=0.6, score_noise=0,
                             rng=np.random.default_rng(0))
    np.testing.assert_allclose(scores, np.log([[0.6, 0.2, 0.2]] * 5), rtol=1e-6)


def test_rag_marginal_equals_the_hand_mixture():
    doc_p = np.array([[[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]]])  # [N=1, k=2, V=3]
    scores = np.log(np.array([[3.0, 1.0]]))  # softmax weights 3/4, 1/4
    want = 0.75 * doc_p[0, 0] + 0.25 * doc_p[0, 1]  # [0.55, 0.175, 0.275]
    got = np.exp(np.asarray(log_mean_probs(np.log(doc_p), member_scores=scores + 7.0)))
    np.testing.assert_allclose(got[0], want, rtol=1e-6)
    # equal scores are the plain mean
    np.testing.assert_allclose(np.asarray(log_mean_probs(np.log(doc_p), member_scores=[[2.0, 2.0]])),
                               np.asarray(log_mean_probs(np.log(doc_p))), rtol=1e-6)


def test_query_features_are_one_hot_per_field():
    x = query_features(CFG, np.array([1, 3]), np.array([0, 11]), np.array([2, 0]))
    assert x.shape == (2, 4 + 12 + 3) and np.all(x.sum(1) == 3)
    assert x[1, 3] == 1 and x[1, 4 + 11] == 1 and x[1, 4 + 12 + 0] == 1


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"k": 0}, "k: must be an integer >= 1"),
    ({"k": 12}, "k: must be smaller than num_entities = 12"),
    ({"accuracy": 1.5}, r"accuracy: must lie in \[0, 1\]"),
    ({"score_noise": -1.0}, "score_noise: must be a finite number > 0"),
])
def test_retrieve_rejects_bad_settings(kwargs, match):
    args = {"num_entities": 12, "k": 2, "accuracy": 0.5, "score_noise": 0.5} | kwargs
    with pytest.raises(ValueError, match=match):
        retrieve(np.zeros(3, int), rng=np.random.default_rng(0), **args)


@pytest.mark.parametrize(("field", "value", "match"), [
    ("num_entities", 1, "num_entities: must be an integer >= 2"),
    ("num_values", 0, "num_values: must be an integer >= 1"),
    ("num_relations", 0, "num_relations: must be an integer >= 1"),
    ("num_templates", 2.5, "num_templates: must be an integer >= 1"),
])
def test_knowledge_config_rejects_bad_sizes(field, value, match):
    with pytest.raises(ValueError, match=match):
        KnowledgeConfig(**{field: value})

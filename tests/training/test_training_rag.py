"""The RAG teacher's pieces against exact answers: its two predictives, the student arms'
tables and order, the teachers' metric rows, and its settings checked at construction."""

import numpy as np
import pytest

from bayeskd.data.knowledge import KnowledgeConfig
from bayeskd.training import rag


def _answers(accuracies, draws, n=3, k=2, v=4, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in accuracies:
        per = []
        for _ in range(draws):
            lp = np.log(rng.dirichlet(np.ones(v), (n, k)))
            per.append({"logp": lp, "scores": rng.normal(size=(n, k)),
                        "hit": rng.random(n) < 0.5})
        out.append(per)
    return out


def test_predictives_are_the_score_weighted_mixture_and_the_first_page():
    lp = np.log(np.array([[[0.5, 0.5], [1.0, 1e-12]], [[0.2, 0.8], [0.6, 0.4]]]))
    scores = np.log(np.array([[0.5, 0.5], [1.0, 1e-12]]))
    marginal, top1 = rag.rag_predictives(lp, scores)
    np.testing.assert_allclose(np.exp(marginal), [[0.75, 0.25], [0.2, 0.8]], atol=1e-6)
    np.testing.assert_allclose(top1, lp[:, 0])


def test_student_arms_tables_and_order():
    accs, seeds, y = (0.5, 1.0), 2, np.array([0, 3, 1])
    answers = _answers(accs, seeds)
    arms, priors, tags = rag.student_arms(answers, y, 4, accuracies=accs, seeds=seeds,
                                          imitation=0.3)
    assert arms == [rag.FLOOR] * 2 + [rag.CEILING] * 2 + [rag.MARGINAL] * 2 + [rag.TOP1] * 2 \
        + [rag.MARGINAL] * 2 + [rag.TOP1] * 2
    assert [(t["retriever_accuracy"], t["seed"]) for t in tags] == [(None, 0), (None, 1)] * 2 + [
        (a, s) for a in accs for _ in range(2) for s in range(seeds)]
    assert [float(p.alpha) for p in priors] == [0.0] * 2 + [0.3] * 10
    np.testing.assert_allclose(priors[0].table, np.log(0.25))  # the floor: uniform, unused
    assert (np.argmax(priors[2].table, -1) == y).all()  # the ceiling: the one-hot answers
    d = answers[1][1]  # accuracy 1.0, draw 1
    marginal, top1 = rag.rag_predictives(d["logp"], d["scores"])
    np.testing.assert_allclose(priors[9].table, marginal, rtol=1e-6)
    np.testing.assert_allclose(priors[11].table, top1, rtol=1e-6)
    assert all(p.table.dtype == np.float32 for p in priors)


def test_teacher_rows_one_per_accuracy_draw_and_predictive():
    answers = _answers((0.5, 1.0), 2)
    rows = rag.teacher_rows(answers, np.array([0, 1, 2]), accuracies=(0.5, 1.0))
    assert [(r["retriever_accuracy"], r["seed"], r["arm"]) for r in rows] == [
        (a, s, arm) for a in (0.5, 1.0) for s in range(2) for arm in (rag.MARGINAL, rag.TOP1)]
    assert rows[0]["top1_hit_rate"] == np.mean(answers[0][0]["hit"])
    assert all(r["model"] == "teacher" and 0 <= r["accuracy"] <= 1 for r in rows)


@pytest.mark.parametrize(("make", "match"), [
    (lambda: rag.ReaderConfig(width=36), "reader_width: must be divisible by 8"),
    (lambda: rag.ReaderConfig(steps=0), "steps: must be an integer >= 1"),
    (lambda: rag.RetrieverConfig(accuracies=()), "accuracies: must name at least one"),
    (lambda: rag.RetrieverConfig(score_noise=-1.0), "score_noise: must be a number >= 0"),
    (lambda: rag.check_retriever(rag.RetrieverConfig(k=4), KnowledgeConfig(4, 1, 2, 1)),
     "retriever.k: must be smaller than num_entities = 4"),
])
def test_bad_settings_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make()

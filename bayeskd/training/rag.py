r"""A retrieval-augmented teacher: a transformer reader over retrieved documents, and its two
predictives.

The reader (:func:`train_reader`) is a causal :class:`~bayeskd.models.transformer.Transformer`
fitted with the LM objective on :func:`bayeskd.data.knowledge.reader_training_rows`
(``[doc, t, e, r, answer]`` about freshly drawn facts, so it learns to read, not to remember).
Given a query and the ``k`` pages a noisy retriever returns with scores :math:`s`
(:func:`read_retrieved`), its per-document answer distributions :math:`p(y\mid q, d)` give

- the *RAG marginal* (Lewis et al. 2020), :math:`p(y\mid q) = \sum_d \mathrm{softmax}(s)_d\,
  p(y\mid q, d)`, and
- the *top-1* predictive :math:`p(y\mid q, d_1)` of the first page only

(:func:`rag_predictives`). The documents are privileged information (Lopez-Paz et al. 2016): a
closed-book student sees only the query. :func:`student_arms` gives its generalised-distillation
arms, :math:`(1-\lambda)\,\mathrm{CE}(y) + \lambda\,\mathrm{KL}(p_t\|p_\theta)` at
:math:`T = 1` (a table :class:`~bayeskd.priors.TeacherPrior`): ``labels only``
(:math:`\lambda = 0`, the floor), ``labels for all`` (the one-hot answer as the table, the
ceiling), and per retriever accuracy the ``RAG marginal`` and the ``top-1`` predictive.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import numpy as np
from jaxtyping import Float, Int

from bayeskd.data.knowledge import (
    KnowledgeBase,
    KnowledgeConfig,
    query_tokens,
    reader_sequences,
    reader_training_rows,
    retrieve,
)
from bayeskd.losses import log_mean_probs
from bayeskd.metrics import classification_metrics
from bayeskd.models.transformer import TransformerConfig
from bayeskd.priors import TeacherPrior
from bayeskd.training import HardLabels, LMObjective, TrainConfig, fit, lm_log_probs
from bayeskd.validate import check_positive_int, check_unit_interval

__all__ = ["CEILING", "FLOOR", "MARGINAL", "TOP1", "ReaderConfig", "RetrieverConfig",
           "check_reader_width", "check_retriever", "rag_teacher", "student_arms",
           "teacher_rows", "rag_predictives", "read_retrieved", "reader_log_probs",
           "retrieval_answers", "train_reader"]

NUM_HEADS = 4
FLOOR, CEILING, MARGINAL, TOP1 = "labels only", "labels for all", "RAG marginal", "top-1"


def check_reader_width(width: int) -> None:
    """``ValueError`` unless ``width`` splits into :data:`NUM_HEADS` heads of even size (RoPE)."""
    if width % (2 * NUM_HEADS):
        raise ValueError(f"reader_width: must be divisible by {2 * NUM_HEADS} ({NUM_HEADS} heads, "
                         f"RoPE), got {width}")


@dataclasses.dataclass(frozen=True)
class ReaderConfig:
    """The reader's training (checked at construction): ``rows`` reader rows, ``steps`` Adam
    steps of ``batch_size`` at ``learning_rate``, a transformer of ``width``."""

    rows: int = 20000
    steps: int = 1000
    width: int = 64
    learning_rate: float = 3e-3
    batch_size: int = 100

    def __post_init__(self):
        for name in ("rows", "steps", "width", "batch_size"):
            check_positive_int(getattr(self, name), name=name)
        check_reader_width(self.width)


@dataclasses.dataclass(frozen=True)
class RetrieverConfig:
    """The noisy retriever (:func:`bayeskd.data.knowledge.retrieve`, checked at construction):
    ``k`` pages per query, each accuracy of ``accuracies`` swept, ``score_noise``, and
    ``test_draws`` independent retrievals of every test query."""

    k: int = 4
    accuracies: tuple[float, ...] = (0.5, 0.8, 1.0)
    score_noise: float = 0.5
    test_draws: int = 8

    def __post_init__(self):
        check_positive_int(self.k, name="k")
        check_positive_int(self.test_draws, name="test_draws")
        if not self.accuracies:
            raise ValueError("accuracies: must name at least one retriever accuracy, got ()")
        for a in self.accuracies:
            check_unit_interval(a, name="accuracies")
        if not self.score_noise >= 0:
            raise ValueError(f"score_noise: must be a number >= 0, got {self.score_noise!r}")


def check_retriever(retriever: RetrieverConfig, cfg: KnowledgeConfig) -> None:
    """``ValueError`` unless every query has ``k`` other pages to miss with (``k < E``)."""
    if retriever.k >= cfg.num_entities:
        raise ValueError(f"retriever.k: must be smaller than num_entities = "
                         f"{cfg.num_entities}, got {retriever.k}")


def rag_teacher(kb: KnowledgeBase, queries: dict[str, dict], reader: ReaderConfig,
                retriever: RetrieverConfig, *, draws: int, seed: int = 0,
                progress: bool | None = None) -> dict:
    """:func:`retrieval_answers` of the reader :func:`train_reader` trains."""
    return retrieval_answers(*train_reader(kb.config, reader, seed=seed, progress=progress), kb,
                             queries, retriever, draws=draws)


def train_reader(cfg: KnowledgeConfig, reader: ReaderConfig, *, seed: int = 0,
                 progress: bool | None = None) -> tuple:
    """The reader: a 2-layer transformer of ``reader.width`` (:data:`NUM_HEADS` heads) fitted
    by :func:`bayeskd.training.fit` with the LM objective (labels only) on ``reader.rows``
    reader rows drawn with ``seed``, all steps in one compiled chunk from
    ``jax.random.key(seed)``. Returns ``(graphdef, params)`` of its one member."""
    data = reader_training_rows(cfg, reader.rows, seed=seed)
    model = TransformerConfig(vocab_size=cfg.vocab_size, num_layers=2, width=reader.width,
                              num_heads=NUM_HEADS, max_len=data.shape[1])
    config = TrainConfig(steps=reader.steps, batch_size=reader.batch_size,
                         learning_rate=reader.learning_rate, eval_every=reader.steps)
    res = fit(model, {"x": data}, prior=HardLabels(), config=config, key=jax.random.key(seed),
              objective=LMObjective(label_weight=1.0), progress=progress, desc="RAG teacher")
    return res.graphdef, jax.tree.map(lambda a: a[0], res.params)


def reader_log_probs(graphdef, params, cfg: KnowledgeConfig, docs_ND: Int[np.ndarray, "N D"],
                     queries_N3: Int[np.ndarray, "N 3"]) -> Float[np.ndarray, "N V"]:
    """The reader's answer distribution ``[N, V]``: its next-token log-probabilities after
    ``[doc, query]``, renormalised over the ``V`` value tokens."""
    seqs = reader_sequences(docs_ND, queries_N3)
    logits = lm_log_probs(graphdef, params, seqs, batch_size=512)[:, -1, :cfg.num_values]
    return np.asarray(jax.nn.log_softmax(logits, axis=-1))


def read_retrieved(graphdef, params, kb: KnowledgeBase, queries_N3: Int[np.ndarray, "N 3"],
                   entities_N: Int[np.ndarray, " N"], *, k: int, accuracy: float,
                   score_noise: float, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One retrieval of ``k`` pages per query (:func:`bayeskd.data.knowledge.retrieve`) and
    the reader on each: ``logp [N, k, V]`` (per page, best first), the retriever's
    ``scores [N, k]`` and ``hit [N]`` (the first page is the right one)."""
    cfg = kb.config
    pages, scores = retrieve(entities_N, num_entities=cfg.num_entities, k=k, accuracy=accuracy,
                             score_noise=score_noise, rng=rng)
    lp = reader_log_probs(graphdef, params, cfg, kb.documents[pages.reshape(-1)],
                          np.repeat(queries_N3, k, 0))
    return {"logp": lp.reshape(len(queries_N3), k, -1), "scores": scores,
            "hit": pages[:, 0] == np.asarray(entities_N)}


def retrieval_answers(graphdef, params, kb: KnowledgeBase, queries: dict[str, dict],
                      retriever: RetrieverConfig, *, draws: int) -> dict:
    """The reader on every query of :func:`bayeskd.data.knowledge.query_sets`: for each split
    (the test queries tiled ``retriever.test_draws`` times, each copy its own retrieval), each
    accuracy ``retriever.accuracies[i]`` and each draw ``s < draws``, :func:`read_retrieved` with
    ``np.random.default_rng([s, i, split == "test"])``, as ``out[split][i][s]``; and
    ``right_page_accuracy``, the reader's accuracy on the tiled test queries given the right
    page."""
    out: dict = {}
    for split, q in queries.items():
        if split == "test":
            q = {n: np.tile(v, retriever.test_draws) for n, v in q.items()}
        tokens = query_tokens(kb.config, q["t"], q["e"], q["r"])
        if split == "test":
            right = reader_log_probs(graphdef, params, kb.config, kb.documents[q["e"]], tokens)
            out["right_page_accuracy"] = float(np.mean(right.argmax(-1) == q["y"]))
        out[split] = [[read_retrieved(graphdef, params, kb, tokens, q["e"], k=retriever.k,
                                      accuracy=a, score_noise=retriever.score_noise,
                                      rng=np.random.default_rng([s, i, split == "test"]))
                       for s in range(draws)] for i, a in enumerate(retriever.accuracies)]
    return out


def rag_predictives(logp_NkV: Float[np.ndarray, "N k V"], scores_Nk: Float[np.ndarray, "N k"]
                    ) -> tuple[np.ndarray, np.ndarray]:
    """``(marginal [N, V], top1 [N, V])`` log-probabilities: the softmax(scores)-weighted
    mixture of the per-page predictives (:func:`bayeskd.losses.log_mean_probs`) and the first
    page's.

    Example:
      >>> lp = np.log(np.array([[[0.9, 0.1], [0.1, 0.9]]]))
      >>> marginal, top1 = rag_predictives(lp, np.log(np.array([[0.75, 0.25]])))
      >>> np.exp(marginal.astype(float)).round(3).tolist(), np.exp(top1).round(3).tolist()
      ([[0.7, 0.3]], [[0.9, 0.1]])
    """
    return (np.asarray(log_mean_probs(logp_NkV, member_scores=scores_Nk)),
            np.asarray(logp_NkV[:, 0]))


def teacher_rows(answers: list, y_N: np.ndarray, *, accuracies: Sequence[float]) -> list[dict]:
    """The teachers' own metrics (:func:`bayeskd.metrics.classification_metrics`) from
    :func:`retrieval_answers`' ``answers[i][s]`` on queries with answers ``y_N``: one row per
    accuracy, draw and predictive (``arm``: :data:`MARGINAL`, :data:`TOP1`), with the share of
    queries whose first page is the right one (``top1_hit_rate``)."""
    return [{"model": "teacher", "arm": arm, "retriever_accuracy": a, "seed": s,
             "top1_hit_rate": float(np.mean(d["hit"]))} | classification_metrics(np.exp(lp), y_N)
            for a, per_draw in zip(accuracies, answers, strict=True)
            for s, d in enumerate(per_draw)
            for arm, lp in zip((MARGINAL, TOP1), rag_predictives(d["logp"], d["scores"]),
                               strict=True)]


def student_arms(answers: list, y_N: np.ndarray, num_values: int, *,
                 accuracies: Sequence[float], seeds: int, imitation: float
                 ) -> tuple[list[str], list[TeacherPrior], list[dict]]:
    """``(arms, priors, tags)`` of every student member: its arm, its TeacherPrior and
    ``{"seed", "retriever_accuracy"}`` (``None`` without a retriever), in this order: the floor and the ceiling ``seeds`` times each, then per accuracy ``a`` (index
    ``i``) the marginal and the top-1 predictive of draw ``s`` of ``answers[i]`` on the
    training queries (answers ``y_N``); the distilled arms and the ceiling weigh the table by
    ``imitation``."""
    fixed = [(FLOOR, 0.0, np.full((len(y_N), num_values), -np.log(num_values))),
             (CEILING, imitation, np.log(np.clip(np.eye(num_values)[y_N], 1e-6, None)))]
    members = [(arm, None, s, w, t) for arm, w, t in fixed for s in range(seeds)] + [
        (arm, a, s, imitation, rag_predictives(d["logp"], d["scores"])[arm == TOP1])
        for a, per_draw in zip(accuracies, answers, strict=True) for arm in (MARGINAL, TOP1)
        for s, d in enumerate(per_draw)]
    return ([m[0] for m in members],
            [TeacherPrior(alpha=float(w), temperature=1.0, table=np.asarray(t, np.float32))
             for *_, w, t in members],
            [{"seed": s, "retriever_accuracy": a} for _, a, s, *_ in members])

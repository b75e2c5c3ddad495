r"""A synthetic knowledge base, its documents, queries about it and a noisy retriever.

A base of facts :math:`(e, r) \mapsto v`: ``num_entities`` entities, ``num_relations``
relations, each fact's value drawn uniformly from ``num_values`` values (seeded). Every token
is an integer of one vocabulary laid out as

====================  ==========================================
``[0, V)``            values (so an answer's class is its token)
``[V, V+E)``          entities
``[V+E, V+E+R)``      relations
``[V+E+R, ...+T)``    query templates (phrasings)
====================  ==========================================

- A **document** is an entity's page: ``[e, r_1, v_1, ..., r_R, v_R]`` (``1 + 2R`` tokens), its
  relations in a seeded order, so reading a fact off it means finding the relation and copying
  the value that follows (an induction-head lookup, within reach of a 2-layer transformer).
- A **query** is ``[t, e, r]``: template ``t`` (a phrasing) asking for fact ``(e, r)``.
- A reader's **context** is one document followed by the query, ``[doc, t, e, r]``, and its
  answer the value token (:func:`reader_sequences` appends it).
- The **retriever** (:func:`retrieve`) returns ``k`` documents per query with scores; the right
  page comes first with probability ``accuracy`` (otherwise all ``k`` are other entities' pages);
  its scores are its log-probabilities of relevance, ``log a`` for the first and
  ``log((1-a)/(k-1))`` for the rest, plus Gaussian noise of std ``score_noise``, sorted so the
  ranking stands.

RAG (Lewis et al. 2020) answers with the marginal over the retrieved documents,
:math:`p(y\mid q) = \sum_d \mathrm{softmax}(s)_d\, p(y\mid q, d)`
(:func:`bayeskd.losses.log_mean_probs` with ``member_scores``).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from bayeskd.validate import check_positive_float, check_positive_int, check_unit_interval

__all__ = ["KnowledgeBase", "KnowledgeConfig", "make_knowledge_base", "query_features",
           "query_tokens", "reader_sequences", "reader_training_rows", "retrieve"]

#: the floor of a retriever's relevance probability (``log 0`` would be an infinite score)
MIN_RELEVANCE = 1e-3


@dataclasses.dataclass(frozen=True)
class KnowledgeConfig:
    """The sizes of a knowledge base, checked at construction (before any work).

    Attributes:
      num_entities: ``E`` (>= 2; > ``k`` for a retriever of ``k`` documents).
      num_relations: ``R`` (>= 1).
      num_values: ``V``, the answers (>= 2).
      num_templates: ``T``, phrasings of a query (>= 1).
    """

    num_entities: int = 64
    num_relations: int = 4
    num_values: int = 32
    num_templates: int = 6

    def __post_init__(self):
        check_positive_int(self.num_relations, name="num_relations")
        check_positive_int(self.num_templates, name="num_templates")
        for name in ("num_entities", "num_values"):
            if check_positive_int(getattr(self, name), name=name) < 2:
                raise ValueError(f"{name}: must be an integer >= 2, got {getattr(self, name)!r}")

    @property
    def vocab_size(self) -> int:
        return self.num_values + self.num_entities + self.num_relations + self.num_templates

    @property
    def doc_len(self) -> int:
        return 1 + 2 * self.num_relations

    def entity_token(self, e):
        return self.num_values + np.asarray(e)

    def relation_token(self, r):
        return self.num_values + self.num_entities + np.asarray(r)

    def template_token(self, t):
        return self.num_values + self.num_entities + self.num_relations + np.asarray(t)


@dataclasses.dataclass(frozen=True)
class KnowledgeBase:
    """Facts ``values [E, R]`` (value ids) and every entity's page ``documents [E, 1+2R]``."""

    config: KnowledgeConfig
    values: np.ndarray
    documents: np.ndarray


def _page(cfg: KnowledgeConfig, e: int, values_R: np.ndarray, order_R: np.ndarray) -> np.ndarray:
    doc = np.empty(cfg.doc_len, np.int32)
    doc[0] = cfg.entity_token(e)
    doc[1::2] = cfg.relation_token(order_R)
    doc[2::2] = values_R[order_R]
    return doc


def make_knowledge_base(cfg: KnowledgeConfig, *, seed: int) -> KnowledgeBase:
    """A seeded base: each fact's value uniform over ``V``, each page's relations shuffled."""
    rng = np.random.default_rng([seed, 17])
    values = rng.integers(0, cfg.num_values, (cfg.num_entities, cfg.num_relations)).astype(np.int32)
    docs = np.stack([_page(cfg, e, values[e], rng.permutation(cfg.num_relations))
                     for e in range(cfg.num_entities)])
    return KnowledgeBase(cfg, values, docs)


def reader_sequences(docs_ND: np.ndarray, queries_N3: np.ndarray,
                     answers_N: np.ndarray | None = None) -> np.ndarray:
    """``[doc, t, e, r, answer]`` rows ``[N, doc_len + 4]`` (answer 0 when not given)."""
    n = len(queries_N3)
    answers = np.zeros(n, np.int32) if answers_N is None else np.asarray(answers_N, np.int32)
    return np.concatenate([docs_ND, queries_N3, answers[:, None]], axis=1).astype(np.int32)


def reader_training_rows(cfg: KnowledgeConfig, n: int, *, seed: int) -> np.ndarray:
    """``n`` reader rows about freshly drawn facts (not the base's): the right page, a query on
    it, its answer. Values are new in every row, so a reader can only learn to read, not to
    remember facts."""
    rng = np.random.default_rng([seed, 29])
    e = rng.integers(0, cfg.num_entities, n)
    vals = rng.integers(0, cfg.num_values, (n, cfg.num_relations))
    docs = np.stack([_page(cfg, e[i], vals[i], rng.permutation(cfg.num_relations))
                     for i in range(n)])
    r = rng.integers(0, cfg.num_relations, n)
    t = rng.integers(0, cfg.num_templates, n)
    q = np.stack([cfg.template_token(t), cfg.entity_token(e), cfg.relation_token(r)], 1)
    return reader_sequences(docs, q, vals[np.arange(n), r])


def query_tokens(cfg: KnowledgeConfig, t, e, r) -> np.ndarray:
    """Query rows ``[N, 3]`` = ``[t, e, r]`` tokens."""
    return np.stack([cfg.template_token(t), cfg.entity_token(e), cfg.relation_token(r)],
                    axis=-1).astype(np.int32)


def query_features(cfg: KnowledgeConfig, t, e, r) -> np.ndarray:
    """A closed-book model's input: one-hot template, entity and relation, ``[N, T+E+R]``."""
    return np.concatenate([np.eye(cfg.num_templates, dtype=np.float32)[t],
                           np.eye(cfg.num_entities, dtype=np.float32)[e],
                           np.eye(cfg.num_relations, dtype=np.float32)[r]], axis=-1)


def retrieve(entities_N: np.ndarray, *, num_entities: int, k: int, accuracy: float,
             score_noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    r"""A noisy retriever: ``(pages [N, k], scores [N, k])``, pages as entity ids, best first.

    With probability ``accuracy`` (independently per query) the right page ``entities_N[n]``
    comes first and ``k - 1`` other pages follow; otherwise all ``k`` are other pages (drawn
    without replacement). Scores are the retriever's log-probabilities of relevance plus noise,

    .. math::
        s = \mathrm{sort}_\downarrow\big(\log\pi + \sigma\varepsilon\big),\quad
        \pi = \big(a, \tfrac{1-a}{k-1}, \dots\big),\ \varepsilon \sim \mathcal N(0, I_k),

    with :math:`\pi` floored at :data:`MIN_RELEVANCE` and :math:`\sigma` = ``score_noise``
    (``0`` is allowed: exact scores).

    Raises:
      ValueError: ``k`` not an integer in ``[1, num_entities - 1]``, ``accuracy`` outside
        ``[0, 1]``, ``score_noise`` negative.
    """
    k = check_positive_int(k, name="k")
    if k >= num_entities:
        raise ValueError(f"k: must be smaller than num_entities = {num_entities} (a miss needs k "
                         f"other pages), got {k}")
    check_unit_interval(accuracy, name="accuracy")
    if score_noise != 0:
        check_positive_float(score_noise, name="score_noise")
    entities_N = np.asarray(entities_N)
    n = len(entities_N)
    hit = rng.random(n) < accuracy
    # other pages: a random permutation of the E-1 entities that are not the right one
    other = np.argsort(rng.random((n, num_entities - 1)), axis=1)[:, :k]
    other = other + (other >= entities_N[:, None])
    pages = np.where(hit[:, None], np.concatenate([entities_N[:, None], other[:, :k - 1]], 1), other)
    pi = np.full(k, (1 - accuracy) / max(k - 1, 1)) if k > 1 else np.ones(1)
    pi[0] = accuracy if k > 1 else 1.0
    log_pi = np.log(np.maximum(pi, MIN_RELEVANCE))
    scores = -np.sort(-(log_pi + score_noise * rng.standard_normal((n, k))), axis=1)
    return pages.astype(np.int32), scores.astype(np.float32)

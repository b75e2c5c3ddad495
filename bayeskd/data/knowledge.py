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
- A **split** (:func:`split_facts`, :func:`query_sets`): a share of the facts is *labelled*
  (their answers may be trained on), and each fact's phrasings are divided into training
  templates and held-out ones; the test queries are the unlabelled facts in held-out phrasings.
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

from bayeskd.data.dataset import Dataset
from bayeskd.validate import check_positive_float, check_positive_int, check_unit_interval

__all__ = ["KnowledgeBase", "KnowledgeConfig", "SplitConfig", "check_split", "closed_book_dataset",
           "make_knowledge_base",
           "query_features", "query_sets", "query_tokens", "reader_sequences",
           "reader_training_rows", "retrieve", "split_facts"]

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


@dataclasses.dataclass(frozen=True)
class SplitConfig:
    """A split of the facts (:func:`split_facts`): ``labelled_fraction`` of them labelled,
    ``train_templates`` phrasings of each trained on."""

    labelled_fraction: float = 0.5
    train_templates: int = 4


def check_split(cfg: KnowledgeConfig, split: SplitConfig) -> None:
    """``ValueError`` unless the split leaves held-out phrasings (``train_templates < T``) and
    at least one labelled and one unlabelled fact (``labelled_fraction`` in the open interval,
    ``round(labelled_fraction * E * R)`` in ``[1, E * R - 1]``)."""
    labelled_fraction, train_templates = split.labelled_fraction, split.train_templates
    check_positive_int(train_templates, name="train_templates")
    if train_templates >= cfg.num_templates:
        raise ValueError(f"train_templates: must be smaller than num_templates = "
                         f"{cfg.num_templates} (the rest are the held-out phrasings), got "
                         f"{train_templates}")
    check_unit_interval(labelled_fraction, name="labelled_fraction", open_ends=True)
    facts = cfg.num_entities * cfg.num_relations
    if not 1 <= round(labelled_fraction * facts) <= facts - 1:
        raise ValueError(f"labelled_fraction: must leave at least one labelled and one "
                         f"teacher-only fact of the {facts}, got {labelled_fraction}")


def split_facts(cfg: KnowledgeConfig, split: SplitConfig, *, seed: int) -> dict[str, np.ndarray]:
    """Which facts are labelled and which phrasings of each fact are trained on (seeded).

    Returns ``labelled [E, R]`` (bool; exactly ``round(labelled_fraction * E * R)`` true),
    ``train_t [E, R, train_templates]`` and ``test_t [E, R, T - train_templates]``: the template
    ids of each fact, a seeded permutation of ``range(T)`` split in two.

    Example:
      >>> s = split_facts(KnowledgeConfig(4, 2, 3, 3), SplitConfig(0.5, 2), seed=0)
      >>> int(s["labelled"].sum()), s["train_t"].shape, s["test_t"].shape
      (4, (4, 2, 2), (4, 2, 1))
    """
    check_split(cfg, split)
    labelled_fraction, train_templates = split.labelled_fraction, split.train_templates
    rng = np.random.default_rng([seed, 31])
    e, r, t = cfg.num_entities, cfg.num_relations, cfg.num_templates
    labelled = np.zeros(e * r, bool)
    labelled[rng.permutation(e * r)[:round(labelled_fraction * e * r)]] = True
    perm = np.argsort(rng.random((e, r, t)), axis=-1)
    return {"labelled": labelled.reshape(e, r), "train_t": perm[..., :train_templates],
            "test_t": perm[..., train_templates:]}


def query_sets(kb: KnowledgeBase, split: dict[str, np.ndarray]) -> dict[str, dict]:
    """The training queries (every fact in each of its training phrasings) and the test
    queries (the unlabelled facts in their held-out phrasings), each a dict of ``[N]`` arrays:
    template ``t``, entity ``e``, relation ``r``, answer ``y`` and ``labelled``; fact-major
    (entity, then relation, then phrasing)."""
    cfg = kb.config
    e_idx, r_idx = np.meshgrid(np.arange(cfg.num_entities), np.arange(cfg.num_relations),
                               indexing="ij")

    def expand(templates_ERj: np.ndarray, keep_ER: np.ndarray) -> dict[str, np.ndarray]:
        j = templates_ERj.shape[-1]
        mask = np.repeat(keep_ER[..., None], j, -1)
        e = np.repeat(e_idx[..., None], j, -1)[mask]
        r = np.repeat(r_idx[..., None], j, -1)[mask]
        return {"t": templates_ERj[mask], "e": e, "r": r, "y": kb.values[e, r],
                "labelled": split["labelled"][e, r]}

    return {"train": expand(split["train_t"], np.ones_like(split["labelled"])),
            "test": expand(split["test_t"], ~split["labelled"])}


def closed_book_dataset(kb: KnowledgeBase, queries: dict[str, dict]) -> tuple[Dataset, dict]:
    """What a closed-book student sees (:func:`query_features` of :func:`query_sets`' queries):
    the dataset (training queries with their answers where the fact is labelled and ``0``
    elsewhere, test queries with theirs; ``V`` classes) and its training data for
    :func:`bayeskd.training.fit`, whose ``label_mask`` is 1 on the labelled facts only."""
    cfg, tr, te = kb.config, queries["train"], queries["test"]
    ds = Dataset("knowledge", query_features(cfg, tr["t"], tr["e"], tr["r"]),
                 np.where(tr["labelled"], tr["y"], 0).astype(np.int32),
                 query_features(cfg, te["t"], te["e"], te["r"]), te["y"].astype(np.int32),
                 cfg.num_values)
    return ds, {"x": ds.x_train, "y": ds.y_train,
                "label_mask": tr["labelled"].astype(np.float32)}

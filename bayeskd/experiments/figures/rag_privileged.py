r"""``rag_privileged``: a retrieval-augmented teacher distilled into a closed-book student, read as
learning with privileged information (Lopez-Paz et al. 2016).

A synthetic knowledge base (:mod:`bayeskd.data.knowledge`): facts :math:`(e, r)\mapsto v`,
documents (entity pages) that state them, queries ``[template, e, r]``. The **teacher** is a
2-layer causal transformer (:class:`~bayeskd.models.transformer.Transformer`) trained through
:func:`~bayeskd.training.fit` with the LM objective to answer a query from one document in its
context (on freshly drawn facts: it learns to read, not to remember). A noisy **retriever**
gives it ``k`` pages per query with scores (the right page first with probability ``a``). The
teacher's predictive is

- *RAG marginal* (Lewis et al. 2020): :math:`p(y\mid q) = \sum_d \mathrm{softmax}(s)_d\,
  p(y\mid q, d)` over the ``k`` pages;
- *top-1*: :math:`p(y\mid q, d_1)`, the first page only.

The retrieved documents are the privileged information: **students see only the query** (an MLP
on one-hot template, entity and relation). Half the facts are *labelled* (their queries carry
the answer); the others reach a student only through the teacher. Every student trains in one
vmapped :func:`~bayeskd.training.fit` under a :class:`~bayeskd.priors.TeacherPrior` table at
:math:`T = 1` (the generalised-distillation loss
:math:`(1-\lambda)\,\mathrm{CE}(y) + \lambda\,\mathrm{KL}(p_t\|p_\theta)`, labels only on the
labelled facts, the teacher on every query):

- ``labels only`` (:math:`\lambda = 0`): cannot know the teacher-only facts, the floor;
- ``RAG marginal`` / ``top-1``: the teacher's predictive as the table;
- ``labels for all``: the one-hot answer as the table, the ceiling.

Evaluation: held-out phrasings (templates never paired with that fact in training) of the
teacher-only facts: accuracy, NLL, ECE (:func:`bayeskd.metrics.classification_metrics`); the
teachers themselves on the same queries; a sweep over retriever accuracy ``a``.

Command: ``bayeskd reproduce rag_privileged --size quick`` (3 seeds, ``a`` in 0.5, 0.8, 1.0;
about 1-2 min on 2 cores).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import numpy as np

from bayeskd.data import Dataset
from bayeskd.data.knowledge import (
    KnowledgeConfig,
    make_knowledge_base,
    query_features,
    query_tokens,
    reader_sequences,
    reader_training_rows,
    retrieve,
)
from bayeskd.experiments.figures._base import (
    Comparison,
    FigureInfo,
    Report,
    Units,
    log_fn,
    member_logp,
    metric_rows,
    table_prior,
    train_members,
)
from bayeskd.experiments.lm_distill import compare_to_hard
from bayeskd.losses import log_mean_probs
from bayeskd.metrics import classification_metrics, format_mean_std, summarize
from bayeskd.models.transformer import TransformerConfig
from bayeskd.training import TrainConfig, fit
from bayeskd.training.lm import HardLabels, LMObjective, lm_log_probs
from bayeskd.validate import check_positive_float, check_positive_int, check_unit_interval

INFO = FigureInfo(
    name="rag_privileged",
    title="a retrieval-augmented teacher distilled into a student without retrieval",
    paper="D. Lopez-Paz, L. Bottou, B. Schölkopf, V. Vapnik. Unifying distillation and "
          "privileged information. ICLR 2016; P. Lewis et al. Retrieval-Augmented Generation for "
          "Knowledge-Intensive NLP Tasks. NeurIPS 2020",
    mirrors="Lopez-Paz et al. §4 (a teacher on privileged inputs teaches a student without "
            "them); Lewis et al. §2.1 (RAG marginalises the generator over the top-k documents)",
    claim="Distillation from a teacher with privileged information (here: retrieved documents) "
          "beats the student trained on the labels alone; RAG's marginal over documents is "
          "better calibrated than answering from the top document only.",
    runtime={"smoke": "~40 s", "quick": "~1-2 min", "full": "~8 min"},
)

FLOOR, CEILING, MARGINAL, TOP1 = "labels only", "labels for all", "RAG marginal", "top-1"
METRICS = ("accuracy", "nll", "ece", "entropy")
READER_SEED, KB_SEED = 0, 0
READER_LR = 3e-3


@dataclasses.dataclass(frozen=True)
class Size:
    """One size of the figure (checked by :func:`check_size` before any work).

    Attributes:
      seeds: student seeds (and retrieval draws) per arm.
      num_entities, num_relations, num_values, num_templates: the knowledge base.
      train_templates: phrasings of each fact seen in training; the rest are the test queries.
      labelled_fraction: share of facts whose queries carry their answer, in ``(0, 1)``.
      k: documents per query.
      accuracies: retriever accuracies swept; ``main_accuracy`` (one of them) is the verdicts'.
      score_noise: std of the retriever's score noise.
      test_draws: independent retrievals of every test query for the teachers' own metrics.
      imitation: :math:`\\lambda` of the distilled students and the ceiling.
      reader_rows, reader_steps, reader_width: the teacher's training set, steps and width.
      student_steps: steps of every student.
    """

    seeds: int
    num_entities: int
    num_relations: int
    num_values: int
    num_templates: int
    train_templates: int
    labelled_fraction: float
    k: int
    accuracies: tuple[float, ...]
    main_accuracy: float
    score_noise: float
    test_draws: int
    imitation: float
    reader_rows: int
    reader_steps: int
    reader_width: int
    student_steps: int

    @property
    def knowledge(self) -> KnowledgeConfig:
        return KnowledgeConfig(self.num_entities, self.num_relations, self.num_values,
                               self.num_templates)


SIZES = {
    "smoke": Size(seeds=2, num_entities=16, num_relations=2, num_values=8, num_templates=3,
                  train_templates=2, labelled_fraction=0.5, k=3, accuracies=(0.5, 1.0),
                  main_accuracy=0.5, score_noise=0.5, test_draws=2, imitation=0.5, reader_rows=2000,
                  reader_steps=200, reader_width=32, student_steps=300),
    "quick": Size(seeds=3, num_entities=64, num_relations=4, num_values=32, num_templates=6,
                  train_templates=4, labelled_fraction=0.5, k=4, accuracies=(0.5, 0.8, 1.0),
                  main_accuracy=0.8, score_noise=0.5, test_draws=8, imitation=0.5, reader_rows=20000,
                  reader_steps=1000, reader_width=64, student_steps=2000),
    "full": Size(seeds=5, num_entities=128, num_relations=4, num_values=64, num_templates=8,
                 train_templates=5, labelled_fraction=0.5, k=5,
                 accuracies=(0.3, 0.5, 0.7, 0.8, 0.9, 1.0), main_accuracy=0.8, score_noise=0.5,
                 test_draws=8, imitation=0.5, reader_rows=50000, reader_steps=3000, reader_width=64,
                 student_steps=4000),
}


def check_size(size: Size) -> None:
    """Every field of ``size`` in its allowed range, with one line per violation's field."""
    for name in ("seeds", "train_templates", "k", "test_draws", "reader_rows", "reader_steps",
                 "reader_width", "student_steps"):
        check_positive_int(getattr(size, name), name=name)
    kcfg = size.knowledge  # checks num_entities, num_relations, num_values, num_templates
    if size.train_templates >= size.num_templates:
        raise ValueError(f"train_templates: must be smaller than num_templates = "
                         f"{size.num_templates} (the rest are the held-out phrasings), got "
                         f"{size.train_templates}")
    if size.k >= kcfg.num_entities:
        raise ValueError(f"k: must be smaller than num_entities = {kcfg.num_entities}, got "
                         f"{size.k}")
    check_unit_interval(size.labelled_fraction, name="labelled_fraction", open_ends=True)
    facts = kcfg.num_entities * kcfg.num_relations
    if not 1 <= round(size.labelled_fraction * facts) <= facts - 1:
        raise ValueError(f"labelled_fraction: must leave at least one labelled and one "
                         f"teacher-only fact of the {facts}, got {size.labelled_fraction}")
    check_unit_interval(size.imitation, name="imitation")
    if not size.accuracies:
        raise ValueError("accuracies: must name at least one retriever accuracy, got ()")
    for a in size.accuracies:
        check_unit_interval(a, name="accuracies")
    if size.main_accuracy not in size.accuracies:
        raise ValueError(f"main_accuracy: must be one of accuracies {size.accuracies}, got "
                         f"{size.main_accuracy!r}")
    if size.score_noise != 0:
        check_positive_float(size.score_noise, name="score_noise")
    if size.reader_width % 8:
        raise ValueError(f"reader_width: must be divisible by 8 (4 heads, RoPE), got "
                         f"{size.reader_width}")


# --------------------------------------------------------------------------- the task


def split_facts(size: Size, *, seed: int = KB_SEED) -> dict:
    """Which facts are labelled and which phrasings of each fact are trained on.

    Returns ``labelled [E, R]`` (bool) and ``train_t [E, R, train_templates]``,
    ``test_t [E, R, T - train_templates]`` (template ids per fact, a seeded permutation).
    """
    rng = np.random.default_rng([seed, 31])
    e, r, t = size.num_entities, size.num_relations, size.num_templates
    n_lab = round(size.labelled_fraction * e * r)
    labelled = np.zeros(e * r, bool)
    labelled[rng.permutation(e * r)[:n_lab]] = True
    perm = np.argsort(rng.random((e, r, t)), axis=-1)
    return {"labelled": labelled.reshape(e, r), "train_t": perm[..., :size.train_templates],
            "test_t": perm[..., size.train_templates:]}


def query_sets(size: Size, kb, split: dict) -> dict:
    """Training queries (every fact x its training phrasings) and test queries (teacher-only
    facts x held-out phrasings), as ``(t, e, r, answer, labelled)`` arrays."""
    e_idx, r_idx = np.meshgrid(np.arange(size.num_entities), np.arange(size.num_relations),
                               indexing="ij")

    def expand(templates_ERj, keep_ER):
        j = templates_ERj.shape[-1]
        mask = np.repeat(keep_ER[..., None], j, -1)
        t = templates_ERj[mask]
        e = np.repeat(e_idx[..., None], j, -1)[mask]
        r = np.repeat(r_idx[..., None], j, -1)[mask]
        return {"t": t, "e": e, "r": r, "y": kb.values[e, r], "labelled": split["labelled"][e, r]}

    return {"train": expand(split["train_t"], np.ones_like(split["labelled"])),
            "test": expand(split["test_t"], ~split["labelled"])}


def rag_predictives(doc_logp_NkV, scores_Nk) -> dict[str, np.ndarray]:
    """The teacher's two predictives ``[N, V]`` from its per-document log-probabilities: the
    RAG marginal (softmax(scores)-weighted mixture) and the top-1 document's."""
    return {MARGINAL: np.asarray(log_mean_probs(doc_logp_NkV, member_scores=scores_Nk)),
            TOP1: np.asarray(doc_logp_NkV[:, 0])}


# --------------------------------------------------------------------------- the teacher


def train_reader(size: Size, *, progress) -> tuple:
    """The teacher: a 2-layer transformer fitted with the LM objective on reader rows about
    fresh facts; returns ``(graphdef, params)`` of its one member."""
    kcfg = size.knowledge
    rows = reader_training_rows(kcfg, size.reader_rows, seed=READER_SEED)
    model = TransformerConfig(vocab_size=kcfg.vocab_size, num_layers=2, width=size.reader_width,
                              num_heads=4, max_len=rows.shape[1])
    config = TrainConfig(steps=size.reader_steps, batch_size=100, learning_rate=READER_LR,
                         eval_every=size.reader_steps)
    res = fit(model, {"x": rows}, prior=HardLabels(), config=config,
              key=jax.random.key(READER_SEED), objective=LMObjective(label_weight=1.0),
              progress=progress, desc="RAG teacher")
    return res.graphdef, jax.tree.map(lambda a: a[0], res.params)


def reader_log_probs(graphdef, params, kcfg: KnowledgeConfig, docs_ND, queries_N3) -> np.ndarray:
    """The teacher's answer distribution ``[N, V]`` (its next-token log-probabilities after
    ``[doc, query]``, renormalised over the value tokens)."""
    seqs = reader_sequences(docs_ND, queries_N3)
    logits = lm_log_probs(graphdef, params, seqs, batch_size=512)[:, -1, :kcfg.num_values]
    return np.asarray(jax.nn.log_softmax(logits, axis=-1))


def teacher_part(size: Size, kb, queries: dict, *, progress) -> dict:
    """The teacher unit: per retriever accuracy and seed, the per-document log-probabilities
    ``[N, k, V]`` and scores ``[N, k]`` on the training queries and on ``test_draws`` copies of
    the test queries (each copy its own retrieval), and the reader's accuracy when given the
    right page."""
    kcfg = size.knowledge
    graphdef, params = train_reader(size, progress=progress)
    out = {}
    for split_name, q in queries.items():
        if split_name == "test":
            q = {name: np.tile(v, size.test_draws) for name, v in q.items()}
        tokens = query_tokens(kcfg, q["t"], q["e"], q["r"])
        right = reader_log_probs(graphdef, params, kcfg, kb.documents[q["e"]], tokens)
        out[f"{split_name}_right_page_accuracy"] = float(np.mean(right.argmax(-1) == q["y"]))
        for ai, a in enumerate(size.accuracies):
            for s in range(size.seeds):
                rng = np.random.default_rng([s, ai, split_name == "test"])
                pages, scores = retrieve(q["e"], num_entities=kcfg.num_entities, k=size.k,
                                         accuracy=a, score_noise=size.score_noise, rng=rng)
                n = len(tokens)
                docs = kb.documents[pages.reshape(-1)]
                lp = reader_log_probs(graphdef, params, kcfg, docs, np.repeat(tokens, size.k, 0))
                out[f"{split_name}_logp_{ai}_{s}"] = lp.reshape(n, size.k, -1)
                out[f"{split_name}_scores_{ai}_{s}"] = scores
                out[f"{split_name}_hit_{ai}_{s}"] = pages[:, 0] == q["e"]
    return out


# --------------------------------------------------------------------------- the students


def student_arms(size: Size) -> list[tuple[str, float | None]]:
    """``(arm, retriever accuracy)`` of every student arm (``None``: no retriever)."""
    return [(FLOOR, None), (CEILING, None)] + [(arm, a) for a in size.accuracies
                                               for arm in (MARGINAL, TOP1)]


def student_part(size: Size, queries: dict, teacher: dict, *, progress) -> list[dict]:
    """Every arm x seed in one vmapped :func:`fit`; one metrics row per member, on the test
    queries (teacher-only facts, held-out phrasings)."""
    kcfg = size.knowledge
    tr, te = queries["train"], queries["test"]
    x = query_features(kcfg, tr["t"], tr["e"], tr["r"])
    x_test = query_features(kcfg, te["t"], te["e"], te["r"])
    y = np.where(tr["labelled"], tr["y"], 0).astype(np.int32)  # teacher-only answers unseen
    ds = Dataset("knowledge", x, y, x_test, te["y"].astype(np.int32), kcfg.num_values)
    n, v = len(x), kcfg.num_values
    onehot = np.log(np.clip(np.eye(v)[tr["y"]], 1e-6, None))
    priors, members = [], []
    for arm, a in student_arms(size):
        for s in range(size.seeds):
            if arm == FLOOR:
                prior = table_prior(None, n=n, k=v, alpha=0.0, temperature=1.0)
            elif arm == CEILING:
                prior = table_prior(onehot, n=n, k=v, alpha=size.imitation, temperature=1.0)
            else:
                ai = size.accuracies.index(a)
                tables = rag_predictives(teacher[f"train_logp_{ai}_{s}"],
                                         teacher[f"train_scores_{ai}_{s}"])
                prior = table_prior(tables[arm], n=n, k=v, alpha=size.imitation,
                                    temperature=1.0)
            priors.append(prior)
            members.append((arm, a, s))
    data = {"x": x, "y": y, "label_mask": tr["labelled"].astype(np.float32)}
    res = train_members("mlp", ds, data, priors, steps=size.student_steps, key=41,
                        progress=progress, desc=f"students x{len(priors)}")
    logp = member_logp(res, x_test)
    rows = []
    for m, (arm, a, s) in enumerate(members):
        row = metric_rows(logp[m:m + 1], ds.y_test, arms=[arm], seeds=1)[0]
        rows.append(row | {"model": "student", "seed": s, "retriever_accuracy": a})
    return rows


def teacher_rows(size: Size, queries: dict, teacher: dict) -> list[dict]:
    """The teachers' own metrics on the test queries, per retriever accuracy and seed."""
    y = np.tile(queries["test"]["y"], size.test_draws)
    rows = []
    for ai, a in enumerate(size.accuracies):
        for s in range(size.seeds):
            preds = rag_predictives(teacher[f"test_logp_{ai}_{s}"], teacher[f"test_scores_{ai}_{s}"])
            for arm, lp in preds.items():
                rows.append({"model": "teacher", "arm": arm, "retriever_accuracy": a, "seed": s,
                             "top1_hit_rate": float(np.mean(teacher[f"test_hit_{ai}_{s}"]))}
                            | classification_metrics(np.exp(lp), y))
    return rows


# --------------------------------------------------------------------------- the figure


def run(size: Size, *, seeds: int, log=None, progress=None, units: Units | None = None) -> Report:
    log = log_fn(log)
    units = units or Units()
    size = dataclasses.replace(size, seeds=seeds)
    check_size(size)
    kb = make_knowledge_base(size.knowledge, seed=KB_SEED)
    queries = query_sets(size, kb, split_facts(size))
    teacher = units("teacher", lambda: teacher_part(size, kb, queries, progress=progress))
    log(f"[rag_privileged] teacher with the right page: "
        f"{teacher['test_right_page_accuracy']:.3f} accuracy on the test queries")
    students = units("students", lambda: {"rows": student_part(size, queries, teacher,
                                                               progress=progress)})["rows"]
    rows = teacher_rows(size, queries, teacher) + list(students)
    return report_from_rows(rows, size, right_page_accuracy=teacher["test_right_page_accuracy"])


def by_2std(summary: dict, better, worse, metric: str, *, higher: bool) -> dict:
    r"""Whether group ``better`` beats group ``worse`` on ``metric`` by more than two standard
    deviations, :math:`|\bar d| > 2\sqrt{s_1^2 + s_2^2}` in the right direction
    (:func:`bayeskd.experiments.lm_distill.compare_to_hard`)."""
    base, cand = (better, worse) if higher else (worse, better)
    return compare_to_hard({"hard": summary[base], "x": summary[cand]}, metric)["x"]


def report_from_rows(rows: list[dict], size: Size, *, right_page_accuracy: float) -> Report:
    """The figure's report from its metric rows: summaries, verdicts (each computed from the
    numbers it states), notes and the sweep figure."""
    a = size.main_accuracy
    stu = summarize([r for r in rows if r["model"] == "student"],
                    group=("arm", "retriever_accuracy"), metrics=list(METRICS))
    tea = summarize([r for r in rows if r["model"] == "teacher"],
                    group=("arm", "retriever_accuracy"), metrics=[*METRICS, "top1_hit_rate"])
    floor, ceil, marg, top1 = (FLOOR, None), (CEILING, None), (MARGINAL, a), (TOP1, a)
    v_acc = {arm: by_2std(stu, arm, floor, "accuracy", higher=True) for arm in (marg, top1)}
    v_nll = {arm: by_2std(stu, arm, floor, "nll", higher=False) for arm in (marg, top1)}
    v_tea = by_2std(tea, marg, top1, "ece", higher=False)
    v_stu = by_2std(stu, marg, top1, "ece", higher=False)
    v_stu_rev = by_2std(stu, top1, marg, "ece", higher=False)
    f = format_mean_std

    def diffs(v):
        return "; ".join(f"{arm[0]}: difference {d['improvement']:.3f}, 2 std {d['two_std']:.3f}"
                         for arm, d in v.items())

    comparisons = [
        Comparison(f"held-out accuracy on teacher-only facts: students distilled from the RAG "
                   f"teacher (marginal / top-1) vs labels alone (a = {a:g}, > 2 std)",
                   "distillation from the privileged teacher beats the student alone "
                   "(Lopez-Paz et al.)",
                   f"{f(stu[marg]['accuracy'])} / {f(stu[top1]['accuracy'])} vs "
                   f"{f(stu[floor]['accuracy'])} (ceiling {f(stu[ceil]['accuracy'])})",
                   agrees=all(d["better_by_2std"] for d in v_acc.values()), note=diffs(v_acc)),
        Comparison(f"held-out NLL on teacher-only facts: distilled (marginal / top-1) vs labels "
                   f"alone (a = {a:g}, > 2 std)", "lower with the teacher (Lopez-Paz et al.)",
                   f"{f(stu[marg]['nll'])} / {f(stu[top1]['nll'])} vs {f(stu[floor]['nll'])}",
                   agrees=all(d["better_by_2std"] for d in v_nll.values()), note=diffs(v_nll)),
        Comparison(f"teacher ECE: RAG marginal over k = {size.k} documents vs top-1 document "
                   f"(a = {a:g})", "the marginal is better calibrated (Lewis et al.)",
                   f"{f(tea[marg]['ece'])} vs {f(tea[top1]['ece'])}",
                   agrees=v_tea["better_by_2std"],
                   note=f"difference {v_tea['improvement']:.3f}, 2 std {v_tea['two_std']:.3f}"),
        Comparison(f"student ECE: distilled from the marginal vs from top-1 (a = {a:g})",
                   "not in the papers (does the better-calibrated teacher give the "
                   "better-calibrated student?)",
                   f"{f(stu[marg]['ece'])} vs {f(stu[top1]['ece'])}: " + (
                       "marginal better by > 2 std" if v_stu["better_by_2std"] else
                       "top-1 better by > 2 std" if v_stu_rev["better_by_2std"] else
                       "no difference beyond 2 std"), agrees=None,
                   note=f"difference {v_stu['improvement']:.3f}, 2 std {v_stu['two_std']:.3f}"),
    ]
    headline = (f"a = {a:g}: held-out accuracy on teacher-only facts {stu[floor]['accuracy']['mean']:.2f} "
                f"(labels alone) → {stu[marg]['accuracy']['mean']:.2f} (RAG-distilled; top-1 "
                f"{stu[top1]['accuracy']['mean']:.2f}, ceiling {stu[ceil]['accuracy']['mean']:.2f}); "
                f"teacher ECE {tea[marg]['ece']['mean']:.3f} (marginal) vs "
                f"{tea[top1]['ece']['mean']:.3f} (top-1)")
    chance = 1 / size.num_values
    notes = [
        f"The teacher reads the right page correctly on {right_page_accuracy:.1%} of the test "
        f"queries; its errors come from retrieval. Chance on a fact is 1/{size.num_values} = "
        f"{chance:.3f}.",
        "The retriever's scores are its noisy log-probabilities of relevance (the top page "
        "log a, the others log((1-a)/(k-1)), Gaussian noise of std "
        f"{size.score_noise:g}); calibrated scores are what the RAG marginal's calibration "
        "rests on, and a retriever with uninformative scores would not show it.",
        f"Students are trained on {size.train_templates} of {size.num_templates} phrasings of "
        "every fact and tested on the others, for the facts whose answers only the teacher "
        "gave (each training phrasing with its own retrieval draw).",
    ]
    if stu[floor]["accuracy"]["mean"] < chance and stu[floor]["nll"]["mean"] > math.log(
            size.num_values):
        notes.append(
            f"The labels-only student is below chance on the teacher-only facts (accuracy "
            f"{stu[floor]['accuracy']['mean']:.3f}, NLL {stu[floor]['nll']['mean']:.1f} nats > "
            f"log V = {math.log(size.num_values):.2f}): it answers facts it never saw with the "
            "confidence it learnt on the labelled ones.")
    if stu[top1]["accuracy"]["mean"] > stu[marg]["accuracy"]["mean"]:
        notes.append(
            f"At a = {a:g} the student distilled from top-1 answers is more accurate on new "
            f"phrasings than the one distilled from the marginal ({stu[top1]['accuracy']['mean']:.2f}"
            f" vs {stu[marg]['accuracy']['mean']:.2f}; predictive entropy "
            f"{stu[top1]['entropy']['mean']:.2f} vs {stu[marg]['entropy']['mean']:.2f} nats, the "
            f"teacher's marginal {tea[marg]['entropy']['mean']:.2f}): each training phrasing "
            "carries its own retrieval, the top-1 answers of a fact vote, and the soft targets "
            "leave the student's answer to an unseen phrasing less decided.")
    return Report(rows=rows, summary={"students": stu, "teachers": tea}, comparisons=comparisons,
                  figures={"rag_privileged": _figure(stu, tea, size)}, headline=headline,
                  extra={"right_page_accuracy": right_page_accuracy,
                         "chance": 1 / size.num_values, "k": size.k,
                         "accuracies": list(size.accuracies)},
                  notes=notes)


def _figure(stu: dict, tea: dict, size: Size):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    acc = list(size.accuracies)
    for ax, metric in zip(axes, ("accuracy", "ece"), strict=True):
        for i, arm in enumerate((MARGINAL, TOP1)):
            for summary, style, who in ((stu, "-", "student"), (tea, ":", "teacher")):
                m = [summary[(arm, a)][metric]["mean"] for a in acc]
                s = [summary[(arm, a)][metric]["std"] for a in acc]
                ax.errorbar(acc, m, yerr=s, color=f"C{i}", ls=style, marker="o", ms=3,
                            capsize=2, label=f"{who}: {arm}")
        for j, arm in enumerate((FLOOR, CEILING)):
            st = stu[(arm, None)][metric]
            ax.axhline(st["mean"], color=f"C{j + 2}", ls="--", lw=1, label=f"student: {arm}")
        ax.set_xlabel("retriever accuracy a")
        ax.set_title(f"held-out {metric.upper() if metric == 'ece' else metric}, "
                     "teacher-only facts", fontsize=9)
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    return fig

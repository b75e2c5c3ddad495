r"""``rag_privileged``: a retrieval-augmented teacher distilled into a closed-book student, read
as learning with privileged information (Lopez-Paz et al. 2016): the teacher reads retrieved
pages (:mod:`bayeskd.training.rag`), students see only the query and learn the unlabelled half
of the facts (:mod:`bayeskd.data.knowledge`) from it alone; tested on held-out phrasings.
"""

import dataclasses
import math

import numpy as np

from bayeskd.data import knowledge as K
from bayeskd.experiments import kit
from bayeskd.training import rag
from bayeskd.validate import check_choice

FLOOR, CEILING, MARGINAL, TOP1, SEED = rag.FLOOR, rag.CEILING, rag.MARGINAL, rag.TOP1, 0


@dataclasses.dataclass(frozen=True)
class Config:
    seeds: int = kit.count(3, "student seeds (and retrieval draws) per arm")
    kb: K.KnowledgeConfig = kit.section(K.KnowledgeConfig)
    split: K.SplitConfig = kit.section(K.SplitConfig)
    retriever: rag.RetrieverConfig = kit.section(rag.RetrieverConfig)
    main_accuracy: float = kit.unit(0.8, "the retriever accuracy the claims read")
    reader: rag.ReaderConfig = kit.section(rag.ReaderConfig)
    imitation: float = kit.unit(0.5, "λ, the teacher's weight for distilled students")
    student_steps: int = kit.count(2000, "steps of every student")


def check(cfg: Config) -> None:
    K.check_split(cfg.kb, cfg.split)
    rag.check_retriever(cfg.retriever, cfg.kb)
    check_choice(cfg.main_accuracy, cfg.retriever.accuracies, name="main_accuracy")


def measure(cfg: Config, ctx) -> kit.Measured:
    kb, accs = K.make_knowledge_base(cfg.kb, seed=SEED), cfg.retriever.accuracies
    qs = K.query_sets(kb, K.split_facts(cfg.kb, cfg.split, seed=SEED))
    t = ctx.unit("teacher", lambda: rag.rag_teacher(kb, qs, cfg.reader, cfg.retriever,
                                                    draws=cfg.seeds, progress=ctx.progress))
    arms, priors, tags = rag.student_arms(t["train"], qs["train"]["y"], cfg.kb.num_values,
                                          accuracies=accs, seeds=cfg.seeds, imitation=cfg.imitation)
    ds, data = K.closed_book_dataset(kb, qs)
    students = kit.arm_rows(ctx, "students", ds, data, priors, arms=arms, seeds=1, key=41,
                            steps=cfg.student_steps, extra={"model": "student"})
    rows = rag.teacher_rows(t["test"], np.tile(qs["test"]["y"], cfg.retriever.test_draws),
                            accuracies=accs)
    rows += [r | tag for r, tag in zip(students, tags, strict=True)]
    return kit.Measured(rows, extra={"right_page_accuracy": t["right_page_accuracy"]})


G, M = ("arm", "retriever_accuracy"), ("accuracy", "nll", "ece", "entropy")
TABLES = {"students": kit.Table(G, M, {"model": "student"}),
          "teachers": kit.Table(G, (*M, "top1_hit_rate"), {"model": "teacher"})}
PAIRS = (("accuracy_marginal", "accuracy_floor"), ("accuracy_top1", "accuracy_floor"),
         ("nll_marginal", "nll_floor"), ("nll_top1", "nll_floor"),
         ("teacher_ece_marginal", "teacher_ece_top1"))


def derive(s: dict, measured, cfg: Config) -> dict:
    r"""Means ± stds at ``main_accuracy``; ``sd_X``: each pair's pooled std, √(s_x² + s_y²)."""
    arm = {"floor": (FLOOR, None), "ceiling": (CEILING, None),
           "marginal": (MARGINAL, cfg.main_accuracy), "top1": (TOP1, cfg.main_accuracy)}
    v = {"right_page_accuracy": measured.extra["right_page_accuracy"]}
    for m in ("accuracy", "nll", "ece"):
        v |= kit.cells(s["students"], m, **{f"{m}_{n}": k for n, k in arm.items()})
    v |= kit.cells(s["teachers"], "ece", teacher_ece_marginal=arm["marginal"],
                   teacher_ece_top1=arm["top1"])
    return v | {f"sd_{x}": math.hypot(v[f"{x}_std"], v[f"{y}_std"]) for x, y in PAIRS}


E, LP = kit.Expectation, "Lopez-Paz et al. 2016, §4"
EXPECTATIONS = (
    E("held-out accuracy, teacher-only facts: distilled (marginal, top-1) vs labels alone",
      "distillation from the privileged teacher beats the student alone", LP,
      "accuracy_marginal", kit.All((
          ("accuracy_marginal", kit.Above("accuracy_floor", sd="sd_accuracy_marginal", k=2)),
          ("accuracy_top1", kit.Above("accuracy_floor", sd="sd_accuracy_top1", k=2)))),
      show=("accuracy_top1", "accuracy_floor", "accuracy_ceiling"), fmt=".3f"),
    E("held-out NLL, teacher-only facts: distilled (marginal, top-1) vs labels alone",
      "lower with the privileged teacher", LP, "nll_marginal", kit.All((
          ("nll_marginal", kit.Below("nll_floor", sd="sd_nll_marginal", k=2)),
          ("nll_top1", kit.Below("nll_floor", sd="sd_nll_top1", k=2)))),
      show=("nll_top1", "nll_floor"), fmt=".3f"),
    E("teacher ECE: RAG marginal over the k documents vs the top-1 document",
      "the marginal is better calibrated", "Lewis et al. 2020, §2.1", "teacher_ece_marginal",
      kit.Below("teacher_ece_top1", sd="sd_teacher_ece_marginal", k=2),
      show=("teacher_ece_top1", "right_page_accuracy"), fmt=".3f"),
)


def plot(v, cfg: Config) -> dict:
    P, S, accs = kit.panels, v.summary, cfg.retriever.accuracies
    fig, axes = P.grid(2)
    for ax, m in zip(axes, ("accuracy", "ece"), strict=True):
        P.lines(ax, accs, {f"{who[:-1]}: {arm}": [s[(arm, a)][m] for a in accs]
                           for who, s in S.items() for arm in (MARGINAL, TOP1)},
                refs={f"student: {arm}": S["students"][(arm, None)][m]["mean"]
                      for arm in (FLOOR, CEILING)},
                title=f"held-out {m}, teacher-only facts", xlabel="retriever accuracy a")
    return {"rag_privileged": P.finish(fig, "A RAG teacher, closed-book students (mean ± std)")}


SPEC = kit.Spec(
    name="rag_privileged",
    title="a retrieval-augmented teacher distilled into a student without retrieval",
    paper="D. Lopez-Paz, L. Bottou, B. Schölkopf, V. Vapnik. Unifying distillation and "
          "privileged information. ICLR 2016; P. Lewis et al. Retrieval-Augmented Generation for "
          "Knowledge-Intensive NLP Tasks. NeurIPS 2020",
    mirrors="Lopez-Paz et al. §4 (a teacher on privileged inputs teaches a student without "
            "them); Lewis et al. §2.1 (RAG marginalises the generator over the top-k documents)",
    claim="Distillation from a teacher with privileged information (retrieved documents) beats "
          "the student on labels alone; RAG's marginal is better calibrated than the top page.",
    sizes=kit.sizes(Config(), smoke=dict(
        seeds=2, kb=dict(num_entities=16, num_relations=2, num_values=8, num_templates=3),
        split=dict(train_templates=2), retriever=dict(k=3, accuracies=(0.5, 1.0), test_draws=2),
        main_accuracy=0.5, reader=dict(rows=2000, steps=200, width=32), student_steps=300),
        full=dict(seeds=5, kb=dict(num_entities=128, num_values=64, num_templates=8),
                  split=dict(train_templates=5), reader=dict(rows=50000, steps=3000),
                  retriever=dict(k=5, accuracies=(0.3, 0.5, 0.7, 0.8, 0.9, 1.0)),
                  student_steps=4000)),
    measure=measure, tables=TABLES, derive=derive, expectations=EXPECTATIONS, plot=plot,
    check=check)

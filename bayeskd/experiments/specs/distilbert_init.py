r"""``distilbert_init``: a half-depth student initialised from every other teacher layer.

DistilBERT (Sanh et al. 2019) halves BERT's depth, initialises the student from every other
teacher block and trains it with soft targets plus a cosine loss on hidden states. Here, on the
HMM language of ``lm_distillation`` (the ``bayeskd lm-distill`` job's pieces), one teacher and
students of half its depth and the same width, the same steps, as ``random / hard`` and
``random / kd`` (random initialisation; tokens alone or online KD), ``distilbert / hard`` and
``distilbert / kd`` (blocks copied, :func:`bayeskd.models.transformer.distilbert_init`) and
``distilbert / kd+cos`` (plus the cosine loss, weight ``hidden_weight``). Reported: bits per
token, :math:`\mathrm{KL}(p^*\|\cdot)`, the student's share of the teacher's parameters and its
quality relative to the teacher (teacher bits / student bits).
"""
from __future__ import annotations

import dataclasses
import math

from bayeskd.experiments import kit
from bayeskd.experiments.specs import lm_distill as job

QUICK = dataclasses.replace(job.Config(), teacher_layers=4, teacher_width=64, student_layers=2,
                            student_width=64, teacher_steps=1000, student_steps=500,
                            methods=("hard", "online-forward_kl"), hidden_weight=0.5)
#: (initialisation, cosine loss): the arms; the one with the cosine loss trains no hard students
ARMS = (("random", False), ("distilbert", False), ("distilbert", True))


def measure(cfg, ctx) -> kit.Measured:
    rows, extra = [], {}
    for init, cos in ARMS:
        arm = dataclasses.replace(cfg, init=init, hidden_weight=cfg.hidden_weight * cos,
                                  methods=tuple(m for m in cfg.methods if not cos or m != "hard"))
        res = job.measure(arm, ctx, prefix=f"{init}-cos{arm.hidden_weight:g}-", topk=False)
        kd = "kd+cos" if cos else "kd"
        rows += [r | {"arm": f"{init} / {'hard' if r['method'] == 'hard' else kd}"}
                 for r in res.rows if r["part"] == "student"]
        extra = {"student_params": res.extra["student_params"]}
    teacher = next(r for r in res.rows if r["part"] == "teacher")
    return kit.Measured(rows + [teacher | {"arm": "teacher"}], extra)


M = ("bits_per_token", "kl_true", "nll", "kl_true_best", "nll_best")
TABLES = {"arms": kit.Table("arm", M, {"part": "student"}),
          "teacher": kit.Table("arm", M[:3] + ("param_count",), {"part": "teacher"})}


def derive(s: dict, measured, cfg) -> dict:
    a, t = s["arms"], s["teacher"]["teacher"]
    out = kit.cells(a, "kl_true", random_kd="random / kd", distilbert_kd="distilbert / kd",
                    cos="distilbert / kd+cos")
    return out | {"init_sd": math.hypot(out["random_kd_std"], out["distilbert_kd_std"]),
                  "cos_sd": math.hypot(out["distilbert_kd_std"], out["cos_std"]),
                  "param_ratio": measured.extra["student_params"] / t["param_count"]["mean"],
                  "quality": t["bits_per_token"]["mean"] /
                  a["distilbert / kd"]["bits_per_token"]["mean"],
                  "quality_random": t["bits_per_token"]["mean"] /
                  a["random / kd"]["bits_per_token"]["mean"]}


E, SRC = kit.Expectation, "Sanh et al. 2019"
EXPECTATIONS = (
    E("KL(p*‖q): DistilBERT init vs random init, with KD, lower by > 2 std", "initialising from "
      "the teacher's layers helps (-3.7 GLUE points without)", f"{SRC}, Table 4",
      "distilbert_kd", kit.Below("random_kd", sd="init_sd"), show=("random_kd",), fmt=".4f"),
    E("adding the cosine loss on hidden states, KL(p*‖q) lower by > 2 std", "helps a little "
      "(-1.5 GLUE points without)", f"{SRC}, Table 4", "cos",
      kit.Below("distilbert_kd", sd="cos_sd"), show=("distilbert_kd",), fmt=".4f"),
    E("student quality (teacher bits / student bits, DistilBERT init + KD) at its share of the "
      "teacher's parameters", "97% of the quality at 60% of the size", f"{SRC}, Table 1",
      "quality", kit.Describe(), show=("param_ratio", "quality_random"), fmt="%"),
)


def plot(v, cfg) -> dict:
    P, a, t = kit.panels, v.summary["arms"], v.summary["teacher"]["teacher"]
    fig, axes = P.grid(2)
    for ax, m in zip(axes, ("bits_per_token", "kl_true"), strict=True):
        P.bars(ax, list(a), {m: [a[k][m] for k in a]}, rotate=True, refs={
            "teacher": t[m]["mean"]}, title=f"{m} per held-out token")
    return {"distilbert_init": P.finish(fig, "DistilBERT-style initialisation (mean ± std)")}


SPEC = kit.Spec(
    name="distilbert_init", title="DistilBERT-style initialisation of a half-depth student",
    paper="V. Sanh, L. Debut, J. Chaumond, T. Wolf. DistilBERT, a distilled version of BERT: "
          "smaller, faster, cheaper and lighter. 2019",
    mirrors="Table 1 (BERT's GLUE score with fewer parameters) and Table 4 (ablation of the "
            "initialisation and the cosine loss)",
    claim="Initialising the student from every other teacher layer helps, and so does the "
          "cosine loss; the distilled student keeps most of the teacher's quality at a fraction "
          "of its size.",
    sizes={"quick": QUICK, "smoke": dataclasses.replace(
        job.SPEC.sizes["smoke"], teacher_layers=2, teacher_width=32, student_layers=1,
        student_width=32, methods=QUICK.methods, hidden_weight=QUICK.hidden_weight),
           "full": dataclasses.replace(
        job.SPEC.sizes["full"], teacher_layers=6, teacher_width=128, student_layers=3,
        student_width=128, methods=QUICK.methods, hidden_weight=QUICK.hidden_weight)},
    measure=measure, check=job.check, tables=TABLES, derive=derive, expectations=EXPECTATIONS,
    plot=plot)

r"""``distilbert_init``: a half-depth student initialised from every other teacher layer.

DistilBERT (Sanh et al. 2019) halves BERT's depth, initialises the student from every other
teacher layer and trains it with soft targets plus a cosine loss on hidden states. Here, on the
HMM language of ``lm_distillation``: a 4-layer teacher, 2-layer students of the same width,
trained the same steps as

- ``random / hard``, ``random / kd``: random initialisation, tokens alone or online KD;
- ``distilbert / hard``, ``distilbert / kd``: blocks 0 and 2 of the teacher, its embeddings,
  final norm and head copied (:func:`bayeskd.models.transformer.distilbert_init`);
- ``distilbert / kd+cos``: plus DistilBERT's cosine loss between final hidden states.

Reported: held-out bits per token, :math:`\mathrm{KL}(p^*\|\cdot)`, the student's size relative
to the teacher and its quality relative to the teacher (teacher bits / student bits).

The teacher is trained once; the arm with the cosine loss shares the hard-label students of
``distilbert / hard``.

Command: ``bayeskd reproduce distilbert_init --size quick`` (3 seeds; teacher 1,000 steps,
students 500; about 4 min on 2 cores: 227 s of CPU time).
"""

from __future__ import annotations

import dataclasses

from bayeskd.experiments.figures._base import Comparison, FigureInfo, Report, Units
from bayeskd.experiments.lm_distill import (
    LMDistillConfig,
    compare_to_hard,
    distill,
    load_lm_data,
    teacher_part,
)
from bayeskd.metrics import format_mean_std, summarize

INFO = FigureInfo(
    name="distilbert_init",
    title="DistilBERT-style initialisation of a half-depth student",
    paper="V. Sanh, L. Debut, J. Chaumond, T. Wolf. DistilBERT, a distilled version of BERT: "
          "smaller, faster, cheaper and lighter. 2019",
    mirrors="Table 1 (97% of BERT's GLUE score with 40% fewer parameters) and Table 4 "
            "(ablation: random initialisation costs 3.7 GLUE points, the cosine loss 1.5)",
    claim="Initialising the student from every other teacher layer helps; the distilled student "
          "keeps 97% of the teacher's quality at 60% of its size.",
    runtime={"smoke": "~1 min", "quick": "~4 min", "full": "~1 h"},
)


@dataclasses.dataclass(frozen=True)
class Size:
    seeds: int
    lm_size: str
    teacher: str
    student: str
    teacher_steps: int | None = None  # None: the lm-distill size's
    student_steps: int | None = None


SIZES = {
    "smoke": Size(seeds=2, lm_size="smoke", teacher="2x32", student="1x32"),
    # quick: the teacher 1,000 steps and the students 500 (the lm-distill quick size trains them
    # 2,000 and 1,000) so that the figure fits about five minutes on 2 cores
    "quick": Size(seeds=3, lm_size="quick", teacher="4x64", student="2x64", teacher_steps=1000,
                  student_steps=500),
    "full": Size(seeds=5, lm_size="full", teacher="6x128", student="3x128"),
}

ARMS = (("random", 0.0), ("distilbert", 0.0), ("distilbert", 0.5))


def lower_by_2std(summary: dict, arm: str, base: str) -> bool:
    r"""Whether ``arm``'s KL(p*‖q) is below ``base``'s by more than two standard deviations over
    seeds, :math:`\bar d > 2\sqrt{s_a^2 + s_b^2}` (:func:`bayeskd.experiments.lm_distill.compare_to_hard`)."""
    return compare_to_hard({"base": summary[base], "arm": summary[arm]}, "kl_true",
                           base="base")["arm"]["better_by_2std"]


def run(size: Size, *, seeds: int, log=None, progress=None, units: Units | None = None) -> Report:
    units = units or Units()
    log = log or (lambda msg: None)
    base = LMDistillConfig(size=size.lm_size, teacher=size.teacher, student=size.student,
                           modes=("online",), divergences=("forward_kl",), seeds=seeds,
                           teacher_steps=size.teacher_steps, student_steps=size.student_steps)
    data = load_lm_data(base)
    trained = teacher_part(base, data, units, progress=progress, log=log)
    rows, teacher = [], None
    for init, cos in ARMS:
        cfg = dataclasses.replace(base, init=init, hidden_weight=cos)
        methods = [m for m in cfg.methods() if cos == 0 or m[0] != "hard"]
        res = distill(cfg, data, units, prefix=f"{init}-cos{cos:g}-", progress=progress, log=log,
                      methods=methods, teacher=trained, topk=False)
        teacher, t_params, s_params = res["teacher"], res["teacher"]["param_count"], \
            res["student"]["param_count"]
        for r in res["rows"]:
            arm = f"{init} / " + ("hard" if r["mode"] == "hard" else
                                  "kd+cos" if cos > 0 else "kd")
            rows.append(r | {"arm": arm})
    s = summarize(rows, group="arm", metrics=["bits_per_token", "kl_true", "nll", "kl_true_best",
                                              "nll_best"])
    quality = {a: teacher["bits_per_token"] / v["bits_per_token"]["mean"] for a, v in s.items()}
    ratio = s_params / t_params
    comparisons = [
        Comparison("KL(p*‖q): DistilBERT init vs random init, with KD (lower by > 2 std)",
                   "initialising from the teacher's layers helps (Table 4: -3.7 GLUE without)",
                   f"{format_mean_std(s['distilbert / kd']['kl_true'])} vs {format_mean_std(s['random / kd']['kl_true'])}",
                   agrees=lower_by_2std(s, "distilbert / kd", "random / kd")),
        Comparison("adding the cosine loss on hidden states (KL(p*‖q) lower by > 2 std)", "helps a little (Table 4: -1.5 "
                   "GLUE without)",
                   f"{format_mean_std(s['distilbert / kd+cos']['kl_true'])} vs "
                   f"{format_mean_std(s['distilbert / kd']['kl_true'])}",
                   agrees=lower_by_2std(s, "distilbert / kd+cos", "distilbert / kd")),
        Comparison("student size and quality (teacher bits / student bits)",
                   "60% of the size, 97% of the quality",
                   f"{ratio:.0%} of the parameters, {quality['distilbert / kd']:.1%} of the "
                   "quality", agrees=None),
    ]
    headline = (f"{ratio:.0%} of the teacher's parameters; quality {quality['distilbert / kd']:.1%}"
                f" (DistilBERT init + KD) vs {quality['random / kd']:.1%} (random init + KD)")
    return Report(rows=rows, summary=s, comparisons=comparisons,
                  figures={"distilbert_init": _figure(s, teacher)}, headline=headline,
                  extra={"teacher": teacher, "param_ratio": ratio, "quality": quality})


def _figure(s, teacher):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8.5, 3.2))
    arms = list(s)
    for ax, m, title in zip(axes, ("bits_per_token", "kl_true"),
                            ("held-out bits per token", "KL(p* ‖ student) per token"),
                            strict=True):
        ax.barh(range(len(arms)), [s[a][m]["mean"] for a in arms],
                xerr=[s[a][m]["std"] for a in arms], color="C0")
        ax.set_yticks(range(len(arms)), arms, fontsize=8)
        ax.invert_yaxis()
        ax.axvline(teacher[m], color="k", ls="--", lw=1, label="teacher")
        ax.set_title(title, fontsize=9)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig

r"""``teacher_quality``: Yuan et al. (2020), "Revisiting knowledge distillation via label
smoothing regularization", on MNIST-1D, each arm against the same student on labels alone, all
with one KD objective (:math:`\alpha = 0.9`, T = 4):

- a barely trained teacher (the CNN after ``poor_steps`` steps) distilled into the 100-100 MLP
  (the paper's poorly-trained teacher, Table 2);
- reversed KD: the MLP as the teacher of the CNN (Re-KD, Table 1);
- teacher-free KD (Tf-KD\ :sub:`reg`): :func:`bayeskd.priors.virtual_teacher`, probability
  ``a`` on the label and the rest uniform, distilled into the MLP (§4, Table 5);
- for reference, the MLP distilled from the fully trained CNN.

The arms of each student architecture train in one vmapped run.
"""

import dataclasses

from bayeskd.experiments import kit
from bayeskd.priors import TeacherPrior, virtual_teacher

ALPHA, TEMPERATURE = 0.9, 4.0
MLP_ARMS = ("labels", "KD, trained CNN", "KD, barely trained CNN", "teacher-free KD")
CNN_ARMS = ("labels", "reversed KD, MLP teacher")
TEACHERS = ("cnn", "cnn, barely trained", "mlp")


@dataclasses.dataclass(frozen=True)
class Config:
    seeds: int = kit.count(3, "seeds per arm")
    teacher_steps: int = kit.count(6000, "steps of the CNN and MLP teachers")
    poor_steps: int = kit.count(40, "steps of the barely trained CNN teacher")
    student_steps: int = kit.count(6000, "steps of every student")
    tf_correct: float = kit.unit(0.9, "teacher-free KD: the virtual teacher's probability a on "
                                 "the label")


def measure(cfg: Config, ctx) -> kit.Measured:
    ds = kit.load_job_dataset("mnist1d")
    kw = dict(progress=ctx.progress, log=ctx.log)
    good = kit.train_teacher(ds, steps=cfg.teacher_steps, **kw)
    poor = kit.train_teacher(ds, steps=cfg.poor_steps, seed=kit.TEACHER_SEED + 2, **kw)
    mlp = kit.train_teacher(ds, model="mlp", steps=cfg.teacher_steps,
                            seed=kit.TEACHER_SEED + 3, **kw)
    rows = [{"part": "teacher", "arm": name, "seed": 0} | t.metrics(ds.y_test)
            for name, t in zip(TEACHERS, (good, poor, mlp), strict=True)]
    tables = (good.logp_train[0], good.logp_train[0], poor.logp_train[0],
              virtual_teacher(ds.y_train, num_classes=ds.num_classes, correct=cfg.tf_correct))
    train = {"x": ds.x_train, "y": ds.y_train}
    for student, arms, tabs, key in (("mlp", MLP_ARMS, tables, 5000),
                                     ("cnn", CNN_ARMS, tables[:1] + (mlp.logp_train[0],), 5001)):
        priors = [TeacherPrior(alpha=0.0 if arm == "labels" else ALPHA, temperature=TEMPERATURE,
                               table=tab) for arm, tab in zip(arms, tabs, strict=True)]
        rows += kit.arm_rows(ctx, f"{student}-students", ds, train, priors, arms=arms,
                             seeds=cfg.seeds, steps=cfg.student_steps, key=key, model=student,
                             extra={"part": "student", "student": student})
    return kit.Measured(rows)


TABLES = {"students": kit.Table(("student", "arm"), ("accuracy", "nll", "ece"),
                                {"part": "student"}),
          "teachers": kit.Table("arm", ("accuracy", "nll", "ece"), {"part": "teacher"})}
VALUES = {"poor": ("mlp", "KD, barely trained CNN"),
          "reversed": ("cnn", "reversed KD, MLP teacher"),
          "teacher_free": ("mlp", "teacher-free KD"), "kd": ("mlp", "KD, trained CNN"),
          "labels_mlp": ("mlp", "labels"), "labels_cnn": ("cnn", "labels")}


def derive(s: dict, measured, cfg: Config) -> dict:
    t = {f"teacher_{n.replace(', barely trained', '_poor')}": s["teachers"][n]["accuracy"]["mean"]
         for n in TEACHERS}
    return kit.cells(s["students"], "accuracy", **VALUES) | t


E, SRC = kit.Expectation, "Yuan et al. 2020"
EXPECTATIONS = (
    E("barely trained CNN teacher vs labels (MLP student)", "improves the student (CIFAR-100 "
      "ResNet18 → MobileNetV2 etc.)", f"{SRC}, Table 2", "poor", kit.Above("labels_mlp"),
      show=("labels_mlp", "teacher_cnn_poor"), fmt="%"),
    E("reversed KD, MLP teacher vs labels (CNN student)", "improves the stronger student",
      f"{SRC}, Table 1", "reversed", kit.Above("labels_cnn"), show=("labels_cnn", "teacher_mlp"),
      fmt="%"),
    E("teacher-free KD vs labels (MLP student)", "improves the student like KD does",
      f"{SRC}, Table 5", "teacher_free", kit.Above("labels_mlp"), show=("labels_mlp",), fmt="%"),
    E("KD from the trained CNN vs labels (MLP student)", "improves the student (reference)",
      f"{SRC}, Table 2", "kd", kit.Above("labels_mlp"), show=("labels_mlp", "teacher_cnn"),
      fmt="%"),
)


def plot(v, cfg: Config) -> dict:
    P, s = kit.panels, v.summary["students"]
    fig, axes = P.grid(2, width=5.5)
    for ax, student, arms in ((axes[0], "mlp", MLP_ARMS), (axes[1], "cnn", CNN_ARMS)):
        P.bars(ax, list(arms), {"accuracy": [s[(student, a)]["accuracy"] for a in arms]},
               scale=100, rotate=True, refs={"labels": s[(student, "labels")]["accuracy"]["mean"]},
               title=f"{student.upper()} students", ylabel="test accuracy (%)")
    return {"teacher_quality": P.finish(fig, "Yuan et al. 2020 on MNIST-1D (mean ± std)")}


SPEC = kit.Spec(
    name="teacher_quality",
    title="poor, reversed and teacher-free KD still regularise (Yuan et al. 2020)",
    paper="L. Yuan, F. E. H. Tay, G. Li, T. Wang, J. Feng. Revisiting knowledge distillation via "
          "label smoothing regularization. CVPR 2020",
    mirrors="Table 1 (Re-KD), Table 2 (poorly-trained teacher), Table 5 (Tf-KD_reg)",
    claim="A poorly-trained teacher, a weaker reversed teacher and a teacher-free virtual teacher "
          "each improve on the hard-label student (KD as learned label smoothing).",
    sizes=kit.sizes(Config(), smoke=dict(seeds=2, teacher_steps=300, student_steps=300),
                    full=dict(seeds=5, teacher_steps=10000, student_steps=10000)),
    measure=measure, tables=TABLES, derive=derive, expectations=EXPECTATIONS, plot=plot)

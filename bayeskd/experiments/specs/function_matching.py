r"""``function_matching``: Beyer et al. (2022) on MNIST-1D. The CNN teacher is one-hot on its
training inputs, not on new views (:class:`bayeskd.data.ShiftScaleNoise`). The MLP student under
``labels``, ``augment`` (hard labels on fresh views), ``fixed table`` (the teacher on ``copies``
precomputed views), ``consistent`` (the teacher in the step on the student's own fresh view) and
``inconsistent`` (on an independent view); teacher arms: KL to the teacher alone (T = 1, α = 1).
Patience: the consistent arm at several schedule lengths, ``augment`` at the longest."""

import dataclasses

import jax
import numpy as np

from bayeskd.data import ShiftScaleNoise, augmented_copies
from bayeskd.experiments import kit
from bayeskd.priors import NoPrior, TeacherPrior
from bayeskd.training import fit

ARMS = ("labels", "augment", "fixed table", "consistent", "inconsistent")
M = ("accuracy", "nll", "ece", "agreement")


@dataclasses.dataclass(frozen=True)
class Config:
    seeds: int = kit.count(3, "seeds per arm")
    teacher_steps: int = kit.count(6000, "steps of the CNN teacher")
    steps: int = kit.count(6000, "steps of every arm")
    copies: int = kit.count(10, "augmented views of every training input in the fixed table")
    patience: tuple[int, ...] = kit.count((1500, 3000, 6000, 12000, 24000), "consistent arm")


def measure(cfg: Config, ctx) -> kit.Measured:
    ds, views = kit.load_job_dataset("mnist1d"), ShiftScaleNoise()
    t = kit.train_teacher(ds, steps=cfg.teacher_steps, progress=ctx.progress, log=ctx.log)
    teacher, train = t.network(), {"x": ds.x_train, "y": ds.y_train}

    def students(part: str, arm: str, steps: int) -> list[dict]:  # unit ARM-STEPS
        unit = f"{arm.replace(' ', '_')}-{steps}"
        return [{"part": part} | r for r in ctx.unit(unit, lambda: train_one(arm, steps, unit))]

    def train_one(arm: str, steps: int, unit: str) -> list[dict]:
        data, aug, prior = train, views, NoPrior()
        if arm == "labels":
            aug = None
        elif arm == "fixed table":
            x = augmented_copies(views, ds.x_train, copies=cfg.copies, key=jax.random.key(7))
            data = {"x": x, "y": np.tile(ds.y_train, cfg.copies)}
            prior, aug = TeacherPrior(alpha=1.0, temperature=1.0, table=np.asarray(
                jax.nn.log_softmax(teacher(x), axis=-1))), None
        elif arm != "augment":
            prior = TeacherPrior(alpha=1.0, temperature=1.0, teacher=teacher,
                                 view="same" if arm == "consistent" else "independent")
        res = fit(kit.model_fn("mlp", ds), data, prior=prior, config=kit.recipe(steps),
                  key=jax.random.key(5000), num_members=cfg.seeds, progress=ctx.progress,
                  desc=unit, augment=aug, checkpoint=ctx.trainer(unit))
        return kit.metric_rows(kit.member_logp(res, ds.x_test), ds.y_test, arms=[arm],
                               seeds=cfg.seeds, teacher_probs=t.probs_test(),
                               extra={"steps": steps})

    rows = [{"part": "teacher", "arm": "teacher", "seed": 0} | t.metrics(ds.y_test)]
    rows += [r for arm in ARMS for r in students("modes", arm, cfg.steps)]
    rows += [r for n in cfg.patience for r in students("patience", "consistent", n)]
    rows += students("control", "augment", cfg.patience[-1])
    return kit.Measured(rows, {"augmentation": dataclasses.asdict(views)})


TABLES = {"modes": kit.Table("arm", M, {"part": "modes"}),
          "patience": kit.Table("steps", M, {"part": "patience"}),
          "control": kit.Table("arm", M, {"part": "control"}),
          "teacher": kit.Table("arm", ("accuracy", "nll", "ece"), {"part": "teacher"})}


def derive(s: dict, measured, cfg: Config) -> dict:
    return kit.cells(s["modes"], "accuracy", **{a.replace(" ", "_"): a for a in ARMS}) | kit.cells(
        s["patience"], "accuracy", patience_short=cfg.patience[0], patience_long=cfg.patience[
            -1]) | kit.cells(s["control"], "accuracy", augment_long="augment")


E, SRC = kit.Expectation, "Beyer et al. 2022"
EXPECTATIONS = (
    E("consistent online teaching vs a fixed teacher table (same steps)",
      "consistent beats the fixed table", SRC, "consistent", kit.Above("fixed_table"),
      ("fixed_table",), "%"),
    E("consistent vs inconsistent views", "consistent beats independent views for teacher and "
      "student", SRC, "consistent", kit.Above("inconsistent"), ("inconsistent",), "%"),
    E("patience: longest vs shortest schedule of the consistent arm", "longer schedules keep "
      "improving (ResNet-50 student: 82.8% ImageNet top-1 from a BiT teacher)", SRC,
      "patience_long", kit.Above("patience_short"), ("patience_short",), "%"),
    E("patience: the teacher vs the augmentation alone at the longest schedule", "distillation "
      "keeps improving with longer schedules; labels alone do not", SRC, "patience_long",
      kit.Above("augment_long"), ("augment_long",), "%"),
    E("what the teacher adds to the augmentation", "–", SRC, "consistent", kit.Describe(),
      ("augment", "labels"), "%"),
)


def plot(v, cfg: Config) -> dict:
    P, m, t = kit.panels, v.summary["modes"], v.summary["teacher"]["teacher"]
    fig, axes = P.grid(3)
    for ax, key, label, scale in ((axes[0], "accuracy", "test accuracy (%)", 100),
                                  (axes[1], "nll", "test NLL", 1)):
        P.bars(ax, list(ARMS), {key: [m[a][key] for a in ARMS]}, scale=scale, rotate=True,
               refs={"teacher": t[key]["mean"]}, title=f"({'ab'[key == 'nll']}) the arms at "
               f"{cfg.steps} steps", ylabel=label)
    P.curve(axes[2], cfg.patience, [v.summary["patience"][s]["accuracy"] for s in cfg.patience],
            label="consistent", scale=100)
    control = [m["augment"]["accuracy"], v.summary["control"]["augment"]["accuracy"]]
    P.curve(axes[2], [cfg.steps, cfg.patience[-1]], control, label="augment, no teacher",
            scale=100, marker="s", ls=":")
    P.style(axes[2], title="(c) patience", xlabel="schedule length (steps)", logx=True,
            xticks=sorted(set(cfg.patience)), ylabel="test accuracy (%)")
    return {"function_matching": P.finish(fig, "Beyer et al. 2022 on MNIST-1D (mean ± std)")}


SPEC = kit.Spec(
    name="function_matching", title="function matching: a consistent, patient teacher",
    paper="L. Beyer, X. Zhai, A. Royer, L. Markeeva, R. Anil, A. Kolesnikov. Knowledge "
          "distillation: a good teacher is patient and consistent. CVPR 2022",
    mirrors="fixed teacher vs independent noise vs consistent teaching; the patience curves",
    claim="Consistent online teaching (teacher and student see the same augmented view) beats a "
          "fixed table of teacher outputs and inconsistent views; longer schedules keep improving.",
    sizes=kit.sizes(Config(), smoke=dict(seeds=2, teacher_steps=400, steps=300, copies=2,
                                         patience=(100, 300)),
                    full=dict(seeds=5, teacher_steps=10000, steps=10000,
                              patience=(2500, 5000, 10000, 20000, 40000, 80000))),
    measure=measure, tables=TABLES, derive=derive, expectations=EXPECTATIONS, plot=plot)

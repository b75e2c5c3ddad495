"""``label_smoothing_teacher``: MNIST-1D CNN teachers trained with label smoothing ε (every ε and
seed in one run), MLP students distilled from each on its soft targets alone (α = 1) at each T,
and the teachers' penultimate layer on the plane of three class templates (Fig. 1)."""

import dataclasses

import jax
import numpy as np
from flax import nnx

from bayeskd.experiments import kit
from bayeskd.metrics import classification_metrics
from bayeskd.metrics.template_plane import template_plane
from bayeskd.priors import LabelSmoothing, TeacherPrior

CLASSES = (0, 1, 2)  # the three classes of the penultimate-layer picture


@dataclasses.dataclass(frozen=True)
class Config:
    seeds: int = kit.count(3, "teacher seeds per ε")
    teacher_steps: int = kit.count(4000, "steps of each CNN teacher")
    student_steps: int = kit.count(4000, "steps of each MLP student")
    epsilons: tuple[float, ...] = kit.unit((0.0, 0.05, 0.1, 0.2), "teacher label smoothing ε")
    temperatures: tuple[float, ...] = kit.positive((1.0, 2.0, 4.0, 8.0), "distillation T")


def measure(cfg: Config, ctx) -> kit.Measured:
    ds = kit.load_job_dataset("mnist1d")
    eps_m, data = kit.repeat_each(cfg.epsilons, cfg.seeds), {"x": ds.x_train, "y": ds.y_train}
    sel = np.isin(ds.y_train, CLASSES)

    def teachers() -> dict:  # member e * seeds + s: smoothing e, seed s
        res = kit.train_arms("cnn", ds, data, [LabelSmoothing(epsilon=e) for e in cfg.epsilons],
                             seeds=cfg.seeds, steps=cfg.teacher_steps, key=2000, ctx=ctx,
                             unit="teachers", desc="teachers")
        planes = {}
        for e in (cfg.epsilons[0], cfg.epsilons[-1]):  # seed 0 of the first and the last ε
            m = eps_m.index(e)
            net = nnx.merge(res.graphdef, jax.tree.map(lambda a, m=m: a[m], res.params))
            pts, tmpl = template_plane(np.asarray(net.features(ds.x_train[sel])),
                                       np.asarray(net.head.kernel[...]), CLASSES)
            planes |= {f"points {e:g}": pts, f"templates {e:g}": tmpl}
        return {"logp_train": kit.member_logp(res, ds.x_train),
                "logp_test": kit.member_logp(res, ds.x_test), **planes}

    t = ctx.unit("teachers", teachers)
    p_test = np.exp(t["logp_test"])
    rows = [{"part": "teacher", "epsilon": e, "seed": m % cfg.seeds, "temperature": 0.0,
             "confidence": float(np.mean(p_test[m].max(-1)))}
            | classification_metrics(p_test[m], ds.y_test) for m, e in enumerate(eps_m)]
    members = [(m, T) for m in range(len(eps_m)) for T in cfg.temperatures]
    rows += kit.arm_rows(ctx, "students", ds, data, [TeacherPrior(
        alpha=1.0, temperature=T, table=t["logp_train"][m]) for m, T in members],
        arms=[f"T={T:g}" for _, T in members], seeds=1, steps=cfg.student_steps, key=2001,
        teacher_probs=[p_test[m] for m, _ in members], extra={"part": "student"})
    for r, (m, T) in zip(rows[len(eps_m):], members, strict=True):
        r |= {"epsilon": eps_m[m], "seed": m % cfg.seeds, "temperature": T}
    return kit.Measured(rows, {"labels": ds.y_train[sel], **{k: v for k, v in t.items()
                                                             if not k.startswith("logp")}})


M = ("accuracy", "nll", "ece", "brier")
TABLES = {"teachers": kit.Table("epsilon", (*M, "confidence"), {"part": "teacher"}),
          "students": kit.Table(("epsilon", "temperature"), (*M, "agreement", "kl_teacher_student"),
                                {"part": "student"})}


def derive(s: dict, measured, cfg: Config) -> dict:
    t, st, Ts = s["teachers"], s["students"], cfg.temperatures
    e0, em = cfg.epsilons[0], cfg.epsilons[-1]
    best = {e: max(Ts, key=lambda T, e=e: st[(e, T)]["accuracy"]["mean"]) for e in (e0, em)}
    return {**kit.cells(t, ece_none=(e0, "ece"), ece_smoothed=(em, "ece"), teacher_acc_none=(
                e0, "accuracy"), teacher_acc_smoothed=(em, "accuracy")),
            **kit.cells(st, "accuracy", student_none=(e0, best[e0]),
                        student_smoothed=(em, best[em])),
            "best_t_none": best[e0], "best_t_smoothed": best[em],
            "temperatures_not_worse": sum(st[(em, T)]["accuracy"]["mean"]
                                          >= st[(e0, T)]["accuracy"]["mean"] for T in Ts)}


E, SRC = kit.Expectation, "Müller et al. 2019"
EXPECTATIONS = (
    E("teacher ECE, no smoothing → most smoothing", "lower with smoothing (reliability diagrams)",
      SRC + ", §3", "ece_smoothed", kit.Below("ece_none"), show=("ece_none",), fmt="%"),
    E("teacher accuracy", "smoothing does not hurt it", SRC + ", §3", "teacher_acc_smoothed",
      kit.Above("teacher_acc_none", margin=-0.005), show=("teacher_acc_none",), fmt="%"),
    E("student accuracy, best over T", "worse from the smoothed teacher", SRC + ", §4, Fig. 6",
      "student_smoothed", kit.Below("student_none"), show=("student_none",), fmt="%"),
    E("temperatures where the smoothed teacher's student is not worse", "none (Fig. 7)",
      SRC + ", §4, Fig. 7", "temperatures_not_worse", kit.Below(0.5), fmt="g"),
)


def plot(v, cfg: Config) -> dict:
    P, t, st, Ts, (fig, axes) = (kit.panels, v.summary["teachers"], v.summary["students"],
                                 cfg.temperatures, kit.panels.grid(5))
    for ax, m in zip(axes[:2], ("accuracy", "ece"), strict=True):
        P.lines(ax, cfg.epsilons, {"teacher": [t[e][m] for e in cfg.epsilons]}, scale=100,
                title=f"teacher {m}", xlabel="label smoothing ε", ylabel=f"{m} (%)")
    P.lines(axes[2], Ts, {f"teacher ε={e:g}": [st[(e, T)]["accuracy"] for T in Ts]
                          for e in cfg.epsilons}, scale=100, logx=True, title="students",
            xlabel="T", ylabel="student accuracy (%)")
    ys = lambda a: [{"mean": y} for y in a]  # noqa: E731
    for ax, e in zip(axes[3:], (cfg.epsilons[0], cfg.epsilons[-1]), strict=True):
        pts, tmpl = v.extra[f"points {e:g}"], v.extra[f"templates {e:g}"]
        for c in CLASSES:
            sel = pts[v.extra["labels"] == c]
            P.curve(ax, sel[:, 0], ys(sel[:, 1]), label=f"class {c}", marker=".", ls="none")
        P.curve(ax, tmpl[:, 0], ys(tmpl[:, 1]), label="templates", marker="*", ls="none", color="k")
        P.style(ax, title=f"penultimate layer, teacher ε={e:g}")
    return {"label_smoothing_teacher": P.finish(fig, "Müller et al. 2019 on MNIST-1D")}


SPEC = kit.Spec(
    name="label_smoothing_teacher", title="label-smoothed teachers distill worse students",
    paper="R. Müller, S. Kornblith, G. Hinton. When does label smoothing help? NeurIPS 2019",
    mirrors="§4, Fig. 6–7 (teacher ECE, student accuracy); Fig. 1 (penultimate layer)",
    claim="Label smoothing improves the teacher's calibration, but students distilled from a "
          "smoothed teacher are worse (at every temperature).",
    sizes=kit.sizes(Config(), smoke=dict(seeds=2, teacher_steps=300, student_steps=300,
                                         epsilons=(0.0, 0.2), temperatures=(1.0, 4.0)),
                    full=dict(seeds=5, teacher_steps=6000, student_steps=6000,
                              temperatures=(1.0, 2.0, 3.0, 4.0, 8.0, 16.0))),
    measure=measure, tables=TABLES, derive=derive, expectations=EXPECTATIONS, plot=plot)

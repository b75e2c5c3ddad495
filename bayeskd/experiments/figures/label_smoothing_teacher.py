r"""``label_smoothing_teacher``: Müller, Kornblith & Hinton (2019), "When does label smoothing help?".

Teachers (the MNIST-1D CNN) are trained with label smoothing
:math:`\epsilon \in \{0, 0.05, 0.1, 0.2\}`, all smoothing levels and seeds in one vmapped run.
For each we report the teacher's accuracy and ECE, and the accuracy of an MLP student (100-100)
distilled from it on the training inputs with soft targets only (:math:`\alpha = 1`), at every
temperature of a sweep; the student's number is its best over T (mean over teacher seeds,
one student per teacher and temperature). The paper (§4, Fig. 6–7, ResNet-56 → AlexNet on
CIFAR-10): smoothing improves the teacher's calibration and accuracy, but its students are worse
at every temperature, because smoothing erases the similarity structure between classes that
distillation transfers.

Also the paper's penultimate-layer picture (§2, Fig. 1): the training examples of three classes,
their last hidden layer projected onto the plane through the three classes' templates (the
output-layer weight vectors), without and with smoothing. Smoothing pulls each class into a
tight cluster equidistant from the other templates.

Command: ``bayeskd reproduce label_smoothing_teacher --size quick`` (3 seeds; about 5 min on
2 cores).
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
from flax import nnx

from bayeskd.experiments.common import load_job_dataset, member_param_count, model_fn
from bayeskd.experiments.figures._base import (
    Comparison,
    FigureInfo,
    Report,
    Units,
    log_fn,
    member_logp,
    stack_priors,
    table_prior,
    train_config,
    train_members,
)
from bayeskd.metrics import classification_metrics, format_mean_std, pct, summarize
from bayeskd.priors import LabelSmoothing
from bayeskd.training import fit

INFO = FigureInfo(
    name="label_smoothing_teacher",
    title="label-smoothed teachers distill worse students (Müller et al. 2019)",
    paper="R. Müller, S. Kornblith, G. Hinton. When does label smoothing help? NeurIPS 2019",
    mirrors="§4 / Fig. 6–7 (teacher ECE and student accuracy vs smoothing) and Fig. 1 "
            "(penultimate-layer projections)",
    claim="Label smoothing improves the teacher's calibration, but students distilled from a "
          "smoothed teacher are worse (at every temperature).",
    runtime={"smoke": "~25 s", "quick": "~5 min", "full": "~20 min"},
)

CLASSES = (0, 1, 2)  # the three classes of the penultimate-layer picture


@dataclasses.dataclass(frozen=True)
class Size:
    seeds: int
    teacher_steps: int
    student_steps: int
    epsilons: tuple[float, ...]
    temperatures: tuple[float, ...]


SIZES = {
    "smoke": Size(seeds=2, teacher_steps=300, student_steps=300, epsilons=(0.0, 0.2),
                  temperatures=(1.0, 4.0)),
    "quick": Size(seeds=3, teacher_steps=4000, student_steps=4000,
                  epsilons=(0.0, 0.05, 0.1, 0.2), temperatures=(1.0, 2.0, 4.0, 8.0)),
    "full": Size(seeds=5, teacher_steps=6000, student_steps=6000,
                 epsilons=(0.0, 0.05, 0.1, 0.2), temperatures=(1.0, 2.0, 3.0, 4.0, 8.0, 16.0)),
}


def run(size: Size, *, seeds: int, log=None, progress=None, units: Units | None = None) -> Report:
    log = log_fn(log)
    units = units or Units()
    ds = load_job_dataset("mnist1d")
    k = ds.num_classes
    eps_m = [e for e in size.epsilons for _ in range(seeds)]

    def teachers():
        # Teachers: smoothing level x seed, one run (member e*S + s).
        prior = stack_priors([LabelSmoothing(epsilon=e) for e in eps_m])
        res_t = fit(model_fn("cnn", ds), {"x": ds.x_train, "y": ds.y_train}, prior=prior,
                    prior_axis=0, config=train_config(size.teacher_steps), key=jax.random.key(2000),
                    num_members=len(eps_m), progress=progress, desc="teachers",
                    checkpoint=units.trainer("teachers"))
        log(f"[label_smoothing_teacher] {len(eps_m)} CNN teachers: {res_t.runtime_s:.0f} s")
        return {"param_count": member_param_count(res_t.params),
                "logp_train": member_logp(res_t, ds.x_train),
                "logp_test": member_logp(res_t, ds.x_test),
                # first and last ε, seed 0
                "planes": _planes(res_t, ds, [0, (len(size.epsilons) - 1) * seeds])}

    # units: "teachers" (every smoothing level and seed) and "students" (every teacher x T)
    part = units("teachers", teachers)
    t_train, t_test, planes = part["logp_train"], part["logp_test"], part["planes"]
    rows: list[dict] = []
    for m, e in enumerate(eps_m):
        rows.append({"part": "teacher", "epsilon": e, "seed": m % seeds, "temperature": 0.0,
                     "confidence": float(np.mean(np.exp(t_test[m]).max(-1)))}
                    | classification_metrics(np.exp(t_test[m]), ds.y_test))

    # Students: one per (teacher, temperature), soft targets only, one run.
    members = [(m, T) for m in range(len(eps_m)) for T in size.temperatures]

    def students():
        priors = [table_prior(t_train[m], n=ds.num_train, k=k, alpha=1.0, temperature=T)
                  for m, T in members]
        res_s = train_members("mlp", ds, {"x": ds.x_train, "y": ds.y_train}, priors,
                              steps=size.student_steps, key=2001, progress=progress,
                              desc="students", checkpoint=units.trainer("students"))
        log(f"[label_smoothing_teacher] {len(members)} MLP students: {res_s.runtime_s:.0f} s")
        return {"logp_test": member_logp(res_s, ds.x_test)}

    s_test = units("students", students)["logp_test"]
    for i, (m, T) in enumerate(members):
        rows.append({"part": "student", "epsilon": eps_m[m], "seed": m % seeds, "temperature": T}
                    | classification_metrics(np.exp(s_test[i]), ds.y_test,
                                             teacher_probs=np.exp(t_test[m])))
    return _report(rows, size, seeds, planes, [eps_m[0], eps_m[-1]], part["param_count"])


def _planes(res, ds, members: list[int]) -> list[dict]:
    """Penultimate activations of three classes projected on the plane of their templates."""
    out = []
    sel = np.isin(ds.y_train, CLASSES)
    x, y = ds.x_train[sel], ds.y_train[sel]
    for m in members:
        model = nnx.merge(res.graphdef, jax.tree.map(lambda a, m=m: a[m], res.params))
        h_ND = np.asarray(model.features(jax.numpy.asarray(x)))
        w_DK = np.asarray(model.head.kernel[...])
        templates = w_DK[:, list(CLASSES)].T  # [3, D]
        origin = templates[0]
        basis, _ = np.linalg.qr((templates[1:] - origin).T)  # [D, 2], orthonormal
        proj = (h_ND - origin) @ basis
        tproj = (templates - origin) @ basis
        out.append({"points": proj, "labels": y, "templates": tproj})
    return out


def _report(rows, size: Size, seeds: int, planes, plane_eps, param_count: int) -> Report:
    metrics = ["accuracy", "nll", "ece", "brier"]
    teach = summarize([r for r in rows if r["part"] == "teacher"], group="epsilon",
                      metrics=metrics + ["confidence"])
    stud = summarize([r for r in rows if r["part"] == "student"], group=("epsilon", "temperature"),
                     metrics=metrics + ["agreement", "kl_teacher_student"])
    best = {}
    for e in size.epsilons:
        by_t = {T: stud[(e, T)]["accuracy"] for T in size.temperatures}
        t_best = max(by_t, key=lambda T: by_t[T]["mean"])
        best[e] = {"temperature": t_best, "accuracy": by_t[t_best]}
    e0, emax = size.epsilons[0], size.epsilons[-1]
    ece0, ecem = teach[e0]["ece"], teach[emax]["ece"]
    acc0, accm = best[e0]["accuracy"], best[emax]["accuracy"]
    every_t = all(stud[(emax, T)]["accuracy"]["mean"] < stud[(e0, T)]["accuracy"]["mean"]
                  for T in size.temperatures)
    comparisons = [
        Comparison("teacher ECE, no smoothing → most smoothing",
                   "lower with smoothing (§3: reliability diagrams and ECE of image classifiers)",
                   f"{format_mean_std(ece0)} (ε={e0:g}) → {format_mean_std(ecem)} (ε={emax:g})",
                   agrees=ecem["mean"] < ece0["mean"]),
        Comparison("teacher accuracy", "smoothing does not hurt the teacher",
                   f"{pct(teach[e0]['accuracy'])} → {pct(teach[emax]['accuracy'])}",
                   agrees=teach[emax]["accuracy"]["mean"] >= teach[e0]["accuracy"]["mean"] - 0.005),
        Comparison("student accuracy, best over T", "worse from the smoothed teacher",
                   f"{pct(acc0)} (ε={e0:g}, T={best[e0]['temperature']:g}) → {pct(accm)} "
                   f"(ε={emax:g}, T={best[emax]['temperature']:g})",
                   agrees=accm["mean"] < acc0["mean"]),
        Comparison("student worse at every temperature", "yes (Fig. 7)",
                   "yes" if every_t else "no", agrees=every_t),
    ]
    notes = [
        f"Teachers: the MNIST-1D CNN ({param_count:,} parameters), {size.teacher_steps} steps; "
        f"students: the 100-100 MLP, {size.student_steps} steps, trained on the teacher's soft "
        "targets for the 4,000 training inputs only (α = 1). The student number per ε is the "
        "best temperature of the mean accuracy over seeds.",
    ]
    if not comparisons[2].agrees:
        gap = 100 * (teach[emax]["accuracy"]["mean"] - accm["mean"])
        notes.append(
            "Our student from the smoothed teacher is not worse. On MNIST-1D the MLP student sits "
            f"{gap:.1f} points below its CNN teacher; the class-similarity information that "
            "smoothing erases matters once the student can nearly match the teacher (the paper's "
            "AlexNet student was within a few points of its ResNet-56 teacher).")
    if not comparisons[0].agrees:
        notes.append(_calibration_note(teach, size.epsilons, param_count))
    notes.append(_temperature_note(stud, size.temperatures, e0, emax))
    fig = _figure(teach, stud, size, planes, plane_eps)
    headline = (f"teacher ECE {100 * ece0['mean']:.1f}% → {100 * ecem['mean']:.1f}% "
                f"(ε {e0:g} → {emax:g}); best student {100 * acc0['mean']:.1f}% → "
                f"{100 * accm['mean']:.1f}%")
    return Report(rows=rows, summary={"teachers": teach, "students": stud, "best_over_t": best},
                  comparisons=comparisons, figures={"label_smoothing_teacher": fig},
                  headline=headline, notes=notes)


def _calibration_note(teach, epsilons, param_count: int) -> str:
    """Teacher ECE, confidence against accuracy, and NLL by smoothing level, from the numbers."""
    def per_eps(metric, fmt):
        return ", ".join(f"ε={e:g}: {fmt(teach[e][metric]['mean'])}" for e in epsilons)

    e0, emax = epsilons[0], epsilons[-1]
    conf, acc = teach[emax]["confidence"]["mean"], teach[emax]["accuracy"]["mean"]
    nll_better = [e for e in epsilons[1:] if teach[e]["nll"]["mean"] < teach[e0]["nll"]["mean"]]
    return (
        f"Teacher ECE rises with smoothing ({per_eps('ece', lambda v: f'{100 * v:.1f}%')}). The "
        f"unsmoothed {param_count:,}-parameter CNN has an ECE of "
        f"{100 * teach[e0]['ece']['mean']:.1f}%; at ε={emax:g} its mean confidence is "
        f"{100 * conf:.1f}% against {100 * acc:.1f}% accuracy, so smoothing leaves it "
        + ("under-confident" if conf < acc else "over-confident")
        + ". Müller et al.'s networks were large and over-confident without smoothing. Teacher "
        f"NLL: {per_eps('nll', lambda v: f'{v:.3f}')}; {len(nll_better)} of "
        f"{len(epsilons) - 1} smoothing levels lower it.")


def _temperature_note(stud, temperatures, e0, emax) -> str:
    """At each temperature: is the smoothed teacher's student worse by more than one seed std,
    within one std, or better?"""
    parts = []
    for T in temperatures:
        a, b = stud[(e0, T)]["accuracy"], stud[(emax, T)]["accuracy"]
        diff = b["mean"] - a["mean"]
        lower = "lower" if diff < 0 else "higher"
        if abs(diff) <= max(a["std"], b["std"]):
            verdict = f"{lower} mean, within one seed std"
        else:
            verdict = f"{lower} by more than one seed std"
        parts.append(f"T = {T:g}: {100 * diff:+.1f} points ({verdict})")
    return (f"Student accuracy from the ε={emax:g} teacher minus from the ε={e0:g} teacher, by "
            "temperature: " + "; ".join(parts) + ".")


def _figure(teach, stud, size, planes, plane_eps):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 5, figsize=(17, 3.4))
    eps = np.array(size.epsilons)
    for ax, key, label in ((axes[0], "accuracy", "teacher accuracy (%)"),
                           (axes[1], "ece", "teacher ECE (%)")):
        m = np.array([teach[e][key]["mean"] for e in size.epsilons])
        s = np.array([teach[e][key]["std"] for e in size.epsilons])
        ax.errorbar(eps, 100 * m, yerr=100 * s, marker="o", capsize=3, color="k")
        ax.set_xlabel("label smoothing ε")
        ax.set_ylabel(label)
    ax = axes[2]
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(size.epsilons)))
    for e, c in zip(size.epsilons, colors, strict=True):
        m = np.array([stud[(e, T)]["accuracy"]["mean"] for T in size.temperatures])
        s = np.array([stud[(e, T)]["accuracy"]["std"] for T in size.temperatures])
        ax.errorbar(size.temperatures, 100 * m, yerr=100 * s, marker="o", capsize=3, color=c,
                    label=f"teacher ε={e:g}")
    ax.set_xscale("log")
    ax.set_xticks(size.temperatures, [f"{T:g}" for T in size.temperatures])
    ax.minorticks_off()
    ax.set_xlabel("distillation temperature T")
    ax.set_ylabel("student accuracy (%)")
    ax.legend(fontsize=7)
    for ax, p, e in zip(axes[3:], planes, plane_eps, strict=True):
        for cls, c in zip(CLASSES, ("tab:red", "tab:green", "tab:blue"), strict=True):
            pts = p["points"][p["labels"] == cls]
            ax.scatter(pts[:, 0], pts[:, 1], s=3, alpha=0.4, color=c, label=f"class {cls}")
        ax.scatter(p["templates"][:, 0], p["templates"][:, 1], marker="*", s=120, color="k",
                   label="templates (output weights)")
        ax.set_title(f"penultimate layer, teacher ε={e:g}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(fontsize=6)
    fig.suptitle("Müller et al. 2019 on MNIST-1D: CNN teachers with label smoothing, MLP "
                 "students (mean ± std over seeds)", fontsize=11)
    fig.tight_layout()
    return fig


__all__ = ["INFO", "SIZES", "Size", "run"]

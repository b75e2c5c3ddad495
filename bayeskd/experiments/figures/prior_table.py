r"""``prior_table``: the regulariser table (every regulariser read as a prior), made quantitative.

The Bayesian reading of regularisers takes every one of them as a prior: weight decay is a
Gaussian prior, dropout a variational approximation, label smoothing a weak (uniform) prior and KD
a strong, data-driven prior centred on the teacher. Here the same student (the 100-100 MLP)
trains under each, with the same seeds and the same metrics, on MNIST-1D and on the 8x8 digits:

==========================  ====================================================================
``none``                    maximum likelihood on the labels
``weight_decay``            Gaussian prior on the weights, :math:`\lambda = 10^{-3}`
``dropout``                 Bernoulli variational posterior over hidden units, p = 0.2
``label_smoothing``         uniform Dirichlet prior, :math:`\epsilon = 0.1`
``kd``                      KD from one teacher network (:math:`\alpha = 0.9`, T = 4)
``kd_ensemble``             KD from a 5-member deep ensemble (probabilities averaged)
``kd_swag``                 KD from the SWAG posterior predictive of the teacher (30 draws),
                            when :mod:`bayeskd.posteriors` provides SWAG
``self_distillation``       KD from the same MLP trained on labels
==========================  ====================================================================

Teachers: the 1-D CNN on MNIST-1D, the 300-300 MLP on digits (the image ResNet is too slow for
a CPU figure). Metrics: accuracy, NLL, ECE, Brier, train-test gap, accuracy under Gaussian input
noise (mean over :math:`\sigma \in \{0.25, 0.5, 1\}`) and the input-gradient norm. All priors
but dropout (a model change) train in one vmapped run per dataset, as a stacked ``SumPrior``.

Command: ``bayeskd reproduce prior_table --size quick`` (3 seeds; about 3 min on 2 cores;
the full size uses 5 seeds).
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from bayeskd.experiments.common import NOISE_SIGMAS, load_job_dataset, model_fn, train_teacher
from bayeskd.experiments.figures._base import (
    TEACHER_SEED,
    Comparison,
    FigureInfo,
    Report,
    Units,
    log_fn,
    member_logp,
    member_robustness,
    table_prior,
    teacher_config,
    train_arms,
    train_config,
)
from bayeskd.losses import log_mean_probs
from bayeskd.metrics import classification_metrics, format_mean_std, pct, summarize
from bayeskd.priors import GaussianPrior, LabelSmoothing, NoPrior, SumPrior
from bayeskd.training import fit

INFO = FigureInfo(
    name="prior_table",
    title="every regulariser as a prior, one student, one table",
    paper="Regularisers read as priors; Hinton et al. 2015 "
          "(KD), Müller et al. 2019 (label smoothing), Gal & Ghahramani 2016 (dropout), Maddox "
          "et al. 2019 (SWAG), Lakshminarayanan et al. 2017 (ensembles)",
    mirrors="the supplementary table of regularisers read as priors",
    claim="Weight decay, dropout and label smoothing are weak priors; KD is a strong data-driven "
          "prior that beats them, and a better posterior (ensemble, SWAG) makes a better teacher.",
    runtime={"smoke": "~20 s", "quick": "~3 min", "full": "~15 min"},
)

PRIORS = ("none", "weight_decay", "dropout", "label_smoothing", "kd", "kd_ensemble", "kd_swag",
          "self_distillation")
METRICS = ("accuracy", "nll", "ece", "brier", "train_test_gap", "noise_accuracy", "input_grad_norm")
WEIGHT_DECAY, DROPOUT, EPSILON, ALPHA, TEMPERATURE = 1e-3, 0.2, 0.1, 0.9, 4.0
ENSEMBLE = 5
TEACHERS = {"mnist1d": "cnn", "digits": "mlp-large"}


@dataclasses.dataclass(frozen=True)
class Size:
    seeds: int
    steps: dict  # dataset -> (teacher steps, student steps)
    swag_steps: int
    swag_samples: int
    transfer_total: int  # MNIST-1D generated inputs loaded with the data (shared teacher cache)
    datasets: tuple[str, ...] = ("mnist1d", "digits")
    swag: bool = True  # off at smoke size: SWAG's sampler takes longer to compile than the rest


SIZES = {
    "smoke": Size(seeds=2, steps={"mnist1d": (300, 300), "digits": (300, 300)}, swag_steps=100,
                  swag_samples=8, transfer_total=4000, datasets=("mnist1d",),
                  swag=False),
    "quick": Size(seeds=3, steps={"mnist1d": (6000, 6000), "digits": (2000, 3000)},
                  swag_steps=1000, swag_samples=30, transfer_total=40000),
    "full": Size(seeds=5, steps={"mnist1d": (10000, 10000), "digits": (4000, 6000)},
                 swag_steps=2000, swag_samples=50, transfer_total=40000),
}


def swag_available() -> bool:
    """Whether :mod:`bayeskd.posteriors` provides a SWAG posterior to use as a teacher."""
    try:
        from bayeskd.posteriors import fit_swag, teacher_log_probs  # noqa: F401
    except ImportError:
        return False
    return True


def run(size: Size, *, seeds: int, log=None, progress=None, units: Units | None = None) -> Report:
    log = log_fn(log)
    units = units or Units()
    rows: list[dict] = []
    info = {}
    # units per dataset: "<dataset>-teachers" (every teacher's table on the training inputs),
    # "<dataset>-priors" (every prior x seed in one run) and "<dataset>-dropout"
    for d, dataset in enumerate(size.datasets):
        t_steps, s_steps = size.steps[dataset]
        ds = load_job_dataset(dataset, transfer_size=size.transfer_total if dataset == "mnist1d"
                              else 0)
        n, k = ds.num_train, ds.num_classes
        tmodel = TEACHERS[dataset]

        def teachers(ds=ds, tmodel=tmodel, t_steps=t_steps, s_steps=s_steps):
            def teacher(model, steps, seed, members=1):
                return train_teacher(ds, model=model, config=teacher_config(steps), seed=seed,
                                     num_members=members, progress=progress)

            tables, tinfo = {}, {}
            if size.swag and swag_available():  # the single teacher is SWAG's pretrained network
                single, swag = _teacher_and_swag(ds, tmodel, t_steps, size, progress)
                tables["kd_swag"] = swag["logp_train"]
                tinfo["kd_swag"] = classification_metrics(np.exp(swag["logp_test"]), ds.y_test)
                # how far SWAG's predictive moved from the network it started at
                tinfo["kd_swag"]["kl_to_start"] = float(np.mean(np.sum(
                    np.exp(swag["logp_test"]) * (swag["logp_test"] - single["logp_test"][0]), -1)))
            else:
                single = teacher(tmodel, t_steps, TEACHER_SEED)
            tables["kd"] = single["logp_train"][0]
            tinfo["kd"] = classification_metrics(np.exp(single["logp_test"][0]), ds.y_test)
            ens = teacher(tmodel, t_steps, TEACHER_SEED + 1, members=ENSEMBLE)
            tables["kd_ensemble"] = np.asarray(log_mean_probs(np.moveaxis(ens["logp_train"], 0, 1)))
            tinfo["kd_ensemble"] = classification_metrics(
                np.exp(np.asarray(log_mean_probs(np.moveaxis(ens["logp_test"], 0, 1)))), ds.y_test)
            own = teacher("mlp", s_steps, TEACHER_SEED + 3)
            tables["self_distillation"] = own["logp_train"][0]
            tinfo["self_distillation"] = classification_metrics(np.exp(own["logp_test"][0]),
                                                                ds.y_test)
            return {"tables": tables, "tinfo": tinfo}

        part = units(f"{dataset}-teachers", teachers)
        tables, tinfo = part["tables"], part["tinfo"]
        for name, row in tinfo.items():
            log(f"[prior_table] {dataset} teacher for {name}: accuracy {row['accuracy']:.4f}")
        # how much the teachers say beyond the labels on the inputs the student sees
        train_view = {name: {"confidence": float(np.mean(np.exp(tab).max(-1))),
                             "label_agreement": float(np.mean(tab.argmax(-1) == ds.y_train))}
                      for name, tab in tables.items()}
        info[dataset] = {"teacher_model": tmodel, "teachers": tinfo, "num_train": n,
                         "teacher_steps": t_steps, "student_steps": s_steps,
                         "teachers_on_train_inputs": train_view}

        arms = [p for p in PRIORS if p != "dropout" and (p in tables or not p.startswith("kd"))]

        def priors_part(d=d, dataset=dataset, ds=ds, n=n, k=k, s_steps=s_steps, tables=tables,
                        arms=arms):
            priors = [_sum_prior(p, tables.get(p), n, k) for p in arms]
            data = {"x": ds.x_train, "y": ds.y_train}
            res = train_arms("mlp", ds, data, priors, seeds=seeds, steps=s_steps,
                             key=6000 + 10 * d, progress=progress, desc=f"{dataset} priors",
                             checkpoint=units.trainer(f"{dataset}-priors"))
            log(f"[prior_table] {dataset}: {len(arms)} priors x {seeds} seeds in "
                f"{res.runtime_s:.0f} s")
            return {"rows": _evaluate(res, ds, arms, seeds, dataset)}

        rows += units(f"{dataset}-priors", priors_part)["rows"]

        def dropout_part(d=d, dataset=dataset, ds=ds, s_steps=s_steps):
            res = fit(model_fn("mlp", ds, dropout=DROPOUT), {"x": ds.x_train, "y": ds.y_train},
                      prior=NoPrior(), config=train_config(s_steps),
                      key=jax.random.key(6001 + 10 * d), num_members=seeds, progress=progress,
                      desc=f"{dataset} dropout", checkpoint=units.trainer(f"{dataset}-dropout"))
            return {"rows": _evaluate(res, ds, ["dropout"], seeds, dataset)}

        rows += units(f"{dataset}-dropout", dropout_part)["rows"]
    return _report(rows, size, seeds, info)


def _sum_prior(name: str, table, n: int, k: int) -> SumPrior:
    """Every prior as the same ``SumPrior(Gaussian, LabelSmoothing, teacher)`` structure, so all
    of them stack into one vmapped run (unused parts have weight 0)."""
    wd = WEIGHT_DECAY if name == "weight_decay" else 0.0
    eps = EPSILON if name == "label_smoothing" else 0.0
    alpha = ALPHA if table is not None else 0.0
    return SumPrior((GaussianPrior(weight_decay=wd), LabelSmoothing(epsilon=eps),
                     table_prior(table, n=n, k=k, alpha=alpha, temperature=TEMPERATURE)))


# SWAG's recipe (Maddox et al. 2019, CIFAR): SGD with momentum 0.9, a constant SWA learning rate
# of 0.05 and weight decay 5e-4, one snapshot per epoch. The weight decay is what makes SGD move:
# from a network that interpolates its labels without a prior the gradients vanish and SWAG's
# Gaussian collapses onto it (KL to the start below 1e-5 with learning rates 0.01 and 0.05).
SWAG_LEARNING_RATE, SWAG_WEIGHT_DECAY, SWAG_BATCH = 0.05, 5e-4, 100


def _teacher_and_swag(ds, tmodel, t_steps, size, progress):
    """The teacher network (Adam, the usual recipe) and SWAG around it (Maddox et al. 2019:
    constant-lr SGD with weight decay from the trained weights, one snapshot per epoch); returns
    both as ``{"logp_train", "logp_test"}`` (the teacher's with a leading member axis of 1)."""
    from bayeskd.posteriors import fit_swag, teacher_log_probs

    data = {"x": ds.x_train, "y": ds.y_train}
    fn = model_fn(tmodel, ds)
    pre = fit(fn, data, prior=NoPrior(), config=train_config(t_steps),
              key=jax.random.key(TEACHER_SEED), progress=progress, desc="teacher")
    single = {"logp_train": member_logp(pre, ds.x_train), "logp_test": member_logp(pre, ds.x_test)}
    swag = fit_swag(fn, data, prior=GaussianPrior(weight_decay=SWAG_WEIGHT_DECAY),
                    init_params=pre.params, key=jax.random.key(TEACHER_SEED + 2),
                    steps=size.swag_steps, learning_rate=SWAG_LEARNING_RATE,
                    batch_size=SWAG_BATCH, rank=20,
                    collect_every=-(-ds.num_train // SWAG_BATCH), num_samples=size.swag_samples,
                    progress=progress)
    key = jax.random.key(TEACHER_SEED + 4)
    return single, {"logp_train": teacher_log_probs(swag, ds.x_train, key=key),
                    "logp_test": teacher_log_probs(swag, ds.x_test, key=key)}


def _evaluate(res, ds, arms, seeds, dataset) -> list[dict]:
    lp_test, lp_train = member_logp(res, ds.x_test), member_logp(res, ds.x_train)
    noise, grad = member_robustness(res, ds.x_test, ds.y_test, key=jax.random.key(10_000))
    rows = []
    for m in range(lp_test.shape[0]):
        row = {"dataset": dataset, "prior": arms[m // seeds], "seed": m % seeds}
        row |= classification_metrics(np.exp(lp_test[m]), ds.y_test)
        row["train_accuracy"] = float(np.mean(lp_train[m].argmax(-1) == ds.y_train))
        row["train_test_gap"] = row["train_accuracy"] - row["accuracy"]
        row["noise_accuracy"] = float(noise[m].mean())
        row |= {f"noise_accuracy_sigma_{s:g}": float(a) for s, a in zip(NOISE_SIGMAS, noise[m],
                                                                         strict=True)}
        row["input_grad_norm"] = float(grad[m])
        rows.append(row)
    return rows


def _report(rows, size, seeds, info) -> Report:
    summary = {d: summarize([r for r in rows if r["dataset"] == d], group="prior", metrics=METRICS)
               for d in info}
    comparisons, tables, notes = [], [], []
    for d, s in summary.items():
        weak = max(("none", "weight_decay", "dropout", "label_smoothing"),
                   key=lambda p: s[p]["accuracy"]["mean"])
        comparisons.append(Comparison(
            f"{d}: KD vs the best weak prior (accuracy)", "KD, a strong data-driven prior, wins",
            f"kd {pct(s['kd']['accuracy'])} vs {weak} {pct(s[weak]['accuracy'])}",
            agrees=s["kd"]["accuracy"]["mean"] > s[weak]["accuracy"]["mean"]))
        comparisons.append(Comparison(
            f"{d}: KD vs no prior (NLL)", "lower NLL under the teacher's prior",
            f"kd {s['kd']['nll']['mean']:.3f} vs none {s['none']['nll']['mean']:.3f}",
            agrees=s["kd"]["nll"]["mean"] < s["none"]["nll"]["mean"]))
        comparisons.append(Comparison(
            f"{d}: ensemble teacher vs single teacher (student accuracy)",
            "a better posterior predictive makes a better teacher",
            f"kd_ensemble {pct(s['kd_ensemble']['accuracy'])} vs kd {pct(s['kd']['accuracy'])}",
            agrees=s["kd_ensemble"]["accuracy"]["mean"] >= s["kd"]["accuracy"]["mean"]))
        comparisons.append(Comparison(
            f"{d}: KD smooths the function (input-gradient norm vs none)", "smaller",
            f"kd {s['kd']['input_grad_norm']['mean']:.2f} vs none "
            f"{s['none']['input_grad_norm']['mean']:.2f}",
            agrees=s["kd"]["input_grad_norm"]["mean"] < s["none"]["input_grad_norm"]["mean"]))
        tables.append(_markdown_table(d, s, info[d]))
    if not swag_available():
        notes.append("kd_swag is missing: bayeskd.posteriors has no SWAG posterior in this "
                     "install.")
    elif not size.swag:
        notes.append("kd_swag is left out at this size (the smoke size skips SWAG).")
    for d, i in info.items():
        notes.append(f"{d}: {i['num_train']} training examples; teacher {i['teacher_model']} "
                     f"({i['teacher_steps']} steps), students {i['student_steps']} steps; teacher "
                     "test accuracies: " + ", ".join(
                         f"{k} {100 * v['accuracy']:.1f}%" for k, v in i["teachers"].items()))
    for d, i in info.items():
        kd_lost = [c for c in comparisons if c.claim.startswith(f"{d}: KD vs") and not c.agrees]
        if kd_lost:
            notes.append(_kd_note(d, i, summary[d]))
    for c in comparisons:
        if c.agrees is False and "ensemble" in c.claim:
            d = c.claim.split(":")[0]
            notes.append(_ensemble_note(d, info[d], summary[d]))
    fig = _figure(summary)
    m = summary["mnist1d"]
    headline = (f"MNIST-1D accuracy: none {100 * m['none']['accuracy']['mean']:.1f}%, wd "
                f"{100 * m['weight_decay']['accuracy']['mean']:.1f}%, LS "
                f"{100 * m['label_smoothing']['accuracy']['mean']:.1f}%, KD "
                f"{100 * m['kd']['accuracy']['mean']:.1f}%, KD-ensemble "
                f"{100 * m['kd_ensemble']['accuracy']['mean']:.1f}%"
                + (f", KD-SWAG {100 * m['kd_swag']['accuracy']['mean']:.1f}%" if "kd_swag" in m
                   else "")
                + (f"; digits KD {100 * summary['digits']['kd']['accuracy']['mean']:.1f}% vs none "
                   f"{100 * summary['digits']['none']['accuracy']['mean']:.1f}%"
                   if "digits" in summary else ""))
    return Report(rows=rows, summary={"by_dataset": summary, "setup": info},
                  comparisons=comparisons, figures={"prior_table": fig}, headline=headline,
                  notes=notes, tables=tables)


def _versus(a: dict, b: dict) -> str:
    """``"higher"``, ``"lower"`` or ``"the same within one seed std"``: mean ``a`` against ``b``."""
    if abs(a["mean"] - b["mean"]) <= max(a["std"], b["std"]):
        return "the same within one seed std"
    return "higher" if a["mean"] > b["mean"] else "lower"


def _kd_note(d: str, i: dict, s: dict) -> str:
    """Why KD on the training inputs alone can lose: how much the teacher says beyond the labels
    there, and the student's gap, ECE and NLL against ``none``, compared with their spread."""
    tv = i["teachers_on_train_inputs"]["kd"]
    parts = ", ".join(f"{label} {format_mean_std(s['kd'][m], scale=sc, digits=dg)} vs "
                      f"{format_mean_std(s['none'][m], scale=sc, digits=dg)} "
                      f"({_versus(s['kd'][m], s['none'][m])})"
                      for m, label, sc, dg in (("train_test_gap", "train-test gap (%)", 100, 1),
                                               ("ece", "ECE (%)", 100, 1),
                                               ("nll", "test NLL", 1, 3)))
    return (f"{d}: KD does not beat the weak priors here. On the {i['num_train']} training "
            f"inputs, the only inputs this prior sees, the teacher agrees with the labels on "
            f"{100 * tv['label_agreement']:.1f}% with mean confidence {100 * tv['confidence']:.1f}%. "
            f"KD against `none`: {parts}. `hinton_kd` (b) and `compare-priors`' kd_transfer "
            "measure KD with the teacher speaking on inputs beyond the training set.")


def _ensemble_note(d: str, i: dict, s: dict) -> str:
    """The ensemble teacher's margin over the single teacher, against the students' spread."""
    t = i["teachers"]
    t_gain = 100 * (t["kd_ensemble"]["accuracy"] - t["kd"]["accuracy"])
    s_ens, s_kd = s["kd_ensemble"]["accuracy"], s["kd"]["accuracy"]
    below = 100 * (t["kd"]["accuracy"] - s_kd["mean"])
    return (f"{d}: the ensemble teacher is {t_gain:+.1f} points from the single teacher, and "
            f"its student {100 * (s_ens['mean'] - s_kd['mean']):+.1f} points from the single "
            f"teacher's ({_versus(s_ens, s_kd)}); the single teacher's student sits {below:.1f} "
            "points below its teacher.")


def _markdown_table(dataset, s, info) -> str:
    cols = [("accuracy", 100, "acc %"), ("nll", 1, "NLL"), ("ece", 100, "ECE %"),
            ("brier", 1, "Brier"), ("train_test_gap", 100, "gap %"),
            ("noise_accuracy", 100, "noise acc %"), ("input_grad_norm", 1, "grad norm")]
    lines = [f"**{dataset}** (teacher {info['teacher_model']}; mean ± std over seeds)", "",
             "| prior | " + " | ".join(c[2] for c in cols) + " |",
             "|---|" + "---|" * len(cols)]
    for p in PRIORS:
        if p not in s:
            continue
        cells = []
        for key, scale, _ in cols:
            cells.append(format_mean_std(s[p][key], scale=scale, digits=1 if scale == 100 else 3))
        lines.append(f"| {p} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _figure(summary):
    import matplotlib.pyplot as plt

    panels = [("accuracy", "test accuracy (%)", 100), ("nll", "test NLL", 1), ("ece", "ECE (%)", 100),
              ("noise_accuracy", "accuracy under noise (%)", 100),
              ("input_grad_norm", "input-gradient norm", 1)]
    fig, axes = plt.subplots(len(summary), len(panels), figsize=(16, 3.1 * len(summary)),
                             squeeze=False)
    for r, (d, s) in enumerate(summary.items()):
        priors = [p for p in PRIORS if p in s]
        colors = plt.cm.tab10(np.arange(len(priors)) % 10)
        for ax, (key, label, scale) in zip(axes[r], panels, strict=True):
            mval = [scale * s[p][key]["mean"] for p in priors]
            sval = [scale * s[p][key]["std"] for p in priors]
            ax.bar(range(len(priors)), mval, yerr=sval, capsize=2, color=colors)
            ax.set_xticks(range(len(priors)), priors, rotation=50, ha="right", fontsize=7)
            if key in ("accuracy", "noise_accuracy"):
                lo, hi = min(mval) - 2 * max(sval + [0.5]), max(mval) + 2 * max(sval + [0.5])
                ax.set_ylim(max(0, lo), min(100, hi))
            ax.set_title(f"{d}: {label}", fontsize=9)
            ax.grid(axis="y", alpha=0.3)
    fig.suptitle("Regularisers as priors: the 100-100 MLP under each (mean ± std over seeds)",
                 fontsize=11)
    fig.tight_layout()
    return fig


__all__ = ["INFO", "PRIORS", "SIZES", "Size", "run", "swag_available"]

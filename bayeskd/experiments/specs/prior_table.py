r"""``prior_table``: every regulariser as a prior (:func:`bayeskd.priors.regulariser_prior`), the
same MLP under each on MNIST-1D and the 8x8 digits: none, weight decay, dropout, label smoothing,
KD from a teacher, an ensemble, SWAG (:func:`bayeskd.posteriors.swag_teacher`) and itself."""

import dataclasses

import jax
import numpy as np

from bayeskd.experiments import kit
from bayeskd.losses import log_mean_probs
from bayeskd.metrics import classification_metrics
from bayeskd.posteriors import swag_teacher
from bayeskd.priors import NoPrior, regulariser_prior

PRIORS = tuple("none weight_decay dropout label_smoothing kd kd_ensemble kd_swag "
               "self_distillation".split())
METRICS = ("accuracy", "nll", "ece", "brier", "train_test_gap", "noise_accuracy", "input_grad_norm")
DROPOUT, ALPHA, TEMPERATURE, ENSEMBLE = 0.2, 0.9, 4.0, 5  # KD: alpha and T for every teacher
WEAK = {"weight_decay": {"weight_decay": 1e-3}, "label_smoothing": {"label_smoothing": 0.1}}
TEACHERS = {"mnist1d": "cnn", "digits": "mlp-large"}


@dataclasses.dataclass(frozen=True)
class Config:
    seeds: int = kit.count(3, "seeds per prior")
    datasets: tuple[str, ...] = kit.choice(("mnist1d", "digits"), tuple(TEACHERS), "datasets")
    mnist1d_steps: tuple[int, ...] = kit.count((6000, 6000), "MNIST-1D: teacher, student steps")
    digits_steps: tuple[int, ...] = kit.count((2000, 3000), "digits: teacher, student steps")
    swag: bool = kit.option(True, "train the kd_swag teacher (SWAG compiles slowly)")
    swag_steps: int = kit.count(1000, "SGD steps of the SWAG phase")
    swag_samples: int = kit.count(30, "SWAG draws in the teacher's predictive")


def teachers(cfg: Config, ctx, ds) -> dict:
    """``{prior: (log-probabilities on the training inputs, on the test inputs)}``."""
    t_steps, s_steps = getattr(cfg, f"{ds.name}_steps")
    k = dict(model=TEACHERS[ds.name], steps=t_steps, progress=ctx.progress, log=ctx.log)
    one = kit.train_teacher(ds, **k)
    ens = kit.train_teacher(ds, seed=kit.TEACHER_SEED + 1, members=ENSEMBLE, **k)
    own = kit.train_teacher(ds, seed=kit.TEACHER_SEED + 3, **(k | dict(model="mlp", steps=s_steps)))
    out = {"kd": (one.logp_train, one.logp_test), "kd_ensemble": (ens.logp_train, ens.logp_test),
           "self_distillation": (own.logp_train, own.logp_test)}
    if cfg.swag:  # Maddox et al. 2019's recipe around the single teacher network
        out["kd_swag"] = tuple(np.asarray(a)[None] for a in ctx.unit(f"{ds.name}-swag", lambda: (
            swag_teacher(one.factory, {"x": ds.x_train, "y": ds.y_train}, (ds.x_train, ds.x_test),
                         init_params=one.network(None).params, steps=cfg.swag_steps,
                         key=jax.random.key(kit.TEACHER_SEED + 2), num_samples=cfg.swag_samples,
                         predictive_key=jax.random.key(kit.TEACHER_SEED + 4)))))
    return {p: tuple(lp[0] if len(lp) == 1 else np.asarray(log_mean_probs(np.moveaxis(lp, 0, 1)))
                     for lp in v) for p, v in out.items()}  # members averaged in probabilities


def students(ctx, cfg, ds, part: str, names, priors, key: int, **kw) -> list[dict]:
    """Unit ``<dataset>-<part>``: every prior and seed in one run, each with its full metrics."""
    unit, steps = f"{ds.name}-{part}", getattr(cfg, f"{ds.name}_steps")[1]
    def compute():
        res = kit.train_arms("mlp", ds, {"x": ds.x_train, "y": ds.y_train}, priors, key=key,
                             seeds=cfg.seeds, steps=steps, ctx=ctx, unit=unit, model_kwargs=kw)
        return [{"part": "student", "dataset": ds.name, "prior": names[m // cfg.seeds],
                 "seed": m % cfg.seeds} | kit.evaluate_member(res.graphdef, jax.tree.map(
                     lambda a, m=m: a[m], res.params), ds, teacher_probs_test=None,
                     key=jax.random.key(10_000)) for m in range(len(priors) * cfg.seeds)]
    return ctx.unit(unit, compute)


def measure(cfg: Config, ctx) -> kit.Measured:
    rows = []
    for d, dataset in enumerate(cfg.datasets):
        tables = teachers(cfg, ctx, ds := kit.load_job_dataset(dataset))
        rows += [{"part": "teacher", "dataset": dataset, "prior": p, "seed": 0}
                 | classification_metrics(np.exp(te), ds.y_test) for p, (_, te) in tables.items()]
        arms = [p for p in PRIORS if p != "dropout" and (p in tables or p in PRIORS[:4])]
        priors = [regulariser_prior(tables.get(p, tables["kd"])[0], temperature=TEMPERATURE, **(
            {"alpha": ALPHA} if p in tables else WEAK.get(p, {}))) for p in arms]
        rows += students(ctx, cfg, ds, "priors", arms, priors, 6000 + 10 * d) + students(
            ctx, cfg, ds, "dropout", ["dropout"], [NoPrior()], 6001 + 10 * d, dropout=DROPOUT)
    return kit.Measured(rows)


COLS = (("accuracy", "accuracy (%)", 100, 1), ("nll", "test NLL", 1, 3), ("ece", "ECE (%)", 100, 1),
        ("noise_accuracy", "noise accuracy (%)", 100, 1), ("input_grad_norm", "grad norm", 1, 2))
TABLES = {d: kit.Table("prior", METRICS, {"part": "student", "dataset": d}) for d in TEACHERS} | {
    "teachers": kit.Table(("dataset", "prior"), METRICS[:3], {"part": "teacher"})}
CHECKS = (  # (claim, published, metric, ours, rule, other, format) for each dataset
    ("KD vs the best weak prior (accuracy)", "KD, a strong data-driven prior, wins", "accuracy",
     "kd", kit.Above, "weak", "%"),
    ("KD vs no prior (NLL)", "lower NLL under the teacher", "nll", "kd", kit.Below, "none", ".3f"),
    ("ensemble teacher vs single teacher (student accuracy)", "a better posterior predictive "
     "makes a better teacher", "accuracy", "kd_ensemble", kit.Above, "kd", "%"),
    ("KD smooths the function (input-gradient norm vs none)", "smaller", "input_grad_norm", "kd",
     kit.Below, "none", ".2f"))
EXPECTATIONS = tuple(kit.Expectation(f"{d}: {c}", pub, "regularisers as priors; Hinton et al. 2015",
                                     f"{d}_{a}_{m}", rule(f"{d}_{b}_{m}"), (f"{d}_{b}_{m}",), f)
                     for d in TEACHERS for c, pub, m, a, rule, b, f in CHECKS)


def derive(s: dict, measured, cfg: Config) -> dict:
    weak = {d: max(PRIORS[:4], key=lambda p, t=s[d]: t.get(p, {}).get("accuracy", {}).get(
        "mean", -1)) for d in TEACHERS}  # the best of the weak priors, by accuracy
    return {k: v for d in TEACHERS for _, _, m, a, _, b, _ in CHECKS for k, v in kit.cells(
        s[d], m, **{f"{d}_{a}_{m}": a, f"{d}_{b}_{m}": weak[d] if b == "weak" else b}).items()}


def plot(v, cfg: Config) -> dict:
    P, ds = kit.panels, [d for d in cfg.datasets if v.summary[d]]
    fig, axes = P.grid(len(COLS) * len(ds), ncols=len(COLS), width=3.3, height=3.1)
    for i, (d, (key, label, scale, _)) in enumerate((d, c) for d in ds for c in COLS):
        P.bars(axes[i], ps := [p for p in PRIORS if p in v.summary[d]], {key: [
            v.summary[d][p][key] for p in ps]}, scale=scale, rotate=True, title=f"{d}: {label}")
    return {"prior_table": P.finish(fig, "Every regulariser as a prior, one MLP (mean ± std)")}


SPEC = kit.Spec(
    name="prior_table", title="every regulariser as a prior, one student, one table",
    paper="Hinton et al. 2015 (KD), Müller et al. 2019 (label smoothing), Gal & Ghahramani 2016 "
          "(dropout), Maddox et al. 2019 (SWAG), Lakshminarayanan et al. 2017 (ensembles)",
    mirrors="the supplementary table of regularisers read as priors",
    claim="Weight decay, dropout and label smoothing are weak priors; KD, a strong data-driven "
          "prior, beats them, and a better posterior (an ensemble) makes a better teacher.",
    sizes=kit.sizes(Config(), smoke=dict(seeds=2, mnist1d_steps=(300, 300), digits_steps=(
        300, 300), datasets=("mnist1d",), swag=False, swag_steps=100, swag_samples=8), full=dict(
        seeds=5, mnist1d_steps=(10000, 10000), digits_steps=(4000, 6000), swag_steps=2000,
        swag_samples=50)), measure=measure, tables=TABLES, derive=derive,
    expectations=EXPECTATIONS, plot=plot, report={d: COLS for d in TEACHERS})

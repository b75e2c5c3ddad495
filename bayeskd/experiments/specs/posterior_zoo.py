r"""``bayeskd posterior-zoo``: every posterior approximation as a teacher, against a NUTS reference.

Every fit of :mod:`bayeskd.posteriors.zoo` (MAP, ensemble, SWAG(-Diagonal), MC dropout, Laplace,
(cyclical) SGLD, SVI, AIES, ESS) is distilled into the same student in one vmapped run, beside
Bayesian dark knowledge; every teacher and student is measured on the test set and a grid of the
plane against NUTS, sampled ones with their R-hat, ESS and ``converged`` label. Two moons (after
Korattikara et al. 2015) or ``--dataset digits`` (no reference: too many weights for NUTS).
"""

import dataclasses

import jax
import numpy as np

from bayeskd.experiments import kit
from bayeskd.plotting import plane_panels
from bayeskd.posteriors import zoo
from bayeskd.training.memory import check_fits_memory

METRICS = ("accuracy", "nll", "ece", "brier", "entropy", "mutual_information", "agreement_ref",
           "tv_ref", "kl_ref", "agreement_ref_grid", "tv_ref_grid", "kl_ref_grid", "kl_teacher",
           "kl_map", "rhat_max", "ess_min", "converged")


@dataclasses.dataclass(frozen=True)
class Config:
    dataset: str = kit.choice("moons", zoo.DATASETS, "the problem (its settings: its section)")
    methods: tuple[str, ...] = kit.choice(zoo.METHODS, zoo.METHODS, "posteriors to fit")
    seeds: int = kit.count(1, "seeds of every fit and student")
    seed: int = kit.option(0, "seed of the data and the reference", min=0)
    moons: zoo.Setup = zoo.setup_section("moons")  # each dataset's settings, by method
    gmm: zoo.Setup = zoo.setup_section("gmm")
    digits: zoo.Setup = zoo.setup_section("digits")


def check(cfg: Config) -> None:
    """Refuse settings whose memory estimate (:func:`~bayeskd.posteriors.zoo.estimate_bytes`)
    exceeds the machine's, before any work."""
    est, part = zoo.estimate_bytes(cfg.dataset, getattr(cfg, cfg.dataset), cfg.methods)
    check_fits_memory(est, name=f"{cfg.dataset}.map.members", data_name=f"{cfg.dataset}.{part}",
                      what=f"the {cfg.dataset} zoo ({est.members} ensemble members)")


def measure(cfg: Config, ctx) -> kit.Measured:
    s = getattr(cfg, cfg.dataset)
    ds, x_t = zoo.load_data(cfg.dataset, s, seed=cfg.seed)
    methods = [m for m in cfg.methods if s.reference or m not in zoo.REFERENCE_ONLY]
    grid, ref, rows, maps = zoo.plane(ds, s), None, [], {}
    kw = dict(eval_key=jax.random.key(cfg.seed + 99), grid=grid and grid[0])
    if s.reference:
        ref = ctx.unit("reference", lambda: zoo.reference(ds, s, key=jax.random.key(cfg.seed + 1),
                                                          x_transfer=x_t, **kw))
        ctx.log(f"NUTS: {ref['info']['num_divergent']} divergent, R-hat "
                f"{ref['info']['rhat_max']:.3f}, converged {ref['info']['converged']}")
    for seed in range(cfg.seeds):
        teachers, bdk, map_test = zoo.fit_seed(ds, s, methods, seed=seed, x_transfer=x_t,
                                               ref=ref, unit=ctx.unit, **kw)
        teachers = ([("nuts", ref["entries"])] if ref else []) + teachers
        students = ctx.unit(f"seed{seed}-students", lambda t=teachers, seed=seed: {
            "e": zoo.distill_students(t, ds, s, x_t, seed=seed, ref=ref, progress=ctx.progress,
                                      **kw)})["e"]
        r, seed_maps = zoo.labelled_rows({"teacher": teachers, "student": students + bdk},
                                         seed=seed, map_test=map_test)
        rows += r
        maps = maps or {"|".join(k): {n: np.round(a, 4).tolist() for n, a in m.items()}
                        for k, m in seed_maps.items()}
    return kit.Measured(rows, {"maps": maps, "reference": ref and ref["info"],
                               "num_train": ds.num_train, "num_transfer": len(x_t)})


def derive(s: dict, measured, cfg: Config) -> dict:
    z, nan = s["zoo"], float("nan")
    mean = lambda m, r, metric: z.get((m, r), {}).get(metric, {}).get("mean", nan)  # noqa: E731
    kl = [mean(m, r, "kl_ref_grid") for m, r in z if r == "student"]
    ratios = [mean(m, "student", "nll") / mean(m, "teacher", "nll") for m, r in z
              if r == "teacher" and (m, "student") in z]
    return {"kl_grid_map": mean("map", "teacher", "kl_ref_grid"),
            "kl_grid_sgld": mean("sgld", "teacher", "kl_ref_grid"),
            "kl_grid_bdk": mean("bdk", "student", "kl_ref_grid"),
            "kl_grid_best_student": min(kl, default=nan),
            "student_over_teacher_nll": max(ratios, default=nan),
            **{f"nll_{m}": mean(m, "teacher", "nll") for m in ("map", "ensemble", "swag", "sgld")}}


E, SRC = kit.Expectation, "Korattikara et al. 2015, toy 2-D classification, KL(HMC ‖ ·)"
EXPECTATIONS = (
    E("SGLD vs SGD (here: MAP), KL(reference ‖ teacher) over the grid", "SGLD 0.007 vs SGD 0.246",
      SRC, "kl_grid_sgld", kit.Below("kl_grid_map"), show=("kl_grid_map",), fmt=".4f"),
    E("dark-knowledge student vs SGD (here: MAP), KL(reference ‖ ·) over the grid",
      "distilled students 0.009–0.031 vs SGD 0.246", SRC, "kl_grid_bdk",
      kit.Below("kl_grid_map"), show=("kl_grid_map", "kl_grid_best_student"), fmt=".4f"),
    E("deep ensemble vs one network, test NLL", "an ensemble lowers NLL", "Lakshminarayanan et "
      "al. 2017, §5", "nll_ensemble", kit.Below("nll_map"), show=("nll_map",), fmt=".4f"),
    E("SWAG vs SGD (here: MAP), test NLL", "SWAG lowers NLL", "Maddox et al. 2019, §6",
      "nll_swag", kit.Below("nll_map"), show=("nll_map",), fmt=".4f"),
    E("students keep their teacher's NLL (worst student / teacher ratio)", "distilled students "
      "match their teacher's predictive", "Korattikara et al. 2015, §4",
      "student_over_teacher_nll", kit.Below(1.15), fmt=".3f"),
)


def plot(v, cfg: Config) -> dict:
    e, s = v.extra, getattr(cfg, cfg.dataset)
    if not e["maps"]:
        return {}
    ds = zoo.load_data(cfg.dataset, s, seed=cfg.seed)[0]
    _, xx, yy = zoo.plane(ds, s)
    pts = dict(x_train=ds.x_train, y_train=ds.y_train)
    rows = lambda what: [[(f"{m} ({r})", e["maps"][f"{m}|{r}"][what]) for m, r in  # noqa: E731
                          (k.split("|") for k in e["maps"]) if r == role]
                         for role in ("teacher", "student")]

    return {"posterior_zoo": plane_panels(xx, yy, rows("prob"), **pts),
            "posterior_zoo_entropy": plane_panels(xx, yy, rows("entropy"), cmap="viridis",
                                                  vmax=float(np.log(ds.num_classes)), **pts)}


REPORT = {"zoo": (("accuracy", "acc. %", 100, 1), ("nll", "NLL", 1, 4), ("ece", "ECE %", 100, 2),
                  ("kl_map", "KL(· ‖ MAP)", 1, 4), ("kl_ref_grid", "KL(ref ‖ ·), grid", 1, 4),
                  ("rhat_max", "R-hat", 1, 3), ("ess_min", "ESS", 1, 0),
                  ("converged", "converged", 1, 2))}
SPEC = kit.Spec(
    name="posterior_zoo", command="posterior-zoo", paper="", mirrors="", report=REPORT,
    title="every posterior approximation as a teacher, against a NUTS reference",
    claim="A better approximation of the posterior predictive makes a better teacher, and its "
          "student keeps the predictive but not its epistemic part.",
    sizes=kit.sizes(Config(), smoke={d: zoo.smoke(zoo.SETUPS[d]) for d in zoo.DATASETS},
                    full={"seeds": 3} | {d: zoo.full(zoo.SETUPS[d]) for d in zoo.DATASETS}),
    check=check, measure=measure, derive=derive, expectations=EXPECTATIONS, plot=plot,
    tables={"zoo": kit.Table(("method", "role"), METRICS)})
DIGITS = dataclasses.replace(SPEC, name="posterior_zoo_digits", preset={"dataset": "digits"},
                             title="the posterior zoo on digits (no reference)")

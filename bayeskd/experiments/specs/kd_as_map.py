r"""``kd_as_map``: KD is MAP under a teacher-centred Dirichlet prior, and its posterior has
credible intervals: a softmax regression on quadratic features of a Gaussian mixture with exact
:math:`p^*`. (a) KD (T = 1; T = 4 the control) vs the Dirichlet MAP in float64. (b) Whitened
Langevin draws of the KD and label-only posteriors (:mod:`bayeskd.posteriors.kd_map`).
"""

import dataclasses

import jax
import numpy as np

from bayeskd.data import make_gmm_problem
from bayeskd.experiments import kit
from bayeskd.posteriors.kd_map import map_gaps, posterior_checks, sample_kd_posterior, solve_maps
from bayeskd.training.softmax_regression import QuadraticFeatures, fit_softmax_regression

ALPHA, SIGMA2, MAIN, K, TOL = 0.5, 10.0, 0.9, 3, 1e-6  # KD weight, weight prior variance


@dataclasses.dataclass(frozen=True)
class Config:
    seeds: int = kit.count(5, "training sets")
    num_train: int = kit.count(100, "training pairs per seed")
    chains: int = kit.count(8, "Langevin chains per seed")
    burn_in: int = kit.option(500, "Langevin steps before the first draw", min=0)
    samples: int = kit.count(1000, "draws kept per chain")
    thin: int = kit.count(5, "steps between kept draws")
    step_size: float = kit.positive(0.05, "Langevin step size (whitened coordinates)")
    num_test: int = kit.count(2000, "test inputs")
    num_coverage: int = kit.count(500, "test inputs whose intervals are checked")
    levels: tuple[float, ...] = kit.unit((0.5, 0.8, 0.9, 0.95), "nominal credible levels")


def check(cfg: Config) -> None:
    if cfg.num_coverage > cfg.num_test:
        raise ValueError(f"num_coverage: at most num_test = {cfg.num_test}, got {cfg.num_coverage}")
    if MAIN not in cfg.levels or 1.0 in cfg.levels:
        raise ValueError(f"levels: in (0, 1), including {MAIN:g}, got {cfg.levels}")


def measure(cfg: Config, ctx) -> kit.Measured:
    problem = make_gmm_problem(dim=2, num_classes=K, separation=2.0, seed=0)
    feats = QuadraticFeatures.fit(problem.sample(20000, seed=99)[0])
    x_t, y_t = problem.sample(2000, seed=95)
    Wt, bt = fit_softmax_regression(feats(x_t)[None], np.eye(K, dtype=np.float32)[y_t][None],
                                    np.ones((1, 2000), np.float32), steps=2000)
    x_test, y_test = problem.sample(cfg.num_test, seed=94)
    p_test, phi_test = problem.bayes_probs(x_test), feats(x_test).astype(np.float64)
    wd = 1.0 / (SIGMA2 * cfg.num_train)
    data = [(feats(x).astype(np.float64), y.astype(np.int32), np.asarray(jax.nn.softmax(
        feats(x) @ Wt[0] + bt[0], -1), np.float64)) for x, y in (problem.sample(
            cfg.num_train, seed=np.random.SeedSequence([5, s])) for s in range(cfg.seeds))]
    maps = ctx.unit("map", lambda: {"weights": [solve_maps(*d, alpha=ALPHA, weight_decay=wd)
                                                for d in data]})["weights"]
    draws = ctx.unit("posterior", lambda: {arm: sample_kd_posterior(
        *map(np.stack, zip(*data, strict=True)), np.stack([m[arm] for m in maps]), alpha=a,
        weight_decay=wd, chains=cfg.chains, burn_in=cfg.burn_in, samples=cfg.samples,
        thin=cfg.thin, step_size=cfg.step_size, key=jax.random.key(11)) for arm, a in (
            ("kd", ALPHA), ("labels", 0.0))})
    rows = [{"part": "map", "seed": s} | map_gaps(m, phi_test) for s, m in enumerate(maps)]
    rows += [{"part": "posterior", "seed": s, "arm": arm} | posterior_checks(
        draws[arm][s], m[arm], phi_test, y_test, p_test, num_coverage=cfg.num_coverage,
        levels=cfg.levels, chains=cfg.chains, main_level=MAIN)
        for s, m in enumerate(maps) for arm in ("kd", "labels")]
    bayes = float(-np.mean(np.log(p_test[np.arange(len(y_test)), y_test])))
    return kit.Measured(rows, extra={"bayes_nll": bayes})


P = ("mean_width_0.9", "ece_posterior_mean", "nll_posterior_mean", "ece_map", "nll_map", "rhat_max",
     "ess_min")
TABLES = {"posterior": kit.Table("arm", tuple(f"coverage_{lv:g}" for lv in Config().levels) + P,
                                 {"part": "posterior"})}


def derive(s: dict, measured, cfg: Config) -> dict:
    gaps, c = [r for r in measured.rows if r["part"] == "map"], f"coverage_{MAIN:g}"
    return {f"{f.__name__}_{k}": f(r[k] for r in gaps) for f, k in ((max, "weight_gap"), (
        max, "prob_gap"), (min, "prob_gap_T4"))} | {"bayes_nll": measured.extra["bayes_nll"]} | \
        kit.cells(s["posterior"], coverage=("kd", c), coverage_labels=("labels", c),
                  **{m: ("kd", m) for m in P[1:5]})


E, SRC = kit.Expectation, "Zhang & Sabuncu 2020, §3; Fang et al. 2024, §3"
EXPECTATIONS = (
    E("KD minimiser vs the teacher-centred Dirichlet MAP (T = 1), largest weight difference",
      "identical", SRC, "max_weight_gap", kit.All(tuple((n, kit.Below(TOL)) for n in (
          "max_weight_gap", "max_prob_gap"))), show=("max_prob_gap",), fmt=".1e"),
    E(f"coverage of p* by the KD posterior's {MAIN:.0%} credible intervals", "about nominal",
      "Fang et al. 2024", "coverage", kit.WithinOf(MAIN, 0.05), show=("coverage_labels",), fmt="%"),
    E("posterior-mean student vs MAP student (KD posterior): ECE and NLL",
      "posterior mean better calibrated", "Fang et al. 2024", "ece_posterior_mean",
      kit.All(tuple((f"{m}_posterior_mean", kit.Below(f"{m}_map")) for m in ("ece", "nll"))),
      show=("ece_map", "nll_posterior_mean", "nll_map", "bayes_nll"), fmt=".3f"),
    E("KD at T = 4 vs the same Dirichlet MAP, smallest largest-probability difference",
      "the identity holds at T = 1 only", SRC, "min_prob_gap_T4", kit.Describe(), fmt=".3f"),
)


def plot(v, cfg: Config) -> dict:
    P_, post, (fig, axes) = kit.panels, v.summary["posterior"], kit.panels.grid(2)
    P_.lines(axes[0], cfg.levels, {f"{arm} posterior": [post[arm][f"coverage_{lv:g}"] for lv in
                                   cfg.levels] for arm in ("kd", "labels")} | {"nominal": [
        {"mean": lv} for lv in cfg.levels]}, title="credible intervals of the student's "
             "probabilities", xlabel="nominal level", ylabel="empirical coverage of p*(y|x)")
    gaps = sorted((r for r in v.rows if r["part"] == "map"), key=lambda r: r["seed"])
    P_.bars(axes[1], [str(r["seed"]) for r in gaps], {f"KD (T = {t}) vs Dirichlet MAP": [
        {"mean": np.log10(max(r[f"prob_gap{tag}"], 1e-17))} for r in gaps] for t, tag in (
            (1, ""), (4, "_T4"))}, refs={"tolerance": np.log10(TOL)}, xlabel="seed",
        title="KD = MAP under the Dirichlet prior", ylabel="log10 largest probability gap")
    return {"kd_as_map": P_.finish(fig, "KD as MAP and its posterior (mean ± std)")}


SPEC = kit.Spec(
    name="kd_as_map", title="KD = the Dirichlet MAP; its posterior's intervals cover p*",
    paper="J. Fang et al. Bayesian knowledge distillation (2024); Z. Zhang, M. R. Sabuncu. "
          "Self-distillation as instance-specific label smoothing. NeurIPS 2020",
    mirrors="the KD-as-MAP identity and Bayesian KD's credible intervals, with known p*(y|x)",
    claim="The KD minimiser is the MAP under a teacher-centred Dirichlet prior; that posterior's "
          "credible intervals cover about their nominal level; its mean is better calibrated.",
    sizes=kit.sizes(Config(), smoke=dict(seeds=2, chains=4, burn_in=200, samples=200, num_test=300,
                                         num_coverage=200),
                    full=dict(seeds=20, chains=16, burn_in=1000, samples=2000, thin=10,
                              step_size=0.02, num_test=5000, num_coverage=1000)),
    measure=measure, tables=TABLES, derive=derive, expectations=EXPECTATIONS, plot=plot,
    check=check)

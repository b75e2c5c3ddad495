"""``variance_reduction``: one-hot vs (tempered) Bayes targets on a Gaussian mixture, exact p*."""

import dataclasses
import itertools

import numpy as np
from scipy.stats import spearmanr

from bayeskd.data import make_gmm_problem
from bayeskd.experiments import kit
from bayeskd.losses import tempered_log_probs
from bayeskd.metrics import brier
from bayeskd.training.softmax_regression import QuadraticFeatures, fit_softmax_regression, pad_sets


@dataclasses.dataclass(frozen=True)
class Config:
    seeds: int = kit.count(20, "training sets per (N, target)")
    sizes: tuple[int, ...] = kit.count((20, 50, 100, 200, 500, 2000), "training-set sizes N")
    steps: int = kit.count(1500, "full-batch Adam steps per student")
    risk_draws: int = kit.count(400, "fresh samples per N for the risk variance")
    num_test: int = kit.count(10000, "test inputs")
    taus: tuple[float, ...] = kit.positive((0.3, 0.5, 1.0, 2.0, 3.0), "teachers p*^(1/τ)")
    prior_variance: float = kit.positive(10.0, "Gaussian prior variance of the students")


def measure(cfg: Config, ctx) -> kit.Measured:
    problem = make_gmm_problem(dim=2, num_classes=3, separation=2.0, seed=0)
    feats = QuadraticFeatures.fit(problem.sample(20000, seed=99)[0])
    x_test, y_test = problem.sample(cfg.num_test, seed=98)
    names = ["one-hot"] + [("p*" if t == 1.0 else f"p*^(1/{t:g})") for t in cfg.taus]
    tempered = lambda p, t: p ** (1 / t) / (p ** (1 / t)).sum(-1, keepdims=True)  # noqa: E731
    p_test, i_test = problem.bayes_probs(x_test), (np.arange(cfg.num_test), y_test)
    bayes_nll = float(-np.mean(np.log(p_test[i_test])))
    targets = lambda x, y, a: (  # noqa: E731  arm 0: one-hot labels; arm a: p*^(1/taus[a-1])
        tempered(problem.bayes_probs(x), cfg.taus[a - 1]) if a else np.eye(3)[y])
    fit = lambda sets, steps: fit_softmax_regression(  # noqa: E731  [(x, y, arm)] -> (W, b)
        *pad_sets([(feats(x), targets(x, y, a)) for x, y, a in sets]), steps=steps,
        prior_variance=cfg.prior_variance)
    def risk() -> list[dict]:  # the fixed predictor: a one-hot fit on 2,000 other examples
        W, b = fit([(*problem.sample(2000, seed=97), 0)], max(cfg.steps, 1000))
        logp = lambda x: np.asarray(tempered_log_probs(feats(x) @ W[0] + b[0]))  # noqa: E731
        x_big, y_big = problem.sample(100000, seed=96)
        true_risk, rows = float(-np.mean(logp(x_big)[np.arange(100000), y_big])), []
        for n in cfg.sizes:
            draws = [problem.sample(n, seed=np.random.SeedSequence([1, n, r]))
                     for r in range(cfg.risk_draws)]
            est = np.array([[-np.mean(np.sum(targets(x, y, a).astype(np.float32) * logp(x), -1))
                             for a in range(len(names))] for x, y in draws])
            rows += [{"part": "risk", "n": n, "target": t, "mean_risk": float(v.mean()),
                      "bias": float(v.mean() - true_risk), "variance": float(v.var(ddof=1))}
                     for t, v in zip(names, est.T, strict=True)]
        return rows

    def students() -> list[dict]:
        members = list(itertools.product(cfg.sizes, range(cfg.seeds), range(len(names))))
        W, b = fit([(*problem.sample(n, seed=np.random.SeedSequence([2, n, s])), a)
                    for n, s, a in members], cfg.steps)
        logp = np.asarray(tempered_log_probs(feats(x_test) @ W + b[:, None]))  # [M, N, K]
        mse = [float(brier(p_test, y_test))] + [float(np.mean(np.sum(  # E||p_t - p*||^2: one-hot
            (tempered(p_test, t) - p_test) ** 2, -1))) for t in cfg.taus]  # all variance, p_t bias
        nll = -np.mean(logp[(slice(None), *i_test)], axis=1)
        acc = np.mean(logp.argmax(-1) == y_test, axis=1).tolist()
        return [{"part": "student", "n": n, "seed": s, "target": names[a], "accuracy": acc[m],
                 "test_nll": float(nll[m]), "excess_nll": float(nll[m]) - bayes_nll,
                 "teacher_mse_to_bayes": mse[a], "teacher_bias_to_bayes": mse[a] if a else 0.0}
                for m, (n, s, a) in enumerate(members)]
    return kit.Measured(ctx.unit("risk", risk) + ctx.unit("students", students),
                        {"bayes_nll": bayes_nll})


S = ("test_nll", "excess_nll", "accuracy", "teacher_bias_to_bayes", "teacher_mse_to_bayes")
TABLES = {"risk": kit.Table(("n", "target"), ("mean_risk", "bias", "variance"), {"part": "risk"}),
          "students": kit.Table(("n", "target"), S, {"part": "student"})}


def derive(s: dict, measured, cfg: Config) -> dict:
    ns, st = cfg.sizes, s["students"]
    m_ = lambda n, a, m, t="students": s[t][(n, a)][m]["mean"]  # noqa: E731
    ratio = [m_(n, "one-hot", "variance", "risk") / m_(n, "p*", "variance", "risk") for n in ns]
    gap = [m_(n, "one-hot", "test_nll") - m_(n, "p*", "test_nll") for n in ns]
    rho = spearmanr(*[[m_(ns[-1], a, m) for n, a in st if n == ns[0]]
                      for m in ("teacher_bias_to_bayes", "excess_nll")]).statistic
    return {"min_variance_ratio": min(ratio), "max_variance_ratio": max(ratio), "gap_small": gap[0],
            "gap_large": gap[-1], "n_pstar_worse": sum(g < 0 for g in gap),
            "spearman_large": float(rho), "bayes_nll": measured.extra["bayes_nll"], **kit.cells(
                st, "test_nll", nll_onehot_small=(ns[0], "one-hot"), nll_pstar_small=(ns[0], "p*"))}


E, SRC, FIG = kit.Expectation, "Menon et al. 2021", "Menon et al. 2021, §4, Fig. 2"
EXPECTATIONS = (
    E("variance of the empirical risk, one-hot / p*, smallest over N", "> 1 at every N",
      SRC + ", Lemma 1", "min_variance_ratio", kit.Above(1.0), show=("max_variance_ratio",)),
    E("student test NLL at the smallest N, p* vs one-hot", "p* better than one-hot", FIG,
      "nll_pstar_small", kit.Below("nll_onehot_small"), show=("nll_onehot_small", "bayes_nll")),
    E("advantage of p* (one-hot NLL − p* NLL) shrinks as N grows", "largest at small N", FIG,
      "gap_small", kit.All((("gap_small", kit.Above("gap_large")),
                            ("n_pstar_worse", kit.Below(0.5)))), show=("gap_large",)),
    E("Spearman ρ, student excess NLL vs teacher bias to p*, largest N", "student risk tracks the "
      "teacher's error to p*", SRC + ", Prop. 3", "spearman_large", kit.Above(0.5), fmt=".2f"),
)


def plot(v, cfg: Config) -> dict:
    P, st, ns, (fig, axes) = kit.panels, v.summary["students"], cfg.sizes, kit.panels.grid(2)
    bias = {a: st[(ns[0], a)]["teacher_bias_to_bayes"]["mean"] for n, a in st if n == ns[0]}
    P.lines(axes[0], ns, {a: [v.summary["risk"][(n, a)]["variance"] for n in ns] for a in bias},
            logx=True, title="variance of a fixed predictor's risk", xlabel="training-set size N")
    P.lines(axes[1], sorted(bias.values()), {f"N={n}": [st[(n, a)]["excess_nll"] for a in sorted(
        bias, key=bias.get)] for n in ns}, title="students: risk tracks the teacher's bias",
            ylabel="test NLL − Bayes NLL", xlabel="teacher bias ‖E[p_t|x] − p*‖²")
    return {"variance_reduction": P.finish(fig, "Menon et al. 2021, Gaussian mixture, exact p*")}


SPEC = kit.Spec(
    name="variance_reduction", title="Bayes-teacher labels lower the variance of the risk",
    paper="A. K. Menon, A. S. Rawat, S. J. Reddi, S. Kim, S. Kumar. A statistical perspective on "
          "distillation. ICML 2021",
    mirrors="§3–4 (Lemma 1, Prop. 3), the synthetic Gaussian experiment (Fig. 2)",
    claim="Training on p*(y|x) instead of one-hot labels lowers the variance of the empirical risk "
          "and helps students at small N; a student's risk tracks its teacher's error to p*.",
    sizes=kit.sizes(Config(), full=dict(seeds=50, steps=3000, risk_draws=2000, num_test=20000),
                    smoke=dict(seeds=4, sizes=(20, 100, 500), steps=300, risk_draws=100,
                               num_test=2000)),
    measure=measure, tables=TABLES, derive=derive, expectations=EXPECTATIONS, plot=plot)

r"""``variance_reduction``: Menon et al. (2021), "A statistical perspective on distillation".

A 3-class Gaussian mixture in 2-D with class-specific covariances (``make_gmm_problem``), whose
Bayes posterior :math:`p^*(y \mid x)` is exact. For training-set sizes
:math:`N \in \{20, 50, 100, 200, 500, 2000\}` and many seeds:

1. **Variance of the empirical risk** of one fixed predictor :math:`f` (a quadratic logistic
   model fit once on 2,000 independent one-hot examples), computed on :math:`N` fresh examples
   with one-hot labels, :math:`\hat R = \frac1N\sum_i \ell(y_i, f(x_i))`, and with the Bayes
   teacher's distribution, :math:`\hat R_* = \frac1N\sum_i \sum_y p^*(y\mid x_i)\,\ell(y, f(x_i))`.
   Both are unbiased for :math:`R(f)`; :math:`\hat R_*` is the conditional expectation of
   :math:`\hat R` given the inputs, so its variance is never larger (Menon et al., Lemma 1).
   Tempered teachers :math:`p^{*1/\tau}` (renormalised) are biased for :math:`\tau \ne 1`.
2. **Students** trained on one-hot labels, on :math:`p^*` and on tempered teachers
   :math:`\tau \in \{0.3, 0.5, 2, 3\}`: a multinomial logistic model on quadratic features (the
   family that contains :math:`p^*`, so optimisation and capacity are not in the way), fit to
   convergence by full-batch Adam with a weak Gaussian prior (:math:`\sigma^2 = 10`), every
   (N, seed, target) member in one vmapped, compiled run. Reported: test NLL, and its excess
   over the Bayes NLL against the teacher's squared error to :math:`p^*`. Menon et al.'s bound
   (Prop. 3) splits that error into a bias, :math:`\mathbb E_x\|\mathbb E[p_t \mid x] -
   p^*(x)\|^2` (zero for one-hot labels, whose mean is :math:`p^*`; the whole error for a
   tempered teacher, a fixed function of x) and a variance that shrinks like 1/N; so at large N
   the student's excess risk should follow the teacher's bias.

Command: ``bayeskd reproduce variance_reduction --size quick`` (20 seeds; about 3 min on 2
cores).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
from scipy.stats import spearmanr

from bayeskd.data import make_gmm_problem
from bayeskd.experiments.figures._base import Comparison, FigureInfo, Report, Units, log_fn
from bayeskd.metrics import format_mean_std, summarize

INFO = FigureInfo(
    name="variance_reduction",
    title="Bayes-teacher labels lower the variance of the risk (Menon et al. 2021)",
    paper="A. K. Menon, A. S. Rawat, S. J. Reddi, S. Kim, S. Kumar. A statistical perspective on "
          "distillation. ICML 2021",
    mirrors="§3–4 (Lemma 1, Prop. 3) and the synthetic Gaussian experiment (Fig. 2)",
    claim="Training on p*(y|x) instead of one-hot labels lowers the variance of the empirical "
          "risk and gives a better student at small N; the student's risk tracks the teacher's "
          "squared error to p*.",
    runtime={"smoke": "~10 s", "quick": "~3 min", "full": "~10 min"},
)

TAUS = (0.3, 0.5, 1.0, 2.0, 3.0)  # tau = 1 is p* itself
PRIOR_VARIANCE = 10.0


@dataclasses.dataclass(frozen=True)
class Size:
    seeds: int
    sizes: tuple[int, ...]
    steps: int
    risk_draws: int
    num_test: int


SIZES = {
    "smoke": Size(seeds=4, sizes=(20, 100, 500), steps=300, risk_draws=100, num_test=2000),
    "quick": Size(seeds=20, sizes=(20, 50, 100, 200, 500, 2000), steps=1500, risk_draws=400,
                  num_test=10000),
    "full": Size(seeds=50, sizes=(20, 50, 100, 200, 500, 2000), steps=3000, risk_draws=2000,
                 num_test=20000),
}


def arms() -> list[str]:
    return ["one-hot"] + [("p*" if t == 1.0 else f"p*^(1/{t:g})") for t in TAUS]


def tempered(p: np.ndarray, tau: float) -> np.ndarray:
    """:math:`p^{1/\\tau}` renormalised over classes."""
    logp = np.log(np.clip(p, 1e-300, None)) / tau
    logp -= logp.max(-1, keepdims=True)
    q = np.exp(logp)
    return q / q.sum(-1, keepdims=True)


class Features:
    """Quadratic features ``[x1, x2, x1^2, x2^2, x1 x2]``, standardised by fixed constants."""

    def __init__(self, x_ref: np.ndarray):
        raw = self._raw(x_ref)
        self.mean, self.std = raw.mean(0), raw.std(0)

    @staticmethod
    def _raw(x):
        return np.concatenate([x, x**2, x[:, :1] * x[:, 1:2]], axis=1)

    def __call__(self, x):
        return ((self._raw(x) - self.mean) / self.std).astype(np.float32)


def fit_softmax(phi_MND, q_MNK, w_MN, *, steps: int, prior_variance: float = PRIOR_VARIANCE):
    """Full-batch MAP fits of ``M`` multinomial logistic models in one vmapped, compiled run.

    Minimises :math:`\\frac{\\sum_i w_i \\mathrm{CE}(q_i, \\mathrm{softmax}(\\phi_i W + b))}
    {\\sum_i w_i} + \\frac{\\|W\\|^2}{2 \\sigma^2 N}` (``w`` masks padding; ``N = sum w``) with
    Adam and a cosine learning-rate decay. Returns ``(W [M, D, K], b [M, K])``.
    """
    d, k = phi_MND.shape[-1], q_MNK.shape[-1]
    tx = optax.adam(optax.cosine_decay_schedule(0.1, steps))

    def loss(params, phi, q, w):
        W, b = params
        logp = jax.nn.log_softmax(phi @ W + b, axis=-1)
        n = jnp.sum(w)
        ce = -jnp.sum(w * jnp.sum(q * logp, -1)) / n
        return ce + jnp.sum(W**2) / (2 * prior_variance * n)

    def one(phi, q, w):
        params = (jnp.zeros((d, k)), jnp.zeros((k,)))

        def step(carry, _):
            p, s = carry
            g = jax.grad(loss)(p, phi, q, w)
            u, s = tx.update(g, s, p)
            return (optax.apply_updates(p, u), s), None

        (params, _), _ = jax.lax.scan(step, (params, tx.init(params)), length=steps)
        return params

    return jax.jit(jax.vmap(one))(jnp.asarray(phi_MND), jnp.asarray(q_MNK), jnp.asarray(w_MN))


def run(size: Size, *, seeds: int, log=None, progress=None, units: Units | None = None) -> Report:
    del progress
    log = log_fn(log)
    units = units or Units()
    problem = make_gmm_problem(dim=2, num_classes=3, separation=2.0, seed=0)
    feats = Features(problem.sample(20000, seed=99)[0])
    x_test, y_test = problem.sample(size.num_test, seed=98)
    p_test = problem.bayes_probs(x_test)
    bayes_nll = float(-np.mean(np.log(p_test[np.arange(len(y_test)), y_test])))
    phi_test = feats(x_test)
    arm_names = arms()

    def targets(x, y, arm):
        if arm == 0:
            return np.eye(3, dtype=np.float32)[y]
        return tempered(problem.bayes_probs(x), TAUS[arm - 1]).astype(np.float32)

    # units: "risk" (the risk-variance part) and "students" (every N, seed and target)
    def risk_part():
        # The fixed predictor f for the risk-variance part: one-hot MAP fit on 2,000 other points.
        x_f, y_f = problem.sample(2000, seed=97)
        Wf, bf = fit_softmax(feats(x_f)[None], targets(x_f, y_f, 0)[None],
                             np.ones((1, 2000), np.float32), steps=max(size.steps, 1000))
        f_logp = lambda x: np.asarray(jax.nn.log_softmax(feats(x) @ Wf[0] + bf[0], -1))  # noqa: E731
        x_big, y_big = problem.sample(100000, seed=96)
        true_risk = float(-np.mean(f_logp(x_big)[np.arange(len(y_big)), y_big]))
        rows: list[dict] = []
        for n in size.sizes:
            est = {a: [] for a in arm_names}
            for r in range(size.risk_draws):
                x, y = problem.sample(n, seed=np.random.SeedSequence([1, n, r]))
                lp = f_logp(x)
                for a, name in enumerate(arm_names):
                    q = targets(x, y, a)
                    est[name].append(float(-np.mean(np.sum(q * lp, -1))))
            for name in arm_names:
                v = np.asarray(est[name])
                rows.append({"part": "risk", "n": n, "target": name, "mean_risk": float(v.mean()),
                             "bias": float(v.mean() - true_risk), "variance": float(v.var(ddof=1)),
                             "n_x_variance": float(n * v.var(ddof=1))})
        return {"true_risk": true_risk, "rows": rows}

    part = units("risk", risk_part)
    true_risk, rows = part["true_risk"], list(part["rows"])
    log(f"[variance_reduction] risk variance over {size.risk_draws} draws per N done")

    # Students: every (N, seed, target) member in one run, data padded to the largest N.
    n_max = max(size.sizes)
    members = [(n, s, a) for n in size.sizes for s in range(seeds) for a in range(len(arm_names))]

    def students():
        phi = np.zeros((len(members), n_max, 5), np.float32)
        q = np.zeros((len(members), n_max, 3), np.float32)
        w = np.zeros((len(members), n_max), np.float32)
        for m, (n, s, a) in enumerate(members):
            x, y = problem.sample(n, seed=np.random.SeedSequence([2, n, s]))
            phi[m, :n], q[m, :n], w[m, :n] = feats(x), targets(x, y, a), 1.0
        W, b = fit_softmax(phi, q, w, steps=size.steps)
        logits = np.einsum("nd,mdk->mnk", phi_test, np.asarray(W)) + np.asarray(b)[:, None]
        return {"logp": np.asarray(jax.nn.log_softmax(logits, -1))}

    logp = units("students", students)["logp"]
    # E||p_t - p*||^2 (bias + variance) and its bias part E||E[p_t|x] - p*||^2
    teacher_mse = {"one-hot": float(np.mean(1.0 - 2 * p_test[np.arange(len(y_test)), y_test]
                                            + np.sum(p_test**2, -1)))}
    teacher_bias = {"one-hot": 0.0}
    for a, tau in enumerate(TAUS, start=1):
        teacher_mse[arm_names[a]] = float(np.mean(np.sum((tempered(p_test, tau) - p_test) ** 2, -1)))
        teacher_bias[arm_names[a]] = teacher_mse[arm_names[a]]
    for m, (n, s, a) in enumerate(members):
        nll = float(-np.mean(logp[m][np.arange(len(y_test)), y_test]))
        rows.append({"part": "student", "n": n, "seed": s, "target": arm_names[a], "test_nll": nll,
                     "excess_nll": nll - bayes_nll,
                     "accuracy": float(np.mean(logp[m].argmax(-1) == y_test)),
                     "teacher_mse_to_bayes": teacher_mse[arm_names[a]],
                     "teacher_bias_to_bayes": teacher_bias[arm_names[a]]})
    log(f"[variance_reduction] {len(members)} students fit")
    return _report(rows, size, seeds, bayes_nll, true_risk, teacher_mse, teacher_bias)


def _report(rows, size, seeds, bayes_nll, true_risk, teacher_mse, teacher_bias) -> Report:
    names = arms()
    risk = {(r["n"], r["target"]): r for r in rows if r["part"] == "risk"}
    stud = summarize([r for r in rows if r["part"] == "student"], group=("n", "target"),
                     metrics=["test_nll", "excess_nll", "accuracy"])
    ns = list(size.sizes)
    ratio = [risk[(n, "one-hot")]["variance"] / risk[(n, "p*")]["variance"] for n in ns]
    n0 = ns[0]
    nll_oh = stud[(n0, "one-hot")]["test_nll"]
    nll_ps = stud[(n0, "p*")]["test_nll"]
    rho = {}
    for n in ns:
        x = [teacher_bias[a] for a in names]
        y = [stud[(n, a)]["excess_nll"]["mean"] for a in names]
        rho[n] = float(spearmanr(x, y).statistic)
    lower_all = all(stud[(n, "p*")]["test_nll"]["mean"]
                    <= stud[(n, "one-hot")]["test_nll"]["mean"] for n in ns)
    gap = {n: stud[(n, "one-hot")]["test_nll"]["mean"]
           - stud[(n, "p*")]["test_nll"]["mean"] for n in ns}
    comparisons = [
        Comparison("variance of the empirical risk, one-hot / p*", "> 1 at every N (Lemma 1)",
                   ", ".join(f"N={n}: {v:.2f}" for n, v in zip(ns, ratio, strict=True)),
                   agrees=all(v > 1 for v in ratio),
                   note=f"{size.risk_draws} draws per N"),
        Comparison(f"student test NLL at N={n0}", "p* better than one-hot",
                   f"one-hot {format_mean_std(nll_oh)} vs p* {format_mean_std(nll_ps)} "
                   f"(Bayes {bayes_nll:.3f})",
                   agrees=nll_ps["mean"] < nll_oh["mean"]),
        Comparison("advantage of p* shrinks as N grows", "largest at small N",
                   ", ".join(f"N={n}: {gap[n]:+.3f}" for n in ns),
                   agrees=gap[ns[0]] > gap[ns[-1]] and lower_all),
        Comparison("student excess NLL vs the teacher's bias to p* (Spearman ρ over the "
                   f"{len(names)} targets)",
                   "student risk tracks the teacher's squared error; its variance part fades "
                   "with N (Prop. 3)",
                   ", ".join(f"N={n}: {rho[n]:.2f}" for n in ns),
                   agrees=rho[ns[-1]] > 0.5),
    ]
    notes = [_risk_note(risk, ns, names, true_risk, rho),
             f"{seeds} seeds per (N, target); students are quadratic logistic models, fit with "
             f"{size.steps} full-batch Adam steps, prior variance {PRIOR_VARIANCE}.",
             _teacher_error_note(stud, ns, names, teacher_mse)]
    fig = _figure(risk, stud, ns, names, teacher_bias)
    n_lo, n_hi = ns[int(np.argmin(ratio))], ns[int(np.argmax(ratio))]
    headline = (f"Var(one-hot)/Var(p*) = {min(ratio):.1f}x (N={n_lo}) to {max(ratio):.1f}x "
                f"(N={n_hi}); test NLL at N={n0}: "
                f"one-hot {nll_oh['mean']:.3f} vs p* {nll_ps['mean']:.3f}; Spearman ρ(student "
                f"excess NLL, teacher bias) = {rho[ns[-1]]:.2f} at N={ns[-1]}")
    return Report(rows=rows, summary={"students": stud,
                                      "variance_ratio": dict(zip(ns, ratio, strict=True)),
                                      "spearman": rho,
                                      "bayes_nll": bayes_nll, "true_risk": true_risk,
                                      "teacher_mse_to_bayes": teacher_mse,
                                      "teacher_bias_to_bayes": teacher_bias},
                  comparisons=comparisons, figures={"variance_reduction": fig},
                  headline=headline, notes=notes)


def _risk_note(risk, ns, names, true_risk, rho) -> str:
    """R(f), and how biased each tempered target's risk estimate is at the largest N."""
    n = ns[-1]
    tempered_ = [a for a in names if a not in ("one-hot", "p*")]
    biases = ", ".join(f"{a} {risk[(n, a)]['bias']:+.4f}" for a in tempered_)
    unbiased = ", ".join(f"{a} {risk[(n, a)]['bias']:+.4f}" for a in ("one-hot", "p*"))
    return (f"Risk of the fixed predictor: R(f) = {true_risk:.4f} (100,000 examples). Bias of the "
            f"risk estimate at N={n}: {biases} for the tempered teachers, against {unbiased} for "
            f"the two unbiased targets; Spearman ρ between the students' excess NLL and the "
            f"teachers' bias is {rho[n]:.2f} at N={n}.")


def _teacher_error_note(stud, ns, names, teacher_mse) -> str:
    """Where one-hot labels rank among the targets at the smallest and largest N, and whether a
    sharpened teacher costs more than a flattened one of similar squared error."""
    def excess(n, a):
        return stud[(n, a)]["excess_nll"]

    def rank(n):  # 1 = the lowest excess NLL
        order = sorted(names, key=lambda a: excess(n, a)["mean"])
        return order.index("one-hot") + 1

    lo, hi = ns[0], ns[-1]
    oh, ps = excess(hi, "one-hot"), excess(hi, "p*")
    diff = oh["mean"] - ps["mean"]
    within = abs(diff) <= max(oh["std"], ps["std"])
    text = ("Teacher error, E‖p_t − p*‖² over test inputs: "
            + ", ".join(f"{a} {teacher_mse[a]:.4f}" for a in names)
            + ". For one-hot labels all of it is variance (their mean given x is p*). One-hot "
            f"ranks {rank(lo)} of {len(names)} targets by student excess NLL at N={lo} and "
            f"{rank(hi)} at N={hi}, where it is {diff:+.4f} from p* ("
            + ("within" if within else "outside") + " one seed std).")
    sharp = [a for a, t in zip(names[1:], TAUS, strict=True) if t < 1]
    flat = [a for a, t in zip(names[1:], TAUS, strict=True) if t > 1]
    if sharp and flat:  # the flattened teacher nearest in squared error to the mildest sharpened one
        s_ = sharp[-1]
        f_ = min(flat, key=lambda a: abs(teacher_mse[a] - teacher_mse[s_]))
        more = excess(hi, s_)["mean"] > excess(hi, f_)["mean"]
        text += (f" At N={hi} the sharpened {s_} (error {teacher_mse[s_]:.4f}) costs the student "
                 f"{excess(hi, s_)['mean']:.4f} excess NLL and the flattened {f_} (error "
                 f"{teacher_mse[f_]:.4f}) {excess(hi, f_)['mean']:.4f}: "
                 + ("sharpening costs more than flattening at a similar squared error."
                    if more else "flattening costs at least as much as sharpening."))
    return text


def _figure(risk, stud, ns, names, teacher_bias):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    colors = dict(zip(names, ["k", *plt.cm.coolwarm(np.linspace(0, 1, len(names) - 1))],
                      strict=True))
    colors["p*"] = "tab:green"
    ax = axes[0]
    for a in names:
        ax.plot(ns, [risk[(n, a)]["variance"] for n in ns], marker="o", color=colors[a], label=a)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training-set size N")
    ax.set_ylabel("variance of the empirical risk")
    ax.set_title("risk of a fixed predictor", fontsize=10)
    ax.legend(fontsize=7)
    ax = axes[1]
    for a in names:
        m = np.array([stud[(n, a)]["excess_nll"]["mean"] for n in ns])
        s = np.array([stud[(n, a)]["excess_nll"]["std"] for n in ns])
        ax.errorbar(ns, m, yerr=s, marker="o", capsize=2, color=colors[a], label=a)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training-set size N")
    ax.set_ylabel("student test NLL − Bayes NLL")
    ax.set_title("students by training target", fontsize=10)
    ax.legend(fontsize=7)
    ax = axes[2]
    for n, c in zip(ns, plt.cm.viridis(np.linspace(0, 0.9, len(ns))), strict=True):
        x = np.array([teacher_bias[a] for a in names])
        y = np.array([stud[(n, a)]["excess_nll"]["mean"] for a in names])
        tempered_ = np.array([a not in ("one-hot",) for a in names])
        order = np.argsort(x[tempered_])
        ax.plot(x[tempered_][order], y[tempered_][order], marker="o", color=c, label=f"N={n}")
        ax.scatter(x[~tempered_], y[~tempered_], marker="x", s=40, color=c)
    ax.set_xscale("symlog", linthresh=1e-2)
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.set_xlabel("teacher bias E‖E[p_t|x] − p*‖² (0: p*, and one-hot ×)")
    ax.set_ylabel("student test NLL − Bayes NLL")
    ax.set_title("student risk tracks the teacher's bias", fontsize=10)
    ax.legend(fontsize=7)
    fig.suptitle("Menon et al. 2021 on a 3-class Gaussian mixture with exact p*(y|x) (mean ± std "
                 "over seeds)", fontsize=11)
    fig.tight_layout()
    return fig


__all__ = ["INFO", "SIZES", "Size", "fit_softmax", "run", "tempered"]

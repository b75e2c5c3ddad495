r"""``self_distillation``: born-again networks and kernel self-distillation in closed form.

(a) **Born-again networks** (Furlanello et al. 2018, Table 1 and §3.2). Generation 0 is the
    100-100 MLP trained on labels; generation :math:`g` is the same architecture trained on the
    soft targets of generation :math:`g-1` alone (:math:`\alpha = 1`, T = 1, the paper's
    objective), seed chains kept apart (the table of member ``s`` of generation ``g`` is member
    ``s`` of generation ``g-1``). Reported per generation: test accuracy, NLL and ECE, and the
    same for the ensemble of generations :math:`0..g` (probability average). The paper: born-again
    students beat their teachers, and ensembles of generations (BAN ensembles) beat them again.

(b) **Kernel self-distillation** (Mobahi, Farajtabar & Bartlett 2020, §3–4), exactly. On a
    noisy 1-D regression with an RBF Gram matrix :math:`G = V^\top D V` of the :math:`K`
    training inputs, each round solves :math:`\min_f \|f\|_{\mathcal H}` subject to
    :math:`\frac1K\sum_k (f(x_k) - y^{(t-1)}_k)^2 \le \epsilon`, whose fitted values are
    :math:`y^{(t)} = G (c_t I + G)^{-1} y^{(t-1)}`, with :math:`c_t` the root of
    :math:`\|c_t (c_t I + D)^{-1} V y^{(t-1)}\|^2 = K\epsilon`. Eigendirection :math:`k` is
    shrunk by :math:`d_k / (d_k + c_t)` in round :math:`t`, so the cumulative factor
    :math:`\prod_t d_k/(d_k + c_t)` sparsifies the solution; once
    :math:`\|y^{(t)}\| \le \sqrt{K\epsilon}` the zero function is feasible and the solution
    collapses. The paper's lower bound on the number of rounds before collapse is in terms of
    :math:`r_0 = \|y_0\| / \sqrt{K\epsilon}`; we report the collapse round next to
    :math:`r_0 - 1` (every round moves the fit by exactly :math:`\sqrt{K\epsilon}`, so
    :math:`\|y^{(t)}\| \ge \|y_0\| - t\sqrt{K\epsilon}` and collapse cannot come earlier) and
    next to the weaker, condition-number form :math:`(r_0 - 1)/\kappa`. Test error over rounds
    first falls (less overfitting), then rises (underfitting) and jumps at collapse.

Command: ``bayeskd reproduce self_distillation --size quick`` (3 seeds; about 1 min on 2 cores).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from bayeskd.experiments.common import load_job_dataset
from bayeskd.experiments.figures._base import (
    Comparison,
    FigureInfo,
    Report,
    Units,
    log_fn,
    member_logp,
    table_prior,
    train_members,
)
from bayeskd.metrics import classification_metrics, mean_std, pct, summarize

INFO = FigureInfo(
    name="self_distillation",
    title="born-again generations and closed-form kernel self-distillation",
    paper="T. Furlanello et al. Born-again neural networks. ICML 2018; H. Mobahi, M. Farajtabar, "
          "P. Bartlett. Self-distillation amplifies regularization in Hilbert space. NeurIPS 2020",
    mirrors="Furlanello Table 1 (generations, BAN ensembles); Mobahi §3–4 and Fig. 3–4 "
            "(shrinkage per eigendirection, collapse)",
    claim="Born-again students match or beat their teachers and ensembles of generations do "
          "better still; kernel self-distillation first reduces test error, then over-regularises "
          "and collapses, no earlier than the paper's bound.",
    runtime={"smoke": "~10 s", "quick": "~1 min", "full": "~5 min"},
)


@dataclasses.dataclass(frozen=True)
class Size:
    seeds: int
    steps: int
    generations: int  # born-again generations after generation 0
    kernel_points: int
    kernel_rounds: int


SIZES = {
    "smoke": Size(seeds=2, steps=300, generations=2, kernel_points=60, kernel_rounds=12),
    "quick": Size(seeds=3, steps=6000, generations=5, kernel_points=60, kernel_rounds=15),
    "full": Size(seeds=5, steps=10000, generations=5, kernel_points=60, kernel_rounds=20),
}

# The kernel problem (fixed; the noise draw is the seed).
NOISE = 0.3
LENGTH_SCALE = 0.08
EPSILON = 0.02  # the fitting tolerance: mean squared residual per round


def run(size: Size, *, seeds: int, log=None, progress=None, units: Units | None = None) -> Report:
    log = log_fn(log)
    units = units or Units()
    ds = load_job_dataset("mnist1d")
    k = ds.num_classes
    data = {"x": ds.x_train, "y": ds.y_train}
    rows: list[dict] = []
    prev_train = None
    probs_test = []
    for g in range(size.generations + 1):
        def generation(g=g, prev_train=prev_train):
            if g == 0:
                priors = [table_prior(None, n=ds.num_train, k=k, alpha=0.0, temperature=1.0)] * seeds
            else:
                priors = [table_prior(prev_train[s], n=ds.num_train, k=k, alpha=1.0,
                                      temperature=1.0) for s in range(seeds)]
            res = train_members("mlp", ds, data, priors, steps=size.steps, key=3000 + g,
                                progress=progress, desc=f"generation {g}",
                                checkpoint=units.trainer(f"generation{g}"))
            log(f"[self_distillation] generation {g} trained in {res.runtime_s:.0f} s")
            return {"logp_train": member_logp(res, ds.x_train),
                    "probs_test": np.exp(member_logp(res, ds.x_test))}

        # unit generation<g>: one generation's students (all seeds), their outputs
        part = units(f"generation{g}", generation)
        prev_train, p_test = part["logp_train"], part["probs_test"]
        if g == 0:  # how soft generation 0's targets are on the inputs the next one sees
            p0 = np.exp(prev_train)
            train_view = {"confidence": float(np.mean(p0.max(-1))),
                          "accuracy": float(np.mean(p0.argmax(-1) == ds.y_train))}
        probs_test.append(p_test)
        ens = np.mean(probs_test, axis=0)  # [S, N, K]
        for s in range(seeds):
            rows.append({"part": "ban", "generation": g, "model": "generation", "seed": s}
                        | classification_metrics(p_test[s], ds.y_test))
            rows.append({"part": "ban", "generation": g, "model": "ensemble 0..g", "seed": s}
                        | classification_metrics(ens[s], ds.y_test))
        log(f"[self_distillation] generation {g}: accuracy "
            f"{np.mean([r['accuracy'] for r in rows[-2 * seeds::2]]):.4f}")

    kernel = [kernel_self_distillation(size.kernel_points, size.kernel_rounds, seed=s)
              for s in range(seeds)]
    for s, kr in enumerate(kernel):
        for t, err in enumerate(kr["test_mse"]):
            rows.append({"part": "kernel", "round": t, "seed": s, "test_mse": float(err),
                         "collapsed": bool(t >= kr["collapse_round"])})
    return _report(rows, size, seeds, kernel, train_view)


def rbf(a: np.ndarray, b: np.ndarray, length: float = LENGTH_SCALE) -> np.ndarray:
    """The RBF kernel matrix :math:`\\exp(-(a_i - b_j)^2 / (2 \\ell^2))`."""
    return np.exp(-((a[:, None] - b[None, :]) ** 2) / (2 * length**2))


def solve_c(z: np.ndarray, d: np.ndarray, target: float) -> float:
    """The root :math:`c > 0` of :math:`\\sum_k (c z_k / (c + d_k))^2 = \\text{target}`
    (increasing in c from 0 to :math:`\\|z\\|^2`); ``inf`` when :math:`\\|z\\|^2 \\le` target."""
    if float(z @ z) <= target:
        return float("inf")
    lo, hi = -80.0, 40.0  # bisection on log c
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        c = np.exp(mid)
        val = float(np.sum((c * z / (c + d)) ** 2))
        lo, hi = (mid, hi) if val < target else (lo, mid)
    return float(np.exp(0.5 * (lo + hi)))


def kernel_self_distillation(num_points: int, rounds: int, *, seed: int,
                             epsilon: float = EPSILON) -> dict:
    """Rounds of kernel self-distillation on :math:`y = \\sin(2\\pi x) + \\text{noise}`, exactly.

    Returns per-round fits on a dense grid and on the training inputs (the next round's
    targets), test MSE against the noise-free function on the grid,
    the multipliers :math:`c_t`, the cumulative shrinkage per eigendirection, the collapse
    round, :math:`r_0` and :math:`\\kappa`.
    """
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(0, 1, num_points))
    y0 = np.sin(2 * np.pi * x) + NOISE * rng.standard_normal(num_points)
    grid = np.linspace(0, 1, 400)
    f_grid = np.sin(2 * np.pi * grid)
    d, U = np.linalg.eigh(rbf(x, x))  # G = U diag(d) U^T, ascending
    d = np.maximum(d, 1e-12)  # round-off can make the smallest eigenvalues slightly negative
    Kg = rbf(grid, x)
    target = num_points * epsilon
    y = y0.copy()
    test_mse, cs, shrink, fits, train_fits = [], [], [], [], []
    cumulative = np.ones(num_points)
    collapse = rounds
    for t in range(rounds):
        z = U.T @ y
        c = solve_c(z, d, target)
        if not np.isfinite(c):
            collapse = min(collapse, t)
            alpha = np.zeros(num_points)
            factor = np.zeros(num_points)
        else:
            alpha = U @ (z / (c + d))  # (cI + G)^{-1} y in the eigenbasis
            factor = d / (d + c)
        cumulative = cumulative * factor
        f_t = Kg @ alpha
        test_mse.append(float(np.mean((f_t - f_grid) ** 2)))
        cs.append(c)
        shrink.append(cumulative[::-1].copy())  # largest eigenvalue first
        fits.append(f_t)
        y = U @ (d * (U.T @ alpha))  # G alpha: the fitted values, the next round's targets
        train_fits.append(y)
    r0 = float(np.linalg.norm(y0) / np.sqrt(target))
    kappa = float(d.max() / d.min())
    return {"x": x, "y0": y0, "grid": grid, "f_grid": f_grid, "fits": np.array(fits),
            "train_fits": np.array(train_fits), "gram_eigenvalues": d[::-1].copy(),
            "test_mse": np.array(test_mse), "c": np.array(cs), "shrinkage": np.array(shrink),
            "collapse_round": collapse, "r0": r0, "kappa": kappa,
            "best_round": int(np.argmin(test_mse))}


def _g(s: dict) -> str:
    return f"{s['mean']:.3g} ± {s['std']:.2g}"


def _report(rows, size: Size, seeds: int, kernel: list[dict], train_view: dict) -> Report:
    ban = summarize([r for r in rows if r["part"] == "ban"], group=("model", "generation"),
                    metrics=["accuracy", "nll", "ece"])
    gens = list(range(size.generations + 1))
    acc = [ban[("generation", g)]["accuracy"] for g in gens]
    ens = [ban[("ensemble 0..g", g)]["accuracy"] for g in gens]
    above = [g for g in gens[1:] if acc[g]["mean"] > acc[0]["mean"]]
    collapse = mean_std([k["collapse_round"] for k in kernel])
    best_round = mean_std([k["best_round"] for k in kernel])
    r0_bound = mean_std([k["r0"] - 1 for k in kernel])
    kappa_bound = float(np.mean([(k["r0"] - 1) / k["kappa"] for k in kernel]))
    mse0 = mean_std([k["test_mse"][0] for k in kernel])
    mse_best = mean_std([k["test_mse"].min() for k in kernel])
    mse_last = mean_std([k["test_mse"][-1] for k in kernel])
    by_gen = ", ".join(f"gen {g} {pct(acc[g])}" for g in gens)
    comparisons = [
        Comparison("born-again student (generation 1) vs its generation-0 teacher",
                   "students beat teachers (CIFAR-100 DenseNets: e.g. 1 to 2 points)",
                   f"{by_gen}; {len(above)} of {len(gens) - 1} later generations above gen 0",
                   agrees=acc[1]["mean"] > acc[0]["mean"]),
        Comparison("ensemble of generations vs the last generation",
                   "BAN ensembles improve further",
                   f"ensemble 0..{gens[-1]}: {pct(ens[-1])} vs gen {gens[-1]}: {pct(acc[-1])}",
                   agrees=ens[-1]["mean"] > acc[-1]["mean"]),
        Comparison("kernel self-distillation: test MSE improves, then worsens",
                   "a few rounds reduce overfitting, more rounds underfit",
                   f"round 0 {_g(mse0)} → best {_g(mse_best)} (round "
                   f"{best_round['mean']:.1f}) → last {_g(mse_last)}",
                   agrees=mse_best["mean"] < mse0["mean"] and mse_last["mean"] > mse_best["mean"]),
        # Not a verdict: every round moves the fit by exactly sqrt(K eps), so by the triangle
        # inequality collapse can never come before r0 - 1; the row reports how far after.
        Comparison("collapse round and the lower bound r0 − 1",
                   "no collapse before the bound",
                   f"collapse at round {collapse['mean']:.1f} ± {collapse['std']:.1f}; bound "
                   f"r0 − 1 = {r0_bound['mean']:.2f}",
                   agrees=None, note="holds by construction: the triangle inequality"),
    ]
    spread = [a["mean"] for a in acc[1:]]
    notes = [
        f"Born-again: the 100-100 MLP, {size.steps} steps per generation, trained on the previous "
        "generation's soft targets alone (T = 1). On its "
        f"{100 * train_view['accuracy']:.1f}%-correct training inputs generation 0 puts a mean "
        f"probability of {100 * train_view['confidence']:.1f}% on its top class; later "
        f"generations span {100 * min(spread):.1f}–{100 * max(spread):.1f}% test accuracy "
        f"against {100 * acc[0]['mean']:.1f}% for generation 0.",
        f"Kernel: {size.kernel_points} inputs uniform on [0, 1], y = sin(2πx) + N(0, {NOISE}²), "
        f"RBF length scale {LENGTH_SCALE}, ε = {EPSILON} (mean squared residual per round); "
        "test MSE against the noise-free function on a 400-point grid. ε is "
        + ("below" if EPSILON < NOISE**2 else "not below")
        + f" the noise variance {NOISE**2:.2f}, and round 0's test MSE is {_g(mse0)}. The "
        f"condition number κ of the Gram matrix is ≈ {np.mean([k['kappa'] for k in kernel]):.1e}, "
        f"so the κ-form bound (r0 − 1)/κ is {kappa_bound:.2g} rounds.",
    ]
    if not comparisons[0].agrees:
        conf = train_view["confidence"]
        notes.append(
            f"Generation 1 does not beat generation 0 ({100 * (acc[1]['mean'] - acc[0]['mean']):+.1f}"
            f" points). Generation 0's targets put {100 * conf:.1f}% on their top class on "
            "average" + (", near one-hot: little dark knowledge to pass on" if conf >= 0.95
                         else "") + "; Furlanello's DenseNets/ResNets were trained on CIFAR with "
            "augmentation, where train predictions stay soft.")
    fig = _figure(ban, gens, kernel)
    headline = ("BAN test accuracy by generation "
                + ", ".join(f"{100 * a['mean']:.1f}" for a in acc)
                + f"%, ensemble of all {100 * ens[-1]['mean']:.1f}%; kernel "
                f"MSE {mse0['mean']:.4f} → {mse_best['mean']:.4f} (round "
                f"{best_round['mean']:.0f}), collapse at round {collapse['mean']:.1f} "
                f"(bound {r0_bound['mean']:.1f})")
    extra = {"kernel": [{"c": k["c"], "test_mse": k["test_mse"], "collapse_round": k["collapse_round"],
                         "r0": k["r0"], "kappa": k["kappa"], "best_round": k["best_round"],
                         "shrinkage_first_10_directions": k["shrinkage"][:, :10]}
                        for k in kernel]}
    return Report(rows=rows, summary={"born_again": ban, "kernel": {
        "collapse_round": collapse, "best_round": best_round, "r0_minus_1": r0_bound,
        "test_mse_round0": mse0, "test_mse_best": mse_best, "test_mse_last": mse_last}},
        comparisons=comparisons, figures={"self_distillation": fig}, headline=headline,
        extra=extra, notes=notes)


def _figure(ban, gens, kernel):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 5, figsize=(18, 3.4))
    for ax, key, label in ((axes[0], "accuracy", "test accuracy (%)"), (axes[1], "ece", "ECE (%)")):
        for model, color in (("generation", "tab:blue"), ("ensemble 0..g", "tab:orange")):
            m = np.array([ban[(model, g)][key]["mean"] for g in gens])
            s = np.array([ban[(model, g)][key]["std"] for g in gens])
            ax.errorbar(gens, 100 * m, yerr=100 * s, marker="o", capsize=3, color=color, label=model)
        ax.set_xlabel("born-again generation")
        ax.set_ylabel(label)
        ax.legend(fontsize=7)
    axes[0].set_title("(a) born-again MLPs on MNIST-1D", fontsize=10)
    k0 = kernel[0]
    ax = axes[2]
    ax.scatter(k0["x"], k0["y0"], s=8, color="k", label="data")
    ax.plot(k0["grid"], k0["f_grid"], "k--", lw=1, label="truth")
    show = sorted({0, 1, 2, k0["best_round"], max(k0["collapse_round"] - 1, 0)})
    colors = plt.cm.plasma(np.linspace(0, 0.85, len(show)))
    for t, c in zip(show, colors, strict=True):
        ax.plot(k0["grid"], k0["fits"][t], color=c, lw=1.2, label=f"round {t}")
    ax.set_title("(b) kernel self-distillation fits (seed 0)", fontsize=10)
    ax.legend(fontsize=6)
    ax = axes[3]
    n_show = min(12, k0["shrinkage"].shape[1])
    for t, c in zip(show, colors, strict=True):
        ax.plot(np.arange(1, n_show + 1), k0["shrinkage"][t, :n_show], marker=".", color=c,
                label=f"after round {t}")
    ax.set_xlabel("eigendirection (largest eigenvalue first)")
    ax.set_ylabel("cumulative shrinkage ∏ d/(d+c)")
    ax.legend(fontsize=6)
    ax = axes[4]
    mse = np.array([k["test_mse"] for k in kernel])
    rounds = np.arange(mse.shape[1])
    ax.errorbar(rounds, mse.mean(0), yerr=mse.std(0, ddof=1) if len(kernel) > 1 else None,
                marker=".", capsize=2, color="k")
    ax.axvline(np.mean([k["collapse_round"] for k in kernel]), color="tab:red", ls="-",
               lw=1, label="collapse (mean)")
    ax.axvline(np.mean([k["r0"] - 1 for k in kernel]), color="tab:red", ls=":", lw=1,
               label="bound r0 − 1")
    ax.set_yscale("log")
    ax.set_xlabel("self-distillation round")
    ax.set_ylabel("test MSE")
    ax.legend(fontsize=7)
    fig.suptitle("Self-distillation: Furlanello et al. 2018 (a) and Mobahi et al. 2020 (b), "
                 "mean ± std over seeds", fontsize=11)
    fig.tight_layout()
    return fig


__all__ = ["INFO", "SIZES", "Size", "kernel_self_distillation", "run", "solve_c"]

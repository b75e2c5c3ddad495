# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 · The posterior zoo: every approximation as a teacher, and what its student keeps
#
# > 教師分布は：
# >
# > * 多数の仮説の平均
# > * 不確実性を含む
# >
# > これを模倣すると：
# >
# > * クラス境界が滑らか
# > * 確信しすぎない
# > * ノイズに頑健
# >
# > 👉 **ベイズ平均 = バリアンス低減**
#
# *The teacher's distribution is an average of many hypotheses and contains uncertainty;
# imitating it gives smooth class boundaries, no overconfidence and robustness to noise →
# Bayesian averaging = variance reduction.* (知識蒸留とベイズ的解釈 §5)
#
# If a teacher is valuable *because* it is a posterior average, then the better a teacher
# approximates the posterior predictive, the better its student should be, and a student,
# one network, can only keep part of what a posterior holds. On two moons with 50 training
# points (after Korattikara et al. 2015's toy problem) this notebook fits every posterior
# approximation of `bayeskd.posteriors` to the same Bayesian network, compares each with a
# NUTS reference, distils each into the same small student in one vmapped run, and measures
# what the students keep.
#
# The command `bayeskd posterior-zoo` runs the full version (more methods, seeds, tables);
# this notebook shows the code. Size: `BAYESKD_SIZE=quick` (default; the outputs shown, a
# few minutes) or `smoke` (seconds, for the tests; numbers meaningless).

# %%
import warnings

import jax
import matplotlib.pyplot as plt
import numpy as np

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm without ipywidgets
from bayeskd.notebook import setup  # noqa: E402  (after the filter: bayeskd's progress bars import tqdm)

SIZE = setup()  # BAYESKD_SIZE: smoke (seconds, the tests) or quick (the committed outputs)

# %% [markdown]
# ## The problem and the teachers
#
# A 2-10-2 ReLU network with an `N(0, 1)` prior on every weight (weight decay `1/N` for the
# optimisers: every method targets the same posterior), 50 training points.
#
# | teacher | `bayeskd.posteriors` | reference |
# |---|---|---|
# | MAP, one network | `fit_map` | |
# | deep ensemble of 10 | `fit_ensemble` | Lakshminarayanan et al. 2017 |
# | SWAG and SWAG-Diagonal | `fit_swag`, `SWAG(..., diagonal=True)` | Maddox et al. 2019 |
# | MC dropout (p = 0.1) | `MCDropout` | Gal & Ghahramani 2016 |
# | last-layer Laplace, prior precision by evidence | `LastLayerLaplace` | Daxberger et al. 2021 |
# | SGLD, 4 chains | `fit_sgld` | Welling & Teh 2011 |
# | mean-field variational inference | `run_svi`, `SVIPosterior` | Blundell et al. 2015 |
# | NUTS (the reference) | `BayesianNet`, `run_nuts` | Hoffman & Gelman 2014 |

# %%
import time

from bayeskd.data import grid_2d, load_moons, noised
from bayeskd.models import make_model
from bayeskd.posteriors import (
    SWAG,
    BayesianNet,
    LastLayerLaplace,
    MCDropout,
    SVIPosterior,
    fit_ensemble,
    fit_sgld,
    fit_swag,
    run_nuts,
    run_svi,
    weight_decay_from_prior_std,
)
from bayeskd.priors import GaussianPrior
from bayeskd.training import TrainConfig, fit

Z = {
    "smoke": dict(steps=200, members=4, swag_steps=100, sgld_steps=400, sgld_burn=100, svi_steps=200,
                  nuts=(30, 30, 2), samples=8, grid=30, copies=5, student_steps=200),
    "quick": dict(steps=3000, members=10, swag_steps=2000, sgld_steps=20000, sgld_burn=5000, svi_steps=5000,
                  nuts=(400, 400, 4), samples=50, grid=60, copies=100, student_steps=5000),
}[SIZE]
ds = load_moons(num_train=50, num_test=500, seed=0)
points, xx, yy = grid_2d(ds.x_train, resolution=Z["grid"], margin=1.0)
key = jax.random.key(0)
k = lambda i: jax.random.fold_in(key, i)  # noqa: E731

prior_std = 1.0
prior = GaussianPrior(weight_decay=weight_decay_from_prior_std(prior_std, ds.num_train))
net = lambda kk, dropout=0.0: make_model("mlp", (2,), 2, key=kk, hidden=(10,), dropout=dropout)  # noqa: E731
data = {"x": ds.x_train, "y": ds.y_train}
cfg = TrainConfig(steps=Z["steps"], batch_size=50, learning_rate=1e-2, eval_every=Z["steps"])
S = Z["samples"]

teachers, seconds = {}, {}


def timed(name, make):
    t0 = time.perf_counter()
    teachers[name] = make()
    seconds[name] = time.perf_counter() - t0


timed("ensemble", lambda: fit_ensemble(net, data, prior=prior, config=cfg, key=k(0),
                                       num_members=Z["members"], progress=False))
ens = teachers["ensemble"]
teachers["MAP"] = ens.member(0)
map_params = jax.tree.map(lambda a: a[0], ens.params)
timed("SWAG", lambda: fit_swag(net, data, prior=prior, init_params=ens.member(0).params, key=k(1),
                               steps=Z["swag_steps"], learning_rate=0.05, batch_size=10, collect_every=10,
                               num_samples=S, progress=False))
teachers["SWAG-diag"] = SWAG(teachers["SWAG"].graphdef, teachers["SWAG"].state, diagonal=True, num_samples=S)
timed("MC dropout", lambda: MCDropout.from_fit(
    fit(lambda kk: net(kk, dropout=0.1), data, prior=prior, config=cfg, key=k(2), progress=False),
    num_samples=S))
timed("Laplace", lambda: LastLayerLaplace(ens.graphdef, map_params, ds.x_train, ds.y_train, num_samples=S))
timed("SGLD", lambda: fit_sgld(net, data, prior=prior, key=k(3), step_size=1e-3, num_steps=Z["sgld_steps"],
                               burn_in=Z["sgld_burn"], thin=100, batch_size=50, num_chains=4,
                               init_params=jax.tree.map(lambda a: a[:4], ens.params), progress=False))
bnn = BayesianNet(net, key=k(4), prior_std=prior_std)
timed("SVI", lambda: SVIPosterior(bnn, run_svi(bnn.model, ds.x_train, ds.y_train, key=k(5),
                                               num_steps=Z["svi_steps"]), num_samples=S))
warmup, draws, chains = Z["nuts"]
t0 = time.perf_counter()
nuts_run = run_nuts(bnn.model, ds.x_train, ds.y_train, key=k(6), num_warmup=warmup, num_samples=draws,
                    num_chains=chains)
teachers["NUTS"] = bnn.posterior(nuts_run, name="nuts")
seconds["NUTS"] = time.perf_counter() - t0
seconds["MAP"] = seconds["ensemble"] / Z["members"]
order = ["MAP", "ensemble", "SWAG", "SWAG-diag", "MC dropout", "Laplace", "SGLD", "SVI", "NUTS"]
print(f"NUTS: {chains} chains x {draws} draws, {nuts_run.num_divergent} divergent transitions")
print("fitting time: " + ", ".join(f"{m} {seconds[m]:.1f} s" for m in order if m in seconds))

# %% [markdown]
# ## How close is each teacher to the posterior predictive?
#
# Every teacher is used only through its predictive (`offline_predictive`: the mean over
# weight samples, in probability space). Distances to NUTS are averaged over a grid covering
# the plane, far from the data included, as Korattikara et al. (2015) did; the epistemic
# part of the uncertainty is the mutual information between label and weights.

# %%
from bayeskd.metrics import entropy, kl_divergence, mutual_information
from bayeskd.posteriors import offline_predictive, predictive_metrics, reference_distances

pred = {}
for m in order:
    g = offline_predictive(teachers[m], points, key=k(7), keep_samples=True)
    t = offline_predictive(teachers[m], ds.x_test, key=k(7), keep_samples=True)
    pred[m] = {"grid": g.probs, "test": t.probs,
               "mi_grid": float(np.mean(mutual_information(g.sample_probs))),
               "entropy_grid": np.asarray(entropy(g.probs)),
               "row": predictive_metrics(t.probs, ds.y_test, sample_probs=t.sample_probs)}
ref = pred["NUTS"]["grid"]
for m in order:
    pred[m] |= reference_distances(ref, pred[m]["grid"], suffix="_grid")
print(f"{'teacher':11s} {'acc':>6s} {'NLL':>6s} {'grid entropy':>13s} {'grid MI':>8s} "
      f"{'agree NUTS':>11s} {'KL(NUTS||.)':>12s}")
for m in order:
    p = pred[m]
    print(f"{m:11s} {p['row']['accuracy']:6.3f} {p['row']['nll']:6.3f} {p['entropy_grid'].mean():13.3f} "
          f"{p['mi_grid']:8.3f} {p['agreement_ref_grid']:11.3f} {p['kl_ref_grid']:12.4f}")

# %% [markdown]
# ## Distilling every teacher at once
#
# Each teacher's predictive is computed once on a transfer set, the 50 training inputs plus
# noisy copies of them (σ = 0.5; Korattikara et al. perturb training inputs the same way),
# and `distill` trains one student per teacher in a single compiled, vmapped run: a 2-20-2
# network trained on `KL(p_teacher ‖ p_student)` alone (α = 1, T = 1), no labels.

# %%
from bayeskd.posteriors import distill, teacher_log_probs
from bayeskd.training import predict_logits_members

x_transfer = np.concatenate([ds.x_train, noised(ds.x_train, sigma=0.5, seed=7, copies=Z["copies"])])
table = np.stack([teacher_log_probs(teachers[m], x_transfer, key=k(8)) for m in order])  # [M, N, K]
student = lambda kk: make_model("mlp", (2,), 2, key=kk, hidden=(20,))  # noqa: E731
students = distill(student, x_transfer, table, key=k(9), progress=False,
                   config=TrainConfig(steps=Z["student_steps"], batch_size=100, learning_rate=1e-2,
                                      eval_every=Z["student_steps"]))
s_grid = np.asarray(jax.nn.softmax(predict_logits_members(students.graphdef, students.params, points)))
s_test = np.asarray(jax.nn.softmax(predict_logits_members(students.graphdef, students.params, ds.x_test)))
print(f"{len(order)} students on {len(x_transfer)} transfer inputs in {students.runtime_s:.0f} s")
for i, m in enumerate(order):
    pred[m]["student"] = {
        "grid": s_grid[i], "entropy_grid": np.asarray(entropy(s_grid[i])),
        "row": predictive_metrics(s_test[i], ds.y_test),
        "kl_ref_grid": reference_distances(ref, s_grid[i])["kl_ref"],
        "kl_teacher_grid": float(kl_divergence(pred[m]["grid"], s_grid[i])),
    }

# %%
extent = (xx.min(), xx.max(), yy.min(), yy.max())
fig, axes = plt.subplots(4, len(order), figsize=(1.45 * len(order), 6.0))
rows = [("teacher p(y=1|x)", lambda m: pred[m]["grid"][:, 1], "RdBu_r", (0, 1)),
        ("student p(y=1|x)", lambda m: pred[m]["student"]["grid"][:, 1], "RdBu_r", (0, 1)),
        ("teacher entropy", lambda m: pred[m]["entropy_grid"], "magma", (0, np.log(2))),
        ("student entropy", lambda m: pred[m]["student"]["entropy_grid"], "magma", (0, np.log(2)))]
for i, (label, value, cmap, (lo, hi)) in enumerate(rows):
    for j, m in enumerate(order):
        ax = axes[i, j]
        ax.imshow(value(m).reshape(xx.shape), origin="lower", extent=extent, aspect="auto", interpolation="nearest",
                  cmap=cmap, vmin=lo, vmax=hi)
        if i == 0:
            ax.scatter(*ds.x_train.T, c=ds.y_train, cmap="coolwarm", s=3, edgecolors="k", linewidths=0.2)
            ax.set_title(m, fontsize=8)
        if j == 0:
            ax.set_ylabel(label, fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
fig.tight_layout(pad=0.3)
plt.show()

# %% [markdown]
# What the students keep, in numbers: each teacher's and its student's distance to the NUTS
# predictive, the student's distance to its own teacher, and the mean entropy over the grid.
# A student is one network, so its predictive has no epistemic part: it can copy the
# teacher's *total* uncertainty (entropy) where the transfer set shows it, but not the split
# into aleatoric and epistemic uncertainty (the teacher's mutual information).

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 2.8))
x = np.arange(len(order))
t_kl = np.array([max(pred[m]["kl_ref_grid"], 1e-4) for m in order])
s_kl = np.array([max(pred[m]["student"]["kl_ref_grid"], 1e-4) for m in order])
axes[0].bar(x - 0.2, t_kl, 0.4, label="teacher")
axes[0].bar(x + 0.2, s_kl, 0.4, label="its student")
axes[0].set(yscale="log", title="KL(NUTS ‖ ·) over the grid (floored at 1e-4)")
axes[1].bar(x - 0.2, [pred[m]["entropy_grid"].mean() for m in order], 0.4, label="teacher entropy")
axes[1].bar(x + 0.2, [pred[m]["student"]["entropy_grid"].mean() for m in order], 0.4, label="student entropy")
axes[1].plot(x - 0.2, [pred[m]["mi_grid"] for m in order], "k_", ms=12, mew=2, label="teacher MI (epistemic)")
axes[1].set(title="mean entropy over the grid [nats]")
for ax in axes:
    ax.set_xticks(x, order, rotation=30, ha="right", fontsize=7)
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)
fig.tight_layout()
plt.show()
print(f"{'teacher':11s} {'KL(NUTS||T)':>12s} {'KL(NUTS||S)':>12s} {'KL(T||S)':>9s} {'H(T)':>6s} {'H(S)':>6s} "
      f"{'MI(T)':>6s} {'acc T':>6s} {'acc S':>6s}")
for m in order:
    p, s = pred[m], pred[m]["student"]
    print(f"{m:11s} {p['kl_ref_grid']:12.4f} {s['kl_ref_grid']:12.4f} {s['kl_teacher_grid']:9.4f} "
          f"{p['entropy_grid'].mean():6.3f} {s['entropy_grid'].mean():6.3f} {p['mi_grid']:6.3f} "
          f"{p['row']['accuracy']:6.3f} {s['row']['accuracy']:6.3f}")
print("Korattikara et al. 2015 (their toy problem, KL(HMC || .)): SGD 0.246, SGLD 0.007, distilled students 0.009-0.031")

# %% [markdown]
# ## What the run showed
#
# The cell below recomputes the verdicts from this run's numbers (at `smoke` size they mean
# nothing); the summary after it is rendered from the same numbers.

# %%
from scipy.stats import spearmanr

approx = [m for m in order if m != "NUTS"]
t_kl = {m: pred[m]["kl_ref_grid"] for m in order}
s_kl = {m: pred[m]["student"]["kl_ref_grid"] for m in order}
rho = spearmanr([t_kl[m] for m in approx], [s_kl[m] for m in approx]).statistic
averaged = [m for m in approx if m != "MAP"]
beat_map = [m for m in averaged if t_kl[m] < t_kl["MAP"]]
s_beat_map = [m for m in averaged if s_kl[m] < s_kl["MAP"]]
verdicts = [
    (f"averaging teachers are closer to the posterior predictive than MAP: {len(beat_map)} of {len(averaged)} "
     f"({', '.join(beat_map)})", len(beat_map) > len(averaged) / 2),
    (f"their students are closer than the MAP's student: {len(s_beat_map)} of {len(averaged)}",
     len(s_beat_map) > len(averaged) / 2),
    (f"a better teacher gives a better student (Spearman ρ of teacher vs student KL to NUTS: {rho:.2f})", rho > 0.5),
    (f"the NUTS student is within 0.05 nats of NUTS on the grid ({s_kl['NUTS']:.3f})", s_kl["NUTS"] < 0.05),
    ("a student keeps the teacher's total uncertainty where the teacher has it (NUTS: H(T) "
     f"{pred['NUTS']['entropy_grid'].mean():.3f}, H(S) {pred['NUTS']['student']['entropy_grid'].mean():.3f})",
     abs(pred["NUTS"]["entropy_grid"].mean() - pred["NUTS"]["student"]["entropy_grid"].mean()) < 0.05),
]
for claim, ok in verdicts:
    print(f"[{'holds' if ok else 'does not hold'}] {claim}")

# %%
# the summary, rendered from this run's numbers
from IPython.display import Markdown, display

KORATTIKARA = {"SGD": 0.246, "SGLD": 0.007, "students": (0.009, 0.031)}  # their toy problem, KL(HMC || .)
mi = {m: pred[m]["mi_grid"] for m in order}
h_t = {m: float(pred[m]["entropy_grid"].mean()) for m in order}
h_s = {m: float(pred[m]["student"]["entropy_grid"].mean()) for m in order}
kl_ts = {m: pred[m]["student"]["kl_teacher_grid"] for m in order}
by_kl = sorted(approx, key=lambda m: -t_kl[m])
slight = [m for m in beat_map if t_kl[m] > t_kl["MAP"] / 2]  # closer than MAP, but by under a factor 2
far_closer = [m for m in beat_map if t_kl[m] < t_kl["MAP"] / 10]  # an order of magnitude or more
most_mi = max(approx, key=mi.get)


def roughness(p1):
    """Mean jump of p(y=1|x) between neighbouring grid points: grainy maps have large jumps."""
    g = np.asarray(p1).reshape(xx.shape)
    return float(np.mean(np.abs(np.diff(g, axis=0))) + np.mean(np.abs(np.diff(g, axis=1))))


rough = {m: (roughness(pred[m]["grid"][:, 1]), roughness(pred[m]["student"]["grid"][:, 1]))
         for m in ("MAP", "MC dropout")}
copies_entropy = abs(h_t["NUTS"] - h_s["NUTS"]) < 0.05
keeps_quality = ", and so its teacher's quality" if rho > 0.5 else ""
display(Markdown("\n".join([
    f"At {SIZE} size (the outputs above; two moons, {ds.num_train} points, NUTS with {chains} × {draws} "
    f"draws and {nuts_run.num_divergent} divergent transitions):",
    "",
    f"- **Averaging teachers {'are' if verdicts[0][1] else 'are not'} closer to the posterior "
    f"predictive than one network{', but most only slightly' if len(slight) > len(beat_map) / 2 else ''}.** "
    "KL(NUTS ‖ teacher) over the grid: MAP "
    f"{t_kl['MAP']:.4f}; " + ", ".join(f"{m} {t_kl[m]:.4f}" for m in by_kl if m != "MAP") + ". "
    + (f"Only {', '.join(far_closer)} {'is' if len(far_closer) == 1 else 'are'} an order of magnitude or more closer."
       if far_closer else "None is an order of magnitude closer.")
    + f" The {Z['members']} ensemble members "
    + ("barely differ" if mi["ensemble"] < 0.1 * mi["NUTS"] else "differ")
    + f" (mutual information {mi['ensemble']:.3f} nats against NUTS's {mi['NUTS']:.3f})"
    + (": with the `N(0, 1)` prior, this small network finds nearly the same mode from every start."
       if mi["ensemble"] < 0.1 * mi["NUTS"] else ".")
    + f" (Korattikara et al. report KL(HMC ‖ SGD) = {KORATTIKARA['SGD']} and {KORATTIKARA['SGLD']} for "
    "SGLD on their own toy problem; our MAP is "
    + (f"much closer to the reference ({t_kl['MAP']:.3f}), so the room for improvement is smaller.)"
       if t_kl["MAP"] < KORATTIKARA["SGD"] / 2 else f"about as far from the reference ({t_kl['MAP']:.3f}).)"),
    f"- **A student keeps its teacher's predictive{keeps_quality}.** "
    f"Every student ends within KL {max(kl_ts.values()):.4f} nats of its teacher over the grid; the "
    "ranking of the students' distances to NUTS "
    + ("largely follows" if rho > 0.5 else "partly follows" if rho > 0 else "does not follow")
    + f" the teachers' (Spearman ρ = {rho:.2f}). The student of NUTS is {s_kl['NUTS']:.4f} nats from NUTS "
    f"and the student of SGLD {s_kl['SGLD']:.4f}, "
    + ("below" if max(s_kl["NUTS"], s_kl["SGLD"]) < KORATTIKARA["students"][0] else "not below")
    + f" the {KORATTIKARA['students'][0]}–{KORATTIKARA['students'][1]} Korattikara et al. report for their "
    "distilled students."
    + (" A better posterior makes a better teacher, which is the source's §5 claim in its measurable form."
       if rho > 0.5 else ""),
    f"- **What a student cannot keep is the split of its uncertainty.** Students "
    f"{'copy' if copies_entropy else 'do not copy'} the total predictive entropy (NUTS {h_t['NUTS']:.3f} → "
    f"student {h_s['NUTS']:.3f} nats on the grid)"
    + (f", including the wider uncertain band far from the data that the posterior teachers draw (MAP: {h_t['MAP']:.3f})"
       if h_s["NUTS"] > h_t["MAP"] else f" (MAP: {h_t['MAP']:.3f})")
    + f", but a single network has no epistemic part: the teacher's mutual information (up to "
    f"{mi[most_mi]:.2f} nats for {most_mi}) becomes zero. A student distilled from a posterior "
    f"{'looks as uncertain as' if copies_entropy else 'does not look as uncertain as'} the posterior, and cannot "
    "tell which of that uncertainty more data would remove.",
    "- MC dropout draws its masks per input; its maps are "
    + ("grainy" if rough["MC dropout"][0] > 1.5 * rough["MAP"][0] else "hardly grainier than the MAP's")
    + f" (mean jump of p(y=1|x) between neighbouring grid points {rough['MC dropout'][0]:.4f}, MAP "
    f"{rough['MAP'][0]:.4f}); its student's map "
    + (("smooths that noise out" if rough["MC dropout"][1] < rough["MC dropout"][0] else "keeps that noise")
       if rough["MC dropout"][0] > 1.5 * rough["MAP"][0] else
       ("is smoother than its teacher's" if rough["MC dropout"][1] < rough["MC dropout"][0] else "is no smoother"))
    + f" ({rough['MC dropout'][1]:.4f}).",
])))

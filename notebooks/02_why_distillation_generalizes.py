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
# # 02 · Why distillation generalises: the source's five reasons, measured
#
# > **蒸留は「正解を当てる学習」から
# > 「入力空間全体での振る舞いを学ぶ学習」へ変えることで汎化を改善する**
#
# *Distillation improves generalisation by turning "learning to hit the right answer" into
# "learning the behaviour over the whole input space".* (知識蒸留が汎化性を改善する理由)
#
# The source gives five reasons. Each section below quotes one, runs a small experiment and
# plots it; the last section says which reasons the run supports and which it does not.
#
# | section | reason (source) | experiment |
# |---|---|---|
# | ① | soft labels smooth the decision boundary | 2-D boundaries, input-gradient norms, accuracy under input noise |
# | ② | the teacher passes on class structure learned from more data | a student with 500 labels, a teacher trained on 4,000 |
# | ③ | imitating the teacher restricts the hypothesis space | train-test gap, weight norms |
# | ④ | the teacher is an averaged function: variance drops | spread over seeds; distilling an ensemble vs one member |
# | ⑤ | the student learns the whole input space, like data augmentation | transfer-set size; noisy copies of the training inputs |
#
# Size: `BAYESKD_SIZE=quick` (default; the outputs shown, a few minutes on a laptop CPU) or
# `smoke` (seconds, for the tests; numbers meaningless).

# %%
import warnings

import jax
import matplotlib.pyplot as plt
import numpy as np

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm without ipywidgets
from bayeskd.notebook import setup  # noqa: E402  (after the filter: bayeskd's progress bars import tqdm)

SIZE = setup()  # BAYESKD_SIZE: smoke (seconds, the tests) or quick (the committed outputs)

# %% [markdown]
# ## The MNIST-1D runs shared by sections ① to ⑤
#
# Teacher: the CNN of `bayeskd compare-priors` (cached on disk by its config). Students: the
# MNIST-1D paper's MLP (100-100 hidden units, about twice the teacher's parameters but a much
# weaker architecture for these signals). Every arm trains several seeds in one compiled,
# vmapped run; arms that share their inputs are one *stacked prior*: a `SumPrior` of a
# Gaussian prior and a teacher prior whose hyperparameters differ per member
# (`weight_decay = 0` and `alpha = 0` give plain maximum likelihood).
#
# | arm | prior | inputs |
# |---|---|---|
# | `labels` | none (maximum likelihood) | 4,000 labelled training inputs |
# | `weight decay` | `GaussianPrior(1e-3)` | same |
# | `KD` | `TeacherPrior(alpha=0.9, T=4)` | same, teacher's predictive on them |
# | `KD transfer` | `TeacherPrior(alpha=1, T=4)` | generated unlabelled inputs only (section ⑤) |

# %%
import dataclasses

from bayeskd.experiments import evaluate_member, load_job_dataset, resolve, train_teacher
from bayeskd.experiments.common import NOISE_SIGMAS
from bayeskd.metrics import accuracy, format_mean_std, mean_std, noise_accuracy, summarize
from bayeskd.models import make_model
from bayeskd.priors import GaussianPrior, SumPrior, TeacherPrior, stack_priors
from bayeskd.training import TrainConfig, apply_model, fit, predict_logits

RUN = {
    "smoke": dict(student_steps=300, seeds=1, few_labels=500, copies=1, sizes=(250, 1000)),
    "quick": dict(student_steps=4000, seeds=3, few_labels=500, copies=10, sizes=(1000, 4000, 10000, 40000)),
}[SIZE]
job = resolve("compare_priors", size=SIZE).cfg  # the teacher of `bayeskd compare-priors` at this
ds = load_job_dataset("mnist1d", transfer_size=job.transfer_size)  # size, shared through the cache
teacher = train_teacher(ds, model=job.teacher, steps=job.teacher_steps, progress=False)
K, S = ds.num_classes, RUN["seeds"]
t_probs_test = teacher.probs_test()
print(f"{ds}\nteacher: CNN, {teacher.param_count} parameters, test accuracy "
      f"{float(accuracy(t_probs_test, ds.y_test)):.3f}")

student_cfg = TrainConfig(steps=RUN["student_steps"], batch_size=100, learning_rate=1e-2,
                          eval_every=RUN["student_steps"])


def mlp(key):
    return make_model("mlp", ds.input_shape, K, key=key)


def stacked(arms, table):
    """One SumPrior stacked [len(arms) * S]: member m trains under arm m % len(arms), whose KD
    term reads the teacher's log-probabilities ``table`` [N, K] by each example's row."""
    return stack_priors([SumPrior((GaussianPrior(weight_decay=a.get("wd", 0.0)),
                                   TeacherPrior(alpha=a.get("alpha", 0.0), temperature=4.0, table=table)))
                         for a in arms * S])


def evaluate(res, names, data=ds):
    """One metric row per member (accuracy, NLL, ECE, gap, noise accuracy, gradient norm, ...)."""
    rows = []
    for m in range(len(names) * S):
        params = jax.tree.map(lambda a, m=m: a[m], res.params)
        row = evaluate_member(res.graphdef, params, data, teacher_probs_test=t_probs_test,
                              key=jax.random.key(100 + m))
        by_sigma = noise_accuracy(lambda x, params=params: apply_model(res.graphdef, params, x),
                                  data.x_test, data.y_test, sigmas=NOISE_SIGMAS,
                                  key=jax.random.key(100 + m))  # the draw evaluate_member averages
        row["noise_accuracy_by_sigma"] = {str(s): float(a) for s, a in zip(NOISE_SIGMAS, by_sigma, strict=True)}
        row["arm"] = names[m % len(names)]
        row["weight_norm"] = float(np.sqrt(sum(np.sum(np.square(a)) for a in jax.tree.leaves(params))))
        row["pred"] = np.asarray(predict_logits(res.graphdef, params, data.x_test)).argmax(-1)
        rows.append(row)
    return rows


def by_arm(rows, key):
    out = {}
    for r in rows:
        out.setdefault(r["arm"], []).append(r[key])
    return {a: np.asarray(v) for a, v in out.items()}


arms = [{"name": "labels"}, {"name": "weight decay", "wd": 1e-3}, {"name": "KD", "alpha": 0.9}]
names = [a["name"] for a in arms]
main = fit(mlp, {"x": ds.x_train, "y": ds.y_train},
           prior=stacked(arms, teacher.logp_train[0]), prior_axis=0, num_members=len(arms) * S, config=student_cfg,
           key=jax.random.key(0), progress=False)
rows = evaluate(main, names)

# KD transfer: the teacher's predictive on generated, unlabelled inputs (the largest set of ⑤)
n_max = RUN["sizes"][-1]
transfer_logp = teacher.logp_transfer[0][:n_max]


def distil(x, teacher_logp, *, key, y=None, alpha=1.0):
    """S students on inputs x under TeacherPrior(alpha, T=4), labels y only if given.

    ``teacher_logp``: the teacher's log-probabilities on x, [n, K], or those of an ensemble's
    members, [M, n, K], averaged in probability space once (``TeacherPrior.from_members``).
    Every input set is tiled to n_max rows (sampling uniformly from a tiled set is sampling
    uniformly from the set), so every call runs the same compiled program.
    """
    n = len(x)
    assert n_max % n == 0, (n_max, n)
    reps = n_max // n
    data = {"x": np.tile(x, (reps, 1)), "y": np.tile(np.zeros(n, np.int32) if y is None else y, reps),
            "label_mask": np.full(n_max, 0.0 if y is None else 1.0, np.float32)}
    if np.ndim(teacher_logp) == 3:
        prior = TeacherPrior.from_members(np.tile(teacher_logp, (1, reps, 1)), alpha=alpha, temperature=4.0)
    else:
        prior = TeacherPrior(alpha=alpha, temperature=4.0, table=np.tile(teacher_logp, (reps, 1)))
    return fit(mlp, data, prior=prior, num_members=S, config=student_cfg, key=key, progress=False)


kdt = distil(ds.x_transfer[:n_max], transfer_logp, key=jax.random.key(1))
rows += evaluate(kdt, ["KD transfer"])
print(f"{len(rows)} students trained ({main.runtime_s + kdt.runtime_s:.0f} s)")
for arm, s in summarize(rows, group="arm", metrics=["accuracy"]).items():
    print(f"  {arm:12s} test accuracy {format_mean_std(s['accuracy'])} (mean ± std over {s['accuracy']['n']} seeds)")

# %% [markdown]
# ## ① Smoother decision boundaries
#
# > #### 蒸留
# >
# > * soft label → 勾配が滑らか
# > * 境界がなだらか
# >
# > **結果**
# >
# > * 小さな入力変動に頑健
# > * ノイズに強い
# >
# > 👉 **Decision Boundary が滑らかになる**
#
# *With distillation, soft labels give smooth gradients and gentle boundaries; as a result the
# model is robust to small input changes and to noise: the decision boundary becomes smooth.*
# (理由①)
#
# First on a 2-D problem where the boundary can be seen and the Bayes posterior is exact: a
# mixture of three Gaussians (`load_gmm`; the Bayes classifier's test accuracy is printed
# below the maps). The teacher (a 300-300 MLP) learns from 4,000 points; the students (100-100 MLPs) see 200 of them, trained on the
# labels, with label smoothing (ε = 0.2), or with KD (α = 0.9, T = 2). Colours mix the class
# colours by predicted probability, so a soft boundary looks blurred and a hard one sharp.

# %%
import functools

from bayeskd.data import grid_2d, load_gmm
from bayeskd.metrics import input_grad_norm, kl_divergence
from bayeskd.priors import LabelSmoothing, NoPrior

R2 = {"smoke": dict(steps=300, grid=40), "quick": dict(steps=3000, grid=90)}[SIZE]
big = load_gmm(num_train=4000, num_test=2000, dim=2, num_classes=3, separation=1.5, seed=1)
small = big.take(num_train=200)
cfg2 = TrainConfig(steps=R2["steps"], batch_size=50, learning_rate=3e-3, eval_every=R2["steps"])
t2 = fit(lambda k: make_model("mlp-large", (2,), 3, key=k), {"x": big.x_train, "y": big.y_train},
         prior=NoPrior(), config=cfg2, key=jax.random.key(0), progress=False)
t2_params = jax.tree.map(lambda a: a[0], t2.params)
t2_logp_small = np.asarray(jax.nn.log_softmax(predict_logits(t2.graphdef, t2_params, small.x_train)))

arms2 = [("labels", 0.0, 0.0), ("label smoothing", 0.2, 0.0), ("KD", 0.0, 0.9)]
prior2 = stack_priors([SumPrior((LabelSmoothing(epsilon=e),
                                 TeacherPrior(alpha=a, temperature=2.0, table=t2_logp_small)))
                       for _, e, a in arms2 * S])
s2 = fit(lambda k: make_model("mlp", (2,), 3, key=k), {"x": small.x_train, "y": small.y_train},
         prior=prior2, prior_axis=0, num_members=len(arms2) * S,
         config=TrainConfig(steps=R2["steps"], batch_size=50, learning_rate=1e-2, eval_every=R2["steps"]),
         key=jax.random.key(1), progress=False)

points, xx, yy = grid_2d(small.x_train, resolution=R2["grid"], margin=1.0)
palette = np.array([[0.85, 0.25, 0.2], [0.2, 0.45, 0.85], [0.25, 0.7, 0.3]])
panels = [("Bayes posterior", big.meta["problem"].bayes_probs(points), None)]
models2 = [("teacher (4,000 points)", t2.graphdef, t2_params)]
models2 += [(name, s2.graphdef, jax.tree.map(lambda a, m=m: a[m], s2.params)) for m, (name, _, _) in enumerate(arms2)]


@functools.partial(jax.jit, static_argnums=0)
def probe(graphdef, params):
    """Probabilities on the grid and the test inputs, input-gradient norm, accuracy under noise."""
    f = lambda x: apply_model(graphdef, params, x)  # noqa: E731
    return (jax.nn.softmax(f(points)), jax.nn.softmax(f(big.x_test)), input_grad_norm(f, big.x_test),
            noise_accuracy(f, big.x_test, big.y_test, sigmas=[0.5], key=jax.random.key(7))[0])


table2 = []
for name, g, p in models2:
    probs, test_probs, grad_norm, noisy_acc = probe(g, p)
    table2.append({
        "model": name,
        "accuracy": float(accuracy(test_probs, big.y_test)),
        "KL(Bayes || model)": float(kl_divergence(big.bayes_probs_test, test_probs)),
        "grad norm": float(grad_norm),
        "accuracy, noise 0.5": float(noisy_acc),
    })
    panels.append((name, np.asarray(probs), table2[-1]))

fig, axes = plt.subplots(1, len(panels), figsize=(2.0 * len(panels), 2.3))
for ax, (name, probs, row) in zip(axes, panels, strict=False):
    ax.imshow((probs @ palette).reshape(*xx.shape, 3), origin="lower", interpolation="nearest",
              extent=(xx.min(), xx.max(), yy.min(), yy.max()), aspect="auto")
    if name != "Bayes posterior" and not name.startswith("teacher"):
        ax.scatter(*small.x_train.T, c=palette[small.y_train], s=4, edgecolors="k", linewidths=0.2)
    ax.set_title(name + ("" if row is None else f"\ngrad norm {row['grad norm']:.2f}"), fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()
plt.show()
print(f"Bayes posterior: test accuracy {float(accuracy(big.bayes_probs_test, big.y_test)):.3f}")
print(f"{'model':24s}" + "".join(f"{k:>22s}" for k in table2[0] if k != "model"))
for row in table2:
    print(f"{row['model']:24s}" + "".join(f"{v:22.3f}" for k, v in row.items() if k != "model"))

# %% [markdown]
# The same measurements on MNIST-1D, for the shared runs: the mean norm of the input gradient
# of the predicted class's log-probability (smaller: a flatter function around the test
# inputs) and the test accuracy under Gaussian input noise of standard deviation 0.25, 0.5
# and 1 (the inputs are standardised).

# %%
sigmas = list(rows[0]["noise_accuracy_by_sigma"])
fig, axes = plt.subplots(1, 2, figsize=(8, 2.6))
for arm, vals in by_arm(rows, "noise_accuracy_by_sigma").items():
    accs = np.array([[v[s] for s in sigmas] for v in vals])
    clean = by_arm(rows, "accuracy")[arm]
    axes[0].errorbar([0.0] + [float(s) for s in sigmas], np.r_[clean.mean(), accs.mean(0)],
                     yerr=np.r_[clean.std(), accs.std(0)], marker="o", ms=3, capsize=2, label=arm)
axes[0].set(xlabel="input noise σ", ylabel="test accuracy", title="accuracy under input noise")
axes[0].legend(fontsize=7)
gn = by_arm(rows, "input_grad_norm")
axes[1].bar(range(len(gn)), [v.mean() for v in gn.values()], yerr=[v.std() for v in gn.values()],
            capsize=3, color=plt.cm.tab10(np.arange(len(gn))))
axes[1].set_xticks(range(len(gn)), list(gn), fontsize=7)
axes[1].set(ylabel="mean ‖∇x log p(ŷ|x)‖", title="input-gradient norm (test inputs)")
for ax in axes:
    ax.grid(alpha=0.3)
fig.tight_layout()
plt.show()
for arm in gn:
    print(f"{arm:12s} grad norm {gn[arm].mean():7.2f}   noise accuracy (mean over σ) "
          f"{by_arm(rows, 'noise_accuracy')[arm].mean():.3f}")

# %% [markdown]
# ## ② Class structure learned from more data
#
# > これは：
# >
# > * データに含まれない「意味構造」
# > * 教師が大規模データで獲得した知識
# >
# > 👉 **訓練セット外でも意味的に正しい判断ができる**
#
# *This [犬 ≈ 狼 > 猫] is semantic structure not contained in the data, knowledge the teacher
# acquired from large-scale data → [the student] can judge semantically correctly even outside
# the training set.* (理由②)
#
# The teacher saw 4,000 labelled examples; a student gets only the first 500 of them, with
# their labels alone or with the teacher's soft targets (α = 0.9, T = 4). Besides accuracy we
# count how often a student's *mistakes* are "semantically right": the wrong class is one of
# the teacher's two most likely classes for that input.

# %%
few = ds.take(num_train=RUN["few_labels"])
reps = ds.num_train // few.num_train  # tiled to the main run's rows: the same compiled program
res_few = fit(mlp, {"x": np.tile(few.x_train, (reps, 1)), "y": np.tile(few.y_train, reps)},
              prior=stacked(arms, np.tile(teacher.logp_train[0][: few.num_train], (reps, 1))), prior_axis=0, num_members=len(arms) * S, config=student_cfg,
              key=jax.random.key(2), progress=False)
rows_few = [r for r in evaluate(res_few, names, data=few) if r["arm"] in ("labels", "KD")]
teacher_top2 = np.argsort(t_probs_test, axis=1)[:, -2:]


def plausible_mistakes(pred):
    wrong = pred != ds.y_test
    return float(np.mean([pred[i] in teacher_top2[i] for i in np.flatnonzero(wrong)]))


few_stats = {}
for tag, rr in ((f"{few.num_train} labels", rows_few), (f"{ds.num_train} labels", rows)):
    for arm in ("labels", "KD"):
        sel = [r for r in rr if r["arm"] == arm]
        few_stats[(tag, arm)] = (np.array([r["accuracy"] for r in sel]),
                                 np.array([plausible_mistakes(r["pred"]) for r in sel]))
fig, axes = plt.subplots(1, 2, figsize=(8, 2.5))
for j, arm in enumerate(("labels", "KD")):
    for ax, k in zip(axes, (0, 1), strict=False):
        vals = [few_stats[(tag, arm)][k] for tag in (f"{few.num_train} labels", f"{ds.num_train} labels")]
        ax.bar(np.arange(2) + (j - 0.5) * 0.38, [v.mean() for v in vals], 0.38,
               yerr=[v.std() for v in vals], capsize=3, label=arm)
for ax, title in zip(axes, ("test accuracy", "mistakes within the teacher's top 2"), strict=False):
    ax.set_xticks(range(2), [f"{few.num_train} labels", f"{ds.num_train} labels"])
    ax.set(title=title, ylim=(0, 1))
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)
fig.tight_layout()
plt.show()
for (tag, arm), (acc, pm) in few_stats.items():
    print(f"{tag:12s} {arm:7s} accuracy {acc.mean():.3f} ± {acc.std():.3f}   "
          f"mistakes in the teacher's top 2: {pm.mean():.3f}")

# %% [markdown]
# ## ③ Implicit regularisation
#
# > 学生モデルは
# >
# > * 教師の出力分布を模倣する
# > * 「自由に当てに行く」ことができない
# >
# > これは数学的には：
# >
# > > **仮説空間が制限される（Implicit Regularization）**
# >
# > 結果：
# >
# > * 過学習しにくい
# > * 極端な解に行かない
#
# *The student imitates the teacher's output distribution and cannot "freely go for the
# answer"; mathematically the hypothesis space is restricted (implicit regularisation), so it
# overfits less and avoids extreme solutions.* (理由③)
#
# Overfitting is measured by the train-test gap (accuracy on the 4,000 labelled training
# inputs minus test accuracy) and the test NLL; "extreme solutions" by the weight norm.
# Weight decay is the explicit regulariser to compare with.

# %%
fig, axes = plt.subplots(1, 3, figsize=(10, 2.6))
acc, train_acc = by_arm(rows, "accuracy"), by_arm(rows, "train_accuracy")
arms_all = list(acc)
x = np.arange(len(arms_all))
axes[0].bar(x - 0.19, [train_acc[a].mean() for a in arms_all], 0.38, label="train")
axes[0].bar(x + 0.19, [acc[a].mean() for a in arms_all], 0.38, yerr=[acc[a].std() for a in arms_all],
            capsize=3, label="test")
axes[0].set(title="accuracy", ylim=(0, 1.05))
axes[0].legend(fontsize=7)
for ax, key, title in ((axes[1], "nll", "test NLL"), (axes[2], "weight_norm", "weight norm ‖θ‖")):
    v = by_arm(rows, key)
    ax.bar(x, [v[a].mean() for a in arms_all], yerr=[v[a].std() for a in arms_all], capsize=3,
           color=plt.cm.tab10(x))
    ax.set(title=title)
for ax in axes:
    ax.set_xticks(x, arms_all, fontsize=7)
    ax.grid(axis="y", alpha=0.3)
fig.tight_layout()
plt.show()
gap = by_arm(rows, "train_test_gap")
for a in arms_all:
    print(f"{a:12s} train {train_acc[a].mean():.3f}  test {acc[a].mean():.3f}  gap {gap[a].mean():.3f}  "
          f"NLL {by_arm(rows, 'nll')[a].mean():.3f}  ‖θ‖ {by_arm(rows, 'weight_norm')[a].mean():.1f}")

# %% [markdown]
# ## ④ The teacher as an averaged function
#
# > その出力は：
# >
# > > **多くの仮説のアンサンブルに近い**
# >
# > 蒸留は：
# >
# > * 明示的なアンサンブルなしで
# > * その平均的振る舞いを学ぶ
# >
# > 👉 **バリアンス低下 → 汎化向上**
#
# *Its [the teacher's] output is close to an ensemble of many hypotheses; distillation learns
# that average behaviour without an explicit ensemble → lower variance → better
# generalisation.* (理由④)
#
# Two measurements. (a) The spread of the student over seeds: the standard deviation of its
# test accuracy, and how often two seeds disagree on a test input. (b) An explicit ensemble:
# the `labels` students above, averaged in probability space, become a teacher; one set of
# students distils the ensemble (its predictive, the mean of the members' probabilities, as
# `TeacherPrior.from_members` computes it once), another set distils a single member, both on
# the generated transfer inputs. If averaging is what the teacher passes on, the ensemble's students should be better and agree more.

# %%
from itertools import combinations


def disagreement(preds):
    pairs = list(combinations(range(len(preds)), 2))
    return float(np.mean([np.mean(preds[i] != preds[j]) for i, j in pairs])) if pairs else float("nan")


preds = by_arm(rows, "pred")
spread = {a: (acc[a].std(), disagreement(preds[a])) for a in preds}

# (b) an explicit ensemble of the label-only students as the teacher
members = [m for m in range(len(arms) * S) if m % len(arms) == 0]  # the `labels` arm
x_tr = ds.x_transfer[:n_max]
member_logp = np.stack([np.asarray(jax.nn.log_softmax(
    predict_logits(main.graphdef, jax.tree.map(lambda a, m=m: a[m], main.params), x_tr)))
    for m in members])  # [M, N, K]
ens_test = np.mean([np.asarray(jax.nn.softmax(predict_logits(
    main.graphdef, jax.tree.map(lambda a, m=m: a[m], main.params), ds.x_test))) for m in members], axis=0)
# The ensemble's predictive averages the members in probability space, once, before training
# (distil hands the [M, N, K] member log-probabilities to TeacherPrior.from_members).
ens_rows = evaluate(distil(x_tr, member_logp[0], key=jax.random.key(3)), ["from one member"])
ens_rows += evaluate(distil(x_tr, member_logp, key=jax.random.key(3)), [f"from the ensemble of {len(members)}"])
e_acc, e_pred = by_arm(ens_rows, "accuracy"), by_arm(ens_rows, "pred")
for a in e_acc:
    spread[a] = (e_acc[a].std(), disagreement(e_pred[a]))

fig, axes = plt.subplots(1, 2, figsize=(9, 2.7))
labels_ = list(spread)
axes[0].bar(range(len(labels_)), [spread[a][1] for a in labels_], color=plt.cm.tab10(np.arange(len(labels_))))
axes[0].set_xticks(range(len(labels_)), labels_, rotation=20, ha="right", fontsize=7)
axes[0].set(title="test inputs on which two seeds disagree")
bars = {"one labels-only MLP": acc["labels"], f"explicit ensemble ({len(members)})": np.array([accuracy(ens_test, ds.y_test)]),
        **{f"student {a}": e_acc[a] for a in e_acc}}
axes[1].bar(range(len(bars)), [v.mean() for v in bars.values()], yerr=[v.std() for v in bars.values()], capsize=3,
            color=plt.cm.Set2(np.arange(len(bars))))
axes[1].set_xticks(range(len(bars)), list(bars), rotation=20, ha="right", fontsize=7)
lo = min(float(v.mean()) for v in bars.values())
axes[1].set(title="test accuracy", ylim=(max(0.0, lo - 0.1), 1.0))
for ax in axes:
    ax.grid(axis="y", alpha=0.3)
fig.tight_layout()
plt.show()
for a, (sd, dis) in spread.items():
    print(f"{a:24s} accuracy std over seeds {sd:.4f}   seeds disagree on {dis:.3f} of test inputs")
print(f"explicit ensemble accuracy {float(accuracy(ens_test, ds.y_test)):.3f}; "
      + "; ".join(f"student {a}: {v.mean():.3f}" for a, v in e_acc.items()))

# %% [markdown]
# ## ⑤ The whole input space, like data augmentation
#
# > #### 蒸留
# >
# > * 各入力に対する「確率分布」を学ぶ
# >
# > これは事実上：
# >
# > > **訓練点の周囲の局所空間まで学習している**
# >
# > 👉 **データ拡張に近い効果**
#
# *Distillation learns a probability distribution for every input; in effect it learns the
# local space around the training points → an effect close to data augmentation.* (理由⑤)
#
# The teacher labels unlabelled inputs, and the student (α = 1, T = 4) sees nothing else.
# Two kinds of inputs: (a) new MNIST-1D signals from the same generator, in sets of growing
# size; (b) noisy copies of the 4,000 training inputs (σ = 0.5, ten copies each): literally
# "the space around the training points". For (b) we also train on the same noisy copies
# with the original *labels*, plain data augmentation, to see how close the two effects are.

# %%
from bayeskd.data import noised

sweep_acc = {n_max: acc["KD transfer"]}  # trained at the top
for n in RUN["sizes"][:-1]:
    res_n = distil(ds.x_transfer[:n], teacher.logp_transfer[0][:n], key=jax.random.key(1))
    sweep_acc[n] = by_arm(evaluate(res_n, ["kd"]), "accuracy")["kd"]
sweep_acc = dict(sorted(sweep_acc.items()))

base = ds.take(num_train=n_max // RUN["copies"])
x_noisy = noised(base.x_train, sigma=0.5, seed=0, copies=RUN["copies"])
y_noisy = np.tile(base.y_train, RUN["copies"])
# The teacher's predictive on the noisy copies: the same training run as above (training never
# sees the transfer inputs), cached separately because the cache key includes them.
t_noisy = train_teacher(dataclasses.replace(ds, x_transfer=x_noisy), model=job.teacher,
                        steps=job.teacher_steps, progress=False)
# the same teacher up to float round-off amplified by training (XLA may order sums differently
# across processes): its test predictions agree almost everywhere
assert (t_noisy.logp_test.argmax(-1) == teacher.logp_test.argmax(-1)).mean() > 0.97
noisy_rows = evaluate(distil(x_noisy, t_noisy.logp_transfer[0], key=jax.random.key(4)),
                      ["KD on noisy copies"])
noisy_rows += evaluate(distil(x_noisy, t_noisy.logp_transfer[0], y=y_noisy, alpha=0.0,
                              key=jax.random.key(4)), ["labels on noisy copies"])
noisy_acc = by_arm(noisy_rows, "accuracy")

fig, ax = plt.subplots(figsize=(6.5, 3.0))
ns = list(sweep_acc)
ax.errorbar(ns, [sweep_acc[n].mean() for n in ns], yerr=[sweep_acc[n].std() for n in ns], marker="o",
            capsize=3, label="KD on new generated inputs (no labels)")
for (name, v), mk in zip(noisy_acc.items(), ("s", "^"), strict=False):
    ax.errorbar([n_max * 1.08], [v.mean()], yerr=[v.std()], marker=mk, capsize=3, ls="none",
                label=f"{name} ({RUN['copies']} × {base.num_train})")
ax.axhline(acc["labels"].mean(), color="gray", ls=":", label=f"labels only ({ds.num_train} labels)")
ax.axhline(float(accuracy(t_probs_test, ds.y_test)), color="k", ls="--", lw=1, label="teacher")
ax.set(xscale="log", xlabel="transfer-set size (inputs the student sees)", ylabel="test accuracy",
       title="the student learns where the teacher's predictive is shown to it")
ax.legend(fontsize=7, loc="lower right")
ax.grid(alpha=0.3)
plt.show()
for n in ns:
    print(f"KD on {n:6d} generated inputs: test accuracy {format_mean_std(mean_std(sweep_acc[n]))}")
for name, v in noisy_acc.items():
    print(f"{name:24s} ({len(x_noisy)} inputs): test accuracy {format_mean_std(mean_std(v))}")

# %% [markdown]
# ## What the run showed
#
# The cell below recomputes each verdict from this run's numbers (at `smoke` size they mean
# nothing); the table after it is rendered from the same numbers.

# %%
gn_ = {a: v.mean() for a, v in by_arm(rows, "input_grad_norm").items()}
na_ = {a: v.mean() for a, v in by_arm(rows, "noise_accuracy").items()}
pm_ = {arm: few_stats[(f"{few.num_train} labels", arm)][1].mean() for arm in ("labels", "KD")}
few_gain = few_stats[(f"{few.num_train} labels", "KD")][0].mean() - few_stats[(f"{few.num_train} labels", "labels")][0].mean()
ens_name = f"from the ensemble of {len(members)}"
verdicts = [
    ("① 2-D: KD student's boundary is flatter than the label-only student's (grad norm "
     f"{table2[3]['grad norm']:.2f} vs {table2[1]['grad norm']:.2f})", table2[3]["grad norm"] < table2[1]["grad norm"]),
    *[(f"① MNIST-1D: {arm} lowers the input-gradient norm ({gn_[arm]:.2f} vs labels {gn_['labels']:.2f})",
       gn_[arm] < gn_["labels"]) for arm in ("KD", "KD transfer")],
    *[(f"① MNIST-1D: {arm} is more accurate under input noise ({na_[arm]:.3f} vs labels {na_['labels']:.3f})",
       na_[arm] > na_["labels"]) for arm in ("KD", "KD transfer")],
    (f"② with {few.num_train} labels, the teacher's soft targets add {100 * few_gain:+.1f} points", few_gain > 0.01),
    (f"② ... and the student's mistakes fall in the teacher's top 2 more often ({pm_['KD']:.3f} vs {pm_['labels']:.3f})",
     pm_["KD"] > pm_["labels"] + 0.02),
    (f"③ KD on the training inputs shrinks the train-test gap ({gap['KD'].mean():.3f} vs {gap['labels'].mean():.3f})",
     gap["KD"].mean() < gap["labels"].mean() - 0.01),
    (f"③ KD on transfer inputs shrinks it ({gap['KD transfer'].mean():.3f})", gap["KD transfer"].mean() < gap["labels"].mean() - 0.01),
    (f"④ distilled students disagree less across seeds than label-only ones "
     f"({spread['KD transfer'][1]:.3f} vs {spread['labels'][1]:.3f})", spread["KD transfer"][1] < spread["labels"][1]),
    (f"④ distilling an ensemble beats distilling one member ({e_acc[ens_name].mean():.3f} vs "
     f"{e_acc['from one member'].mean():.3f})", e_acc[ens_name].mean() > e_acc["from one member"].mean()),
    (f"⑤ accuracy grows with the transfer set ({sweep_acc[ns[0]].mean():.3f} → {sweep_acc[ns[-1]].mean():.3f})",
     sweep_acc[ns[-1]].mean() > sweep_acc[ns[0]].mean()),
    ("⑤ KD on noisy copies of the training inputs beats plain augmentation with labels "
     f"({noisy_acc['KD on noisy copies'].mean():.3f} vs {noisy_acc['labels on noisy copies'].mean():.3f})",
     noisy_acc["KD on noisy copies"].mean() > noisy_acc["labels on noisy copies"].mean()),
]
for claim, ok in verdicts:
    print(f"[{'holds' if ok else 'does not hold'}] {claim}")

# %%
# the summary table, rendered from this run's numbers
from IPython.display import Markdown, display

from bayeskd.losses import tempered_log_probs

v_ = [v for _, v in verdicts]  # in the order of the list above


def verdict_of(parts):
    """'holds' / 'does not hold' / 'holds for A; not for B' from (aspect, held) pairs."""
    yes = [a for a, held in parts if held]
    no = [a for a, held in parts if not held]
    if not no:
        return "holds"
    if not yes:
        return "does not hold"
    return f"holds for {', '.join(yes)}; not for {', '.join(no)}"


def pts(x):
    return f"{100 * x:.1f}"


def lower(a, b):
    return "lowers" if a < b else "does not lower"


def higher(a, b):
    return "raises" if a > b else "does not raise"


t2_, lab2, ls2, kd2 = (r["grad norm"] for r in table2)
nll_, wn_ = by_arm(rows, "nll"), by_arm(rows, "weight_norm")
m = {a: v.mean() for a, v in acc.items()}
tr = {a: v.mean() for a, v in train_acc.items()}
g = {a: v.mean() for a, v in gap.items()}
nl = {a: v.mean() for a, v in nll_.items()}
few_tag, all_tag = f"{few.num_train} labels", f"{ds.num_train} labels"
few_acc = {arm: few_stats[(few_tag, arm)][0].mean() for arm in ("labels", "KD")}
all_gain = few_stats[(all_tag, "KD")][0].mean() - few_stats[(all_tag, "labels")][0].mean()
pm_diff = pm_["KD"] - pm_["labels"]
sweep_m = [sweep_acc[n].mean() for n in ns]
rises = bool(np.all(np.diff(sweep_m) > 0))
noisy_kd, noisy_lab = noisy_acc["KD on noisy copies"].mean(), noisy_acc["labels on noisy copies"].mean()
ens_acc = float(accuracy(ens_test, ds.y_test))
teacher_acc = float(accuracy(t_probs_test, ds.y_test))
top_train_t4 = float(np.mean(np.exp(np.asarray(tempered_log_probs(teacher.logp_train[0], temperature=4.0))).max(-1)))
kd_checks = [v_[1], v_[3], v_[7]]   # ① gradient norm, ① noise, ③ gap, for KD on the training inputs
kdt_checks = [v_[2], v_[4], v_[8]]  # the same three for KD on generated inputs

table_rows = [
    ("① smoother boundaries",
     verdict_of([("the 2-D boundary", v_[0]), ("the input gradients on the training inputs", v_[1]),
                 ("the input gradients with a transfer set", v_[2]), ("noise robustness on the training inputs", v_[3]),
                 ("noise robustness with a transfer set", v_[4])]),
     f"2-D: the KD student's input-gradient norm is {kd2:.2f} against {lab2:.2f} for labels (label "
     f"smoothing {ls2:.2f}); the teacher's is {t2_:.2f}. MNIST-1D: KD on the {ds.num_train:,} training "
     f"inputs {lower(gn_['KD'], gn_['labels'])} the gradient norm ({gn_['KD']:.2f} vs {gn_['labels']:.2f}) "
     f"and {higher(na_['KD'], na_['labels'])} the accuracy under noise ({na_['KD']:.1%} vs "
     f"{na_['labels']:.1%}); KD on generated inputs brings the norm to {gn_['KD transfer']:.2f} and the "
     f"noisy accuracy to {na_['KD transfer']:.1%}."),
    ("② class structure from more data",
     verdict_of([("accuracy", v_[5]), ('"semantic" mistakes', v_[6])]),
     f"with {few.num_train} labels, the teacher's soft targets (it saw {ds.num_train:,}) change the "
     f"accuracy by {100 * few_gain:+.1f} points ({few_acc['KD']:.1%} vs {few_acc['labels']:.1%}); with "
     f"{ds.num_train:,} labels, by {100 * all_gain:+.1f}. The share of mistakes inside the teacher's top "
     f"two classes {'barely changes' if abs(pm_diff) < 0.02 else ('rises' if pm_diff > 0 else 'falls')} "
     f"({pm_['KD']:.1%} vs {pm_['labels']:.1%})."),
    ("③ implicit regularisation",
     verdict_of([("the training inputs", v_[7]), ("a transfer set", v_[8])]),
     f"KD on the training inputs {'shrinks' if v_[7] else 'does not shrink'} the train-test gap "
     f"({pts(g['KD'])} vs {pts(g['labels'])} points): it fits {tr['KD']:.1%} of the training labels "
     f"({tr['labels']:.1%} with labels only), and its test NLL is "
     f"{'*worse*' if nl['KD'] > nl['labels'] else 'better'} ({nl['KD']:.2f} vs {nl['labels']:.2f}); weight "
     f"decay: gap {pts(g['weight decay'])}, NLL {nl['weight decay']:.2f}, "
     f"{wn_['weight decay'].mean() / wn_['labels'].mean():.2f} times the label-only weight norm. KD on "
     f"generated inputs: gap {pts(g['KD transfer'])} points, NLL {nl['KD transfer']:.2f}."),
    ("④ averaged teacher, lower variance",
     verdict_of([("the spread over seeds", v_[9]), ("distilling an ensemble", v_[10])]),
     f"students distilled on generated inputs disagree with each other on {spread['KD transfer'][1]:.1%} "
     f"of test inputs, label-only students on {spread['labels'][1]:.1%}; a student of the "
     f"{len(members)}-member ensemble of label-only MLPs reaches {e_acc[ens_name].mean():.1%} against "
     f"{e_acc['from one member'].mean():.1%} for a student of one member (the explicit ensemble: "
     f"{ens_acc:.1%})."),
    ("⑤ the whole input space",
     verdict_of([("the transfer-set size", v_[11]), ("noisy copies against plain augmentation", v_[12])]),
     f"accuracy {'rises steadily' if rises else 'does not rise steadily'} with the number of generated "
     f"inputs the teacher labels: " + ", ".join(f"{a:.1%} ({n:,})" for n, a in zip(ns, sweep_m, strict=True))
     + f", against {m['labels']:.1%} for the {ds.num_train:,} labels. Noisy copies of the training "
     f"inputs reach {noisy_kd:.1%} with the teacher and {noisy_lab:.1%} with the original labels"
     + (": they help less than new inputs, so the neighbourhood of the training points is not the whole "
        "input space." if noisy_kd < sweep_m[-1] else ".")),
]
kd_gain, kdt_gain = m["KD"] - m["labels"], m["KD transfer"] - m["labels"]
new_inputs_win = kdt_gain > kd_gain and sum(kdt_checks) > sum(kd_checks)
display(Markdown("\n".join(
    [f"At {SIZE} size (the outputs above; CNN teacher {teacher_acc:.1%}; MLP students, {S} "
     f"seed{'s' if S != 1 else ''} each):",
     "", "| reason | verdict | evidence |", "|---|---|---|"]
    + [f"| {r} | **{v}** | {e} |" for r, v, e in table_rows]
    + ["", f"The pattern across all five: KD on the training inputs changes test accuracy by "
       f"{100 * kd_gain:+.1f} points over the labels and passes {sum(kd_checks)} of the three checks of "
       f"① and ③ it is part of; KD on generated inputs changes it by {100 * kdt_gain:+.1f} points and "
       f"passes {sum(kdt_checks)} of the same three. "
       + ("What the source attributes to *soft labels* shows up here mainly when the teacher is shown "
          "**new inputs** (⑤)." if new_inputs_win else
          "Showing the teacher new inputs does not stand out here (⑤).")
       + f" On its own training inputs this teacher gives its top class {top_train_t4:.1%} of the "
       f"probability on average even at T = 4 (see notebook 01)"
       + (", so KD there adds little beyond the labels; compare `bayeskd compare-priors` (notebook 04)."
          if top_train_t4 > 0.9 and kd_gain < 0.02 else ".")])))

r"""``temperature_tempering``: the KD temperature and the posterior temperature are two different
knobs (Wenzel et al. 2020, "How good is the Bayes posterior in deep neural networks really?";
Izmailov et al. 2021, "What are Bayesian neural network posteriors really like?"; Hinton et al.
2015).

Both are called "temperature" and both change how much uncertainty a predictive carries, in
opposite directions:

- the **KD temperature** :math:`T > 1` softens the teacher's targets,
  :math:`p_t^{(T)} = \mathrm{softmax}(z_t/T)`; the student is trained on
  :math:`(1-\alpha)\,\mathrm{CE}(y) + \alpha T^2\,\mathrm{KL}(p_t^{(T)}\,\|\,p_\theta^{(T)})`
  (:class:`bayeskd.priors.TeacherPrior`) and predicts with :math:`T = 1`;
- the **posterior temperature** :math:`T_{\mathrm{post}}` tempers the whole posterior,
  :math:`p_T(\theta\mid\mathcal D)\propto\exp(-U(\theta)/T_{\mathrm{post}})` with
  :math:`U = -\log p(\mathcal D\mid\theta) - \log p(\theta)`; :math:`T_{\mathrm{post}} < 1`
  ("cold") sharpens it towards the mode. SGLD samples it with the Langevin noise scaled by
  :math:`\sqrt{T_{\mathrm{post}}}` (:func:`bayeskd.posteriors.fit_sgld`).

On scikit-learn's 8x8 digits (1,347 training images, an MLP):

(a) **KD temperature.** One MLP teacher (cached); MLP students (30 hidden units) distilled at
    each KD temperature (Hinton's mixed objective, :math:`\alpha = 0.9`), every temperature and
    seed in one vmapped run. Against T: the student's test accuracy, NLL, ECE and mean predictive
    entropy, and the entropy of the softened targets :math:`p_t^{(T)}` themselves.
(b) **Posterior temperature.** SGLD chains (one per seed) of the teacher's architecture under an
    :math:`\mathcal N(0, 1)` weight prior at each posterior temperature, on plain minibatches and
    on augmented ones (random 1-pixel crops of the zero-padded image,
    :class:`bayeskd.data.CropFlip`); the predictive (the average over the chain's kept draws):
    accuracy, NLL, ECE, entropy and mutual information.

The summary computes where the two curves meet: for every KD temperature, the posterior
temperature whose predictive entropy equals the student's (interpolated in
:math:`\log T_{\mathrm{post}}`), and what accuracy, NLL and ECE each side has there.

Command: ``bayeskd reproduce temperature_tempering --size quick`` (3 seeds; about 2 min on 2
cores).
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from bayeskd.data import CropFlip, load_digits
from bayeskd.experiments.common import model_fn, train_teacher
from bayeskd.experiments.figures._base import (
    TEACHER_SEED,
    Comparison,
    FigureInfo,
    Report,
    Units,
    log_fn,
    member_logp,
    metric_rows,
    teacher_config,
    train_arms,
)
from bayeskd.metrics import format_mean_std, summarize
from bayeskd.posteriors import fit_sgld, offline_predictive, predictive_metrics
from bayeskd.priors import GaussianPrior, TeacherPrior
from bayeskd.validate import check_positive_float, check_positive_int, check_temperature

INFO = FigureInfo(
    name="temperature_tempering",
    title="the KD temperature softens, the posterior temperature sharpens: two different knobs "
          "(Wenzel et al. 2020; Izmailov et al. 2021)",
    paper="F. Wenzel et al. How good is the Bayes posterior in deep neural networks really? ICML "
          "2020; P. Izmailov, S. Vikram, M. Hoffman, A. G. Wilson. What are Bayesian neural "
          "network posteriors really like? ICML 2021; G. Hinton, O. Vinyals, J. Dean. "
          "Distilling the knowledge in a neural network. 2015",
    mirrors="the cold-posterior sweep (Wenzel et al. Fig. 1; Izmailov et al. §6, with and "
            "without augmentation) next to a KD-temperature sweep, on 8x8 digits",
    claim="A KD temperature T > 1 injects uncertainty into the teacher's targets; a posterior "
          "temperature T < 1 removes it from the posterior. Cold posteriors (T ≈ 0.01–0.1) "
          "predict better than the Bayes posterior (T = 1) with data augmentation; without "
          "augmentation the effect is much smaller or absent.",
    runtime={"smoke": "~40 s", "quick": "~2.5 min", "full": "~8 min"},
)

ALPHA = 0.9  # Hinton's weight of the soft targets
STUDENT_HIDDEN = (30,)
PRIOR_STD = 1.0
SGLD_BATCH = 100
AUGMENT = CropFlip(pad=1, flip=False)  # digits are not mirror-symmetric


@dataclasses.dataclass(frozen=True)
class Size:
    seeds: int
    teacher_steps: int
    student_steps: int
    sgld_steps: int
    burn_in: int
    thin: int
    step_size: float
    kd_temperatures: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0)
    posterior_temperatures: tuple[float, ...] = (1.0, 0.3, 0.1, 0.03, 0.01)


SIZES = {
    "smoke": Size(seeds=2, teacher_steps=300, student_steps=300, sgld_steps=600, burn_in=300,
                  thin=100, step_size=1e-4, kd_temperatures=(1.0, 4.0, 16.0),
                  posterior_temperatures=(1.0, 0.1)),
    "quick": Size(seeds=3, teacher_steps=2000, student_steps=2000, sgld_steps=6000,
                  burn_in=2000, thin=100, step_size=1e-4),
    "full": Size(seeds=5, teacher_steps=4000, student_steps=4000, sgld_steps=20000,
                 burn_in=5000, thin=100, step_size=1e-4),
}


def check_size(size: Size) -> None:
    """Refuse a size that cannot run, before any work: temperatures must be finite and > 0."""
    for name in ("seeds", "teacher_steps", "student_steps", "sgld_steps", "thin"):
        check_positive_int(getattr(size, name), name=name)
    check_positive_float(size.step_size, name="step_size")
    if not 0 <= size.burn_in < size.sgld_steps:
        raise ValueError(f"burn_in: must lie in [0, sgld_steps={size.sgld_steps}), got "
                         f"{size.burn_in!r}")
    for field in ("kd_temperatures", "posterior_temperatures"):
        temps = getattr(size, field)
        if len(temps) == 0:
            raise ValueError(f"{field}: give at least one temperature, got none")
        for t in temps:  # the KD range is checked (and warned about) where the targets are made
            check_positive_float(t, name=field)


def softened_entropy(logp_NK: np.ndarray, temperature: float) -> float:
    r"""Mean entropy of :math:`\mathrm{softmax}(\log p / T)` over the rows of ``logp_NK``: the
    uncertainty a KD temperature injects into the targets (log-probabilities and logits differ by
    a per-row constant, which the softmax ignores)."""
    check_temperature(temperature)
    z = np.asarray(logp_NK, np.float64) / temperature
    z = z - z.max(-1, keepdims=True)
    logq = z - np.log(np.exp(z).sum(-1, keepdims=True))
    return float(np.mean(-np.sum(np.exp(logq) * logq, -1)))


def entropy_crossing(temps: np.ndarray, entropies: np.ndarray, target: float) -> float | None:
    r"""The posterior temperature at which the entropy curve reaches ``target``.

    ``temps`` (any order) and their predictive ``entropies``; the curve is interpolated linearly
    in :math:`\log T` between neighbouring temperatures. Returns the first crossing from the
    coldest temperature up, or ``None`` when ``target`` lies outside the curve's range.

    Example:
      >>> entropy_crossing(np.array([0.01, 1.0]), np.array([0.0, 1.0]), 0.5)
      0.1
    """
    order = np.argsort(temps)
    lt, h = np.log(np.asarray(temps, np.float64)[order]), np.asarray(entropies, np.float64)[order]
    for i in range(len(lt) - 1):
        lo, hi = sorted((h[i], h[i + 1]))
        if lo <= target <= hi and h[i] != h[i + 1]:
            frac = (target - h[i]) / (h[i + 1] - h[i])
            return float(np.exp(lt[i] + frac * (lt[i + 1] - lt[i])))
    return None


def _kd_arm(t: float) -> str:
    return f"KD T={t:g}"


def _post_arm(t: float, augmented: bool) -> str:
    return f"T_post={t:g}" + (" +aug" if augmented else "")


def run(size: Size, *, seeds: int, log=None, progress=None, units: Units | None = None) -> Report:
    check_size(size)
    log = log_fn(log)
    units = units or Units()
    ds = load_digits()
    t = train_teacher(ds, model="mlp", config=teacher_config(size.teacher_steps),
                      seed=TEACHER_SEED, progress=progress)
    t_train, t_test = t["logp_train"][0], t["logp_test"][0]
    data = {"x": ds.x_train, "y": ds.y_train}
    rows: list[dict] = []

    def kd_part():
        arms = [_kd_arm(T) for T in size.kd_temperatures]
        priors = [TeacherPrior(alpha=ALPHA, temperature=float(T), table=t_train)
                  for T in size.kd_temperatures]
        res = train_arms("mlp", ds, data, priors, seeds=seeds, steps=size.student_steps, key=0,
                         progress=progress, desc="(a) KD temperature",
                         model_kwargs={"hidden": STUDENT_HIDDEN},
                         checkpoint=units.trainer("a-kd"))
        out = metric_rows(member_logp(res, ds.x_test), ds.y_test, arms=arms, seeds=seeds,
                          teacher_probs=np.exp(t_test), extra={"part": "a"})
        for row in out:
            T = size.kd_temperatures[arms.index(row["arm"])]
            row |= {"kd_temperature": float(T), "target_entropy": softened_entropy(t_test, T)}
        return {"rows": out}

    rows += units("a-kd", kd_part)["rows"]
    log(f"[tempering] (a) {len(size.kd_temperatures)} KD temperatures x {seeds} seeds")

    fn = model_fn("mlp", ds)
    prior = GaussianPrior.from_sigma(PRIOR_STD, len(ds.x_train))
    for aug in (False, True):
        for i, T in enumerate(size.posterior_temperatures):
            def sgld_part(T=T, aug=aug, i=i):
                chain = fit_sgld(fn, data, prior=prior, key=jax.random.key(10 * i + aug),
                                 step_size=size.step_size, num_steps=size.sgld_steps,
                                 burn_in=size.burn_in, thin=size.thin, batch_size=SGLD_BATCH,
                                 num_chains=seeds, temperature=float(T),
                                 augment=AUGMENT if aug else None, progress=progress)
                pred = offline_predictive(chain, ds.x_test, key=jax.random.key(0),
                                          keep_samples=True)
                per_chain = pred.sample_probs.reshape(seeds, -1, *pred.sample_probs.shape[1:])
                out = []
                for s in range(seeds):
                    m = predictive_metrics(per_chain[s].mean(0), ds.y_test,
                                           sample_probs=per_chain[s])
                    out.append({"part": "b", "arm": _post_arm(T, aug), "seed": s,
                                "posterior_temperature": float(T), "augmented": aug,
                                "draws": int(per_chain.shape[1])} | m)
                return {"rows": out}

            rows += units(f"b-sgld-{'aug' if aug else 'plain'}{i}", sgld_part)["rows"]
        log(f"[tempering] (b) SGLD at {len(size.posterior_temperatures)} posterior temperatures"
            + (" with augmentation" if aug else " without augmentation"))
    return _report(rows, size, seeds)


METRICS = ("accuracy", "nll", "ece", "entropy")


def _report(rows, size: Size, seeds: int) -> Report:
    a = [r for r in rows if r["part"] == "a"]
    b = [r for r in rows if r["part"] == "b"]
    kd = summarize(a, group="arm", metrics=[*METRICS, "target_entropy"])
    post = summarize(b, group="arm", metrics=[*METRICS, "mutual_information"])
    kd_t, post_t = list(size.kd_temperatures), list(size.posterior_temperatures)

    def curve(metric, aug):
        return np.array([post[_post_arm(T, aug)][metric]["mean"] for T in post_t])

    def kd_curve(metric):
        return np.array([kd[_kd_arm(T)][metric]["mean"] for T in kd_t])

    # cold-posterior effect: the best T < 1 against T = 1, with and without augmentation
    gains = {}
    for aug in (False, True):
        nll = curve("nll", aug)
        warm = [i for i, T in enumerate(post_t) if T == 1.0]
        cold = [i for i, T in enumerate(post_t) if T < 1.0]
        if warm and cold:
            best = min(cold, key=lambda i: nll[i])
            gains[aug] = {"nll_T1": float(nll[warm[0]]), "best_cold_T": post_t[best],
                          "best_cold_nll": float(nll[best]),
                          "nll_gain": float(nll[warm[0]] - nll[best]),
                          "accuracy_gain": float(curve("accuracy", aug)[best]
                                                 - curve("accuracy", aug)[warm[0]])}
    # where the curves meet: (student) the posterior temperature whose predictive entropy equals
    # the student's, for every KD temperature; (targets) the KD temperature whose softened
    # targets carry the entropy of the predictive, for every posterior temperature
    meet = []
    for aug in (False, True):
        h_post = curve("entropy", aug)
        for T, h in zip(kd_t, kd_curve("entropy"), strict=True):
            tp = entropy_crossing(np.array(post_t), h_post, float(h))
            row = {"kd_side": "student", "augmented": aug, "kd_temperature": T,
                   "entropy": float(h), "posterior_temperature": tp}
            if tp is not None:
                nearest = post_t[int(np.argmin(np.abs(np.log(post_t) - np.log(tp))))]
                row |= {"nearest_posterior_temperature": nearest}
                for m in ("accuracy", "nll", "ece"):
                    row[f"student_{m}"] = kd[_kd_arm(T)][m]["mean"]
                    row[f"posterior_{m}"] = post[_post_arm(nearest, aug)][m]["mean"]
            meet.append(row)
        for T, h in zip(post_t, h_post, strict=True):
            meet.append({"kd_side": "targets", "augmented": aug, "posterior_temperature": T,
                         "entropy": float(h), "kd_temperature": entropy_crossing(
                             np.array(kd_t), kd_curve("target_entropy"), float(h))})

    h_kd = kd_curve("entropy")
    h_target = kd_curve("target_entropy")
    comparisons = [
        Comparison("a KD temperature T > 1 softens the targets (entropy of p_t^(T) on the test "
                   "inputs)", "rises with T (Hinton et al. 2015)",
                   ", ".join(f"T={T:g} {h:.3f}" for T, h in zip(kd_t, h_target, strict=True)),
                   agrees=bool(np.all(np.diff(h_target) > 0)) if len(kd_t) > 1 else None),
        Comparison("… and the student's own predictive entropy (at T = 1)",
                   "not stated (the student is meant to inherit the softness)",
                   ", ".join(f"T={T:g} {kd[_kd_arm(T)]['entropy']['mean']:.3f}" for T in kd_t),
                   agrees=None,
                   note=f"T={kd_t[-1]:g} vs T={kd_t[0]:g}: "
                        f"{'higher' if h_kd[-1] > h_kd[0] else 'not higher'}"),
        Comparison("a posterior temperature T < 1 sharpens the predictive (entropy)",
                   "falls as T_post falls",
                   "; ".join(f"{'with' if aug else 'without'} aug: " + ", ".join(
                       f"{T:g} {h:.3f}" for T, h in zip(post_t, curve('entropy', aug),
                                                        strict=True)) for aug in (False, True)),
                   agrees=all(curve("entropy", aug)[np.argmin(post_t)]
                              < curve("entropy", aug)[np.argmax(post_t)] for aug in (False, True))
                   if len(post_t) > 1 else None),
    ]
    if True in gains and False in gains:
        g1, g0 = gains[True], gains[False]
        comparisons += [
            Comparison("with augmentation, a cold posterior predicts better than T = 1 (test NLL)",
                       "yes: T ≈ 0.01–0.1 beats T = 1 (Wenzel et al. 2020, ResNet-20 / CIFAR-10)",
                       f"T=1 {g1['nll_T1']:.3f}, best cold T={g1['best_cold_T']:g} "
                       f"{g1['best_cold_nll']:.3f}", agrees=g1["nll_gain"] > 0),
            Comparison("without augmentation the gain is much smaller",
                       "the cold-posterior effect largely disappears without augmentation "
                       "(Izmailov et al. 2021, HMC)",
                       f"NLL gain of the best cold T: {g0['nll_gain']:+.3f} without vs "
                       f"{g1['nll_gain']:+.3f} with augmentation",
                       agrees=g0["nll_gain"] < g1["nll_gain"]),
        ]
    notes = _notes(size, seeds, kd_t, h_kd, meet, post, post_t)
    tables = [_table(kd, post, kd_t, post_t)]
    headline = (f"student entropy {h_kd[0]:.3f} (KD T={kd_t[0]:g}) → {h_kd[-1]:.3f} "
                f"(T={kd_t[-1]:g}); SGLD NLL T_post=1 → best cold: "
                + ", ".join(f"{'aug' if aug else 'plain'} {g['nll_T1']:.3f} → "
                            f"{g['best_cold_nll']:.3f}" for aug, g in sorted(gains.items())))
    return Report(rows=rows, summary={"kd": kd, "posterior": post},
                  comparisons=comparisons,
                  figures={"temperature_tempering": _figure(kd, post, kd_t, post_t)},
                  headline=headline, notes=notes, tables=tables,
                  extra={"cold_posterior_gain": {("augmented" if k else "plain"): v
                                                 for k, v in gains.items()},
                         "entropy_meeting": meet,
                         "settings": {"alpha": ALPHA, "student_hidden": list(STUDENT_HIDDEN),
                                      "prior_std": PRIOR_STD, "sgld_batch": SGLD_BATCH,
                                      "augmentation": "CropFlip(pad=1, flip=False)"}})


def _notes(size, seeds, kd_t, h_kd, meet, post, post_t) -> list[str]:
    notes = [
        f"(a) MLP students ({STUDENT_HIDDEN[0]} hidden units, alpha = {ALPHA:g}) of one MLP "
        f"teacher, {size.student_steps} steps; (b) {seeds} SGLD chains per setting, "
        f"{size.sgld_steps} steps of size {size.step_size:g} (batch {SGLD_BATCH}), the first "
        f"{size.burn_in} burn-in, a draw every {size.thin}; N(0, {PRIOR_STD:g}) weight prior.",
        "The knobs move in opposite directions: raising the KD temperature adds entropy to the "
        "targets, lowering the posterior temperature takes entropy out of the predictive.",
    ]
    for aug in (False, True):
        tag = "with augmentation" if aug else "without augmentation"
        rows = [m for m in meet if m["augmented"] == aug and m["kd_side"] == "student"]
        found = [m for m in rows if m["posterior_temperature"] is not None]
        h_post = [post[_post_arm(T, aug)]["entropy"]["mean"] for T in post_t]
        if not found:
            listed = ", ".join(f"{m['entropy']:.3f}" for m in rows)
            notes.append(
                f"The student's predictive entropy never meets the SGLD predictive's {tag}: "
                f"over KD T = {min(kd_t):g}–{max(kd_t):g} the students' entropies "
                f"({listed}) all lie outside the "
                f"predictives' range {min(h_post):.3f}–{max(h_post):.3f} over T_post = "
                f"{min(post_t):g}–{max(post_t):g}.")
        else:
            parts = [
                f"KD T={m['kd_temperature']:g} (entropy {m['entropy']:.3f}) ≈ T_post "
                f"{m['posterior_temperature']:.3g}, where the student has accuracy "
                f"{m['student_accuracy']:.3f} / NLL {m['student_nll']:.3f} / ECE "
                f"{m['student_ece']:.3f} and the SGLD predictive at T_post="
                f"{m['nearest_posterior_temperature']:g} {m['posterior_accuracy']:.3f} / "
                f"{m['posterior_nll']:.3f} / {m['posterior_ece']:.3f}" for m in found]
            notes.append(f"Where the student's entropy meets the SGLD predictive's {tag}: "
                         + "; ".join(parts) + ".")
        targets = [m for m in meet if m["augmented"] == aug and m["kd_side"] == "targets"]
        notes.append(
            f"The KD temperature whose softened targets carry the SGLD predictive's entropy "
            f"({tag}): " + ", ".join(
                f"T_post={m['posterior_temperature']:g} ({m['entropy']:.3f}) ↔ "
                + (f"KD T ≈ {m['kd_temperature']:.2g}" if m["kd_temperature"] is not None
                   else "none in the KD range") for m in targets) + ".")
    return notes


def _table(kd, post, kd_t, post_t) -> str:
    lines = ["| arm | accuracy | NLL | ECE | entropy |", "|---|---|---|---|---|"]
    arms = [_kd_arm(T) for T in kd_t] + [_post_arm(T, aug) for aug in (False, True)
                                         for T in post_t]
    for arm in arms:
        s = kd.get(arm) or post[arm]
        lines.append(f"| {arm} | " + " | ".join(format_mean_std(s[m]) for m in METRICS) + " |")
    return "\n".join(lines)


def _figure(kd, post, kd_t, post_t):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 4, figsize=(15, 6.5))
    for j, m in enumerate(METRICS):
        ax = axes[0, j]
        ax.errorbar(kd_t, [kd[_kd_arm(T)][m]["mean"] for T in kd_t],
                    yerr=[kd[_kd_arm(T)][m]["std"] for T in kd_t], marker="o", capsize=2,
                    label="student")
        if m == "entropy":
            ax.plot(kd_t, [kd[_kd_arm(T)]["target_entropy"]["mean"] for T in kd_t], "s--",
                    label="softened targets")
            ax.legend(fontsize=8)
        ax.set_xscale("log")
        ax.set_xlabel("KD temperature T")
        ax.set_title(f"(a) student {m}", fontsize=10)
        ax = axes[1, j]
        for aug in (False, True):
            ax.errorbar(post_t, [post[_post_arm(T, aug)][m]["mean"] for T in post_t],
                        yerr=[post[_post_arm(T, aug)][m]["std"] for T in post_t], marker="o",
                        capsize=2, label="with augmentation" if aug else "without")
        ax.set_xscale("log")
        ax.set_xlabel("posterior temperature T_post")
        ax.set_title(f"(b) SGLD predictive {m}", fontsize=10)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


__all__ = ["INFO", "SIZES", "Size", "check_size", "entropy_crossing", "run", "softened_entropy"]

r"""``privileged_information``: Lopez-Paz, Bottou, Schölkopf & Vapnik (2016), "Unifying
distillation and privileged information" (generalised distillation).

A teacher trained on *privileged* inputs :math:`x^*` (seen only at training time) teaches a
student that sees only the regular inputs :math:`x`: with imitation weight :math:`\lambda` and
temperature :math:`T` the student minimises

.. math::
    \frac1n\sum_i (1-\lambda)\,\ell\big(y_i, \sigma(f(x_i))\big)
      + \lambda\,\ell\big(s_i, \sigma(f(x_i))\big),\qquad s_i = \sigma\big(f_t(x^*_i)/T\big),

the student *not* softened (the paper's eq. 6): the library's
:class:`~bayeskd.priors.TeacherPrior` with ``alpha`` :math:`=\lambda`, ``temperature`` 1 and the
table :math:`\log s_i` (:func:`privileged_table`).

**Synthetic (§4.1).** :math:`d = 50`, 200 training points, logistic-regression teacher and
student (:func:`bayeskd.experiments.figures.variance_reduction.fit_softmax`), our reading of the
four setups (:math:`\alpha\sim\mathcal N(0, I)`):

1. *clean labels*: :math:`x\sim\mathcal N(0,I_d)`, :math:`x^* = \langle\alpha, x\rangle`,
   :math:`y = [x^* + \epsilon > 0]`, :math:`\epsilon\sim\mathcal N(0,1)`;
2. *clean features*: :math:`x^*\sim\mathcal N(0,I_d)`, :math:`x = x^* + \epsilon`,
   :math:`\epsilon\sim\mathcal N(0, I_d)`, :math:`y = [\langle\alpha, x^*\rangle > 0]`;
3. *relevant features*: :math:`x\sim\mathcal N(0,I_d)`, :math:`x^* = x_J` for the first three
   coordinates :math:`J`, :math:`y = [\langle\alpha_J, x_J\rangle > 0]`;
4. *sample-dependent relevant features*: as 3 with a random :math:`J_i` of three coordinates per
   example, the teacher seeing them in order.

Students are fitted for :math:`\lambda\in\{0, .25, .5, .75, 1\}` and
:math:`T\in\{1, 2, 5, 10, 20, 50\}`; every (λ, T) is reported, and the distilled student's
accuracy is that of the (λ, T) with the best accuracy on 200 fresh validation points of the same
repeat (the paper cross-validates). Test accuracy on 10,000 fresh points; mean over repeats.

**Images at our scale.** Digits (8x8) with 300 training images: the teacher (30-unit MLP) sees
the full image, the student (the same MLP) an average-pooled 4x4 image (a quarter of the pixels)
or 2x2 image (a sixteenth, as the paper's 7x7 student of 28x28 MNIST); student test accuracy
against :math:`\lambda` and :math:`T`.

Command: ``bayeskd reproduce privileged_information --size quick`` (30 repeats, 3 image seeds;
about 1 min on 2 cores).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from bayeskd.data import Dataset, load_digits
from bayeskd.experiments.figures._base import (
    Comparison,
    FigureInfo,
    Report,
    Units,
    log_fn,
    member_logp,
    repeat_each,
    table_prior,
    train_members,
)
from bayeskd.experiments.figures.variance_reduction import fit_softmax
from bayeskd.metrics import format_mean_std, summarize
from bayeskd.training import predict_logits_members
from bayeskd.validate import check_positive_int, check_temperature, check_unit_interval

INFO = FigureInfo(
    name="privileged_information",
    title="a teacher with privileged inputs teaches a student without them (Lopez-Paz et al. 2016)",
    paper="D. Lopez-Paz, L. Bottou, B. Schölkopf, V. Vapnik. Unifying distillation and "
          "privileged information. ICLR 2016",
    mirrors="§4.1 (four synthetic setups, Fig. 1) and §4.2 (MNIST 28x28 teacher, 7x7 student)",
    claim="Generalised distillation from a teacher on privileged inputs beats the student alone "
          "where the privileged information is learnable from x (clean labels, relevant "
          "features: teacher/student/distilled 96/88/95 and 98/89/97 %), and helps little where "
          "it is not (clean features 90/68/70, sample-dependent features 96/55/56); on images, "
          "imitation at T = 10–20 lifts the low-resolution student.",
    runtime={"smoke": "~20 s", "quick": "~1 min", "full": "~4 min"},
)

SETUPS = ("clean labels", "clean features", "relevant features", "sample-dependent features")
PUBLISHED = {"clean labels": (96, 88, 95), "clean features": (90, 68, 70),
             "relevant features": (98, 89, 97), "sample-dependent features": (96, 55, 56)}
LAMBDAS = (0.25, 0.5, 0.75, 1.0)
TEMPERATURES = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0)
DIM, NUM_TRAIN, NUM_VAL, NUM_TEST, RELEVANT = 50, 200, 200, 10_000, 3
NUM_IMAGES = 300
FACTORS = (2, 4)  # 8x8 -> 4x4 (a quarter of the pixels) and -> 2x2 (a sixteenth, as 28x28 -> 7x7)
GAIN_MIN = 0.02  # "beats the student": at least 2 points


@dataclasses.dataclass(frozen=True)
class Size:
    seeds: int
    repeats: int
    steps: int
    image_steps: int


SIZES = {
    "smoke": Size(seeds=2, repeats=3, steps=300, image_steps=300),
    "quick": Size(seeds=3, repeats=30, steps=1000, image_steps=1500),
    "full": Size(seeds=5, repeats=100, steps=2000, image_steps=3000),
}


def check_size(size: Size) -> None:
    """Refuse a size that cannot run, before any work: every count must be a positive integer."""
    for name in ("seeds", "repeats", "steps", "image_steps"):
        check_positive_int(getattr(size, name), name=name)


def privileged_table(teacher_logits, x, *, temperature: float) -> np.ndarray:
    r"""The generalised-distillation table :math:`\log\sigma(f_t(x^*_i)/T)` ``[N, K]``.

    ``teacher_logits`` are the teacher's logits on the privileged inputs ``[N, K]``, one row per
    regular input in ``x [N, ...]`` (checked before any work).

    Example:
      >>> privileged_table(np.array([[2.0, 0.0]]), np.zeros((1, 3)), temperature=2.0).round(3)
      array([[-0.313, -1.313]], dtype=float32)
    """
    check_temperature(temperature)
    z = np.asarray(teacher_logits, np.float64)
    if z.ndim != 2 or len(z) != len(x):
        raise ValueError(f"teacher_logits: the privileged inputs need one row per regular input "
                         f"(N = {len(x)}), got shape {z.shape}")
    z = z / temperature
    z = z - z.max(-1, keepdims=True)
    return (z - np.log(np.exp(z).sum(-1, keepdims=True))).astype(np.float32)


def generalised_targets(y, log_s, *, imitation: float) -> np.ndarray:
    r""":math:`(1-\lambda)\,\mathrm{onehot}(y) + \lambda s`: cross-entropy against it is the
    generalised-distillation loss (it is linear in the target)."""
    check_unit_interval(imitation, name="imitation")
    if np.ndim(log_s) != 2 or len(log_s) != len(y):
        raise ValueError(f"log_s: the privileged targets need one row per regular label "
                         f"(N = {len(y)}), got shape {np.shape(log_s)}")
    return ((1 - imitation) * np.eye(log_s.shape[1])[y] + imitation * np.exp(log_s)).astype(np.float32)


def sample_setup(setup: int, n: int, alpha: np.ndarray, *, rng) -> tuple[np.ndarray, ...]:
    """``(x [n, d], x_star [n, d] zero-padded, y [n])`` of setup ``setup`` (0..3)."""
    d = DIM
    x_star = np.zeros((n, d))
    if setup == 0:
        x = rng.standard_normal((n, d))
        x_star[:, 0] = x @ alpha
        y = (x_star[:, 0] + rng.standard_normal(n) > 0)
    elif setup == 1:
        x_star = rng.standard_normal((n, d))
        x = x_star + rng.standard_normal((n, d))
        y = x_star @ alpha > 0
    elif setup == 2:
        x = rng.standard_normal((n, d))
        x_star[:, :RELEVANT] = x[:, :RELEVANT]
        y = x_star[:, :RELEVANT] @ alpha[:RELEVANT] > 0
    else:
        x = rng.standard_normal((n, d))
        idx = np.stack([rng.choice(d, RELEVANT, replace=False) for _ in range(n)])
        x_star[:, :RELEVANT] = np.take_along_axis(x, idx, 1)
        y = x_star[:, :RELEVANT] @ alpha[:RELEVANT] > 0
    return x.astype(np.float32), x_star.astype(np.float32), y.astype(np.int32)


def arms() -> list[tuple[float, float]]:
    """``(λ, T)`` of every student: ``(0, 1)`` (labels alone) then each λ > 0 at each T."""
    return [(0.0, 1.0)] + [(lam, t) for lam in LAMBDAS for t in TEMPERATURES]


def synthetic_part(size: Size, repeats: int) -> list[dict]:
    """Every setup x repeat: the teacher on x*, and a student on x for each (λ, T) of
    :func:`arms`, all fitted in two vmapped runs; one accuracy row per model."""
    sets = []
    for s in range(len(SETUPS)):
        for r in range(repeats):
            rng = np.random.default_rng([11, s, r])
            alpha = rng.standard_normal(DIM)
            sets.append([sample_setup(s, m, alpha, rng=rng) for m in (NUM_TRAIN, NUM_VAL, NUM_TEST)])
    onehot = np.eye(2, dtype=np.float32)
    ones = np.ones((len(sets), NUM_TRAIN), np.float32)
    xs_train = np.stack([tr[1] for tr, _, _ in sets])
    y_train = np.stack([tr[2] for tr, _, _ in sets])
    Wt, bt = (np.asarray(a) for a in fit_softmax(xs_train, onehot[y_train], ones, steps=size.steps))
    z_train = np.einsum("mnd,mdk->mnk", xs_train, Wt) + bt[:, None]
    arm_list = arms()
    targets = np.stack([generalised_targets(y_train[i], privileged_table(z_train[i], xs_train[i],
                                                                          temperature=t),
                                            imitation=lam)
                        for i in range(len(sets)) for lam, t in arm_list])
    x_rep = np.repeat(np.stack([tr[0] for tr, _, _ in sets]), len(arm_list), axis=0)
    Ws, bs = (np.asarray(a) for a in fit_softmax(x_rep, targets,
                                                 np.ones(targets.shape[:2], np.float32),
                                                 steps=size.steps))
    rows = []
    for i, (_, val, test) in enumerate(sets):
        setup, rep = SETUPS[i // repeats], i % repeats
        rows.append({"part": "synthetic", "setup": setup, "repeat": rep, "model": "teacher",
                     "test_accuracy": float(np.mean((test[1] @ Wt[i] + bt[i]).argmax(-1) == test[2]))})
        sl = slice(i * len(arm_list), (i + 1) * len(arm_list))
        for (lam, t), W, b in zip(arm_list, Ws[sl], bs[sl], strict=True):
            rows.append({"part": "synthetic", "setup": setup, "repeat": rep,
                         "model": "student" if lam == 0 else "distilled", "imitation": lam,
                         "temperature": t,
                         "val_accuracy": float(np.mean((val[0] @ W + b).argmax(-1) == val[2])),
                         "test_accuracy": float(np.mean((test[0] @ W + b).argmax(-1) == test[2]))})
    return rows


def downsample(x: np.ndarray, factor: int = 2) -> np.ndarray:
    """``[N, H, W, C] -> [N, H/f, W/f, C]`` by ``f x f`` average pooling."""
    n, h, w, c = x.shape
    return x.reshape(n, h // factor, factor, w // factor, factor, c).mean((2, 4))


def image_part(size: Size, seeds: int, *, progress) -> list[dict]:
    """Digits: ``seeds`` teachers on 8x8, then every (λ, T) x seed student on each pooled
    resolution of :data:`FACTORS`, one run per resolution."""
    full = load_digits()
    idx = np.random.default_rng(5).choice(len(full.x_train), NUM_IMAGES, replace=False)
    big = Dataset("digits8", full.x_train[idx], full.y_train[idx], full.x_test, full.y_test, 10)
    dummy = table_prior(None, n=NUM_IMAGES, k=10, alpha=0.0, temperature=1.0)
    teachers = train_members("mlp-small", big, {"x": big.x_train, "y": big.y_train},
                             [dummy] * seeds, steps=size.image_steps, key=21, progress=progress,
                             desc="privileged teachers")
    z = np.asarray(predict_logits_members(teachers.graphdef, teachers.params, big.x_train))
    t_acc = (member_logp(teachers, big.x_test).argmax(-1) == big.y_test).mean(-1)
    rows = [{"part": "images", "model": "teacher", "resolution": "8x8", "seed": s,
             "test_accuracy": float(t_acc[s])} for s in range(seeds)]
    arm_list = arms()
    for f in FACTORS:
        res_name = f"{8 // f}x{8 // f}"
        small = Dataset(f"digits{8 // f}", downsample(big.x_train, f), big.y_train,
                        downsample(big.x_test, f), big.y_test, 10)
        priors = [table_prior(privileged_table(z[s], small.x_train, temperature=t) if lam else None,
                              n=NUM_IMAGES, k=10, alpha=lam, temperature=1.0)
                  for lam, t in arm_list for s in range(seeds)]
        res = train_members("mlp-small", small, {"x": small.x_train, "y": small.y_train}, priors,
                            steps=size.image_steps, key=22, progress=progress,
                            desc=f"{res_name} students x{len(priors)}")
        acc = (member_logp(res, small.x_test).argmax(-1) == small.y_test).mean(-1)
        for m, (lam, t) in enumerate(repeat_each(arm_list, seeds)):
            rows.append({"part": "images", "model": "student", "resolution": res_name,
                         "seed": m % seeds, "imitation": lam, "temperature": t,
                         "test_accuracy": float(acc[m])})
    return rows


def run(size: Size, *, seeds: int, log=None, progress=None, units: Units | None = None) -> Report:
    check_size(size)
    log = log_fn(log)
    units = units or Units()
    syn = units("synthetic", lambda: {"rows": synthetic_part(size, size.repeats)})["rows"]
    log(f"[privileged_information] synthetic: {len(SETUPS)} setups x {size.repeats} repeats x "
        f"{len(arms())} students")
    img = units("images", lambda: {"rows": image_part(size, seeds, progress=progress)})["rows"]
    log(f"[privileged_information] digits: {seeds} teachers, {len(arms()) * seeds} students")
    return _report(list(syn) + list(img), size, seeds)


def selected_rows(rows: list[dict]) -> list[dict]:
    """Per (setup, repeat): the student (any λ, T, λ = 0 included) with the best validation
    accuracy, first in :func:`arms` order on ties."""
    best: dict = {}
    for r in rows:
        if r["part"] == "synthetic" and r["model"] != "teacher":
            k = (r["setup"], r["repeat"])
            if k not in best or r["val_accuracy"] > best[k]["val_accuracy"]:
                best[k] = r
    return [{"setup": k[0], "repeat": k[1], "model": "selected", "test_accuracy": v["test_accuracy"],
             "imitation": v["imitation"], "temperature": v["temperature"]} for k, v in best.items()]


def _report(rows, size, seeds) -> Report:
    syn = [r for r in rows if r["part"] == "synthetic"]
    fixed = summarize([r for r in syn if r["model"] != "distilled"], group=("setup", "model"),
                      metrics=["test_accuracy"])
    sel = selected_rows(syn)
    chosen = summarize(sel, group="setup", metrics=["test_accuracy", "imitation"])
    sweep = summarize([r for r in syn if r["model"] == "distilled"],
                      group=("setup", "imitation", "temperature"), metrics=["test_accuracy"])
    comparisons, gains = [], {}
    for name in SETUPS:
        t = fixed[(name, "teacher")]["test_accuracy"]["mean"]
        st = fixed[(name, "student")]["test_accuracy"]["mean"]
        d = chosen[name]["test_accuracy"]["mean"]
        pt, ps, pd = PUBLISHED[name]
        gains[name] = d - st
        strong = pd - ps >= 5
        comparisons.append(Comparison(
            f"{name}: teacher / student / distilled accuracy (%)", f"{pt} / {ps} / {pd}",
            f"{100 * t:.0f} / {100 * st:.0f} / {100 * d:.0f}",
            agrees=(gains[name] >= GAIN_MIN) if strong else (gains[name] < 0.05),
            note=("published gain ≥ 5 points: ours must gain ≥ 2" if strong else
                  "published gain < 5 points: ours must gain < 5")
                 + f"; mean over {size.repeats} repeats"))
    img = [r for r in rows if r["part"] == "images"]
    img_s = summarize([r for r in img if r["model"] == "student"],
                      group=("resolution", "imitation", "temperature"), metrics=["test_accuracy"])
    teacher_img = summarize([r for r in img if r["model"] == "teacher"], group="model",
                            metrics=["test_accuracy"])["teacher"]["test_accuracy"]
    resolutions = [f"{8 // f}x{8 // f}" for f in FACTORS]
    alone, hot = {}, {}
    for res in resolutions:
        alone[res] = img_s[(res, 0.0, 1.0)]["test_accuracy"]
        hot[res] = float(np.mean([r["test_accuracy"] for r in img if r["model"] == "student"
                                  and r["resolution"] == res and r["imitation"] > 0
                                  and r["temperature"] in (10.0, 20.0)]))
        comparisons.append(Comparison(
            f"images: {res} student without imitation vs with imitation at T = 10–20 "
            "(mean over λ > 0 and both T)",
            "MNIST 7x7 from 28x28: about 0.40–0.55 without, 0.6–0.7 at T = 10–20",
            f"digits {res} from 8x8: {format_mean_std(alone[res])} without, {hot[res]:.3f} with "
            f"(teacher {format_mean_std(teacher_img)})",
            agrees=hot[res] - alone[res]["mean"] >= GAIN_MIN,
            note=f"{NUM_IMAGES} training images, {seeds} seeds; 'lifts' read as ≥ 2 points"))
    best = {res: max((k for k in img_s if k[0] == res and k[1] > 0),
                     key=lambda k: img_s[k]["test_accuracy"]["mean"]) for res in resolutions}
    notes = [
        "Distilled accuracy uses the (λ, T) with the best accuracy on 200 fresh validation points "
        "of each repeat (λ = 0 allowed, as when the paper cross-validates λ); mean chosen λ per "
        "setup: " + ", ".join(f"{n} {chosen[n]['imitation']['mean']:.2f}" for n in SETUPS) + ".",
        "Gain of the distilled student over the student alone (points): "
        + ", ".join(f"{n} {100 * gains[n]:+.1f} (published {PUBLISHED[n][2] - PUBLISHED[n][1]:+d})"
                    for n in SETUPS) + ".",
        "Digits, best (λ, T) cell per resolution (chosen on the test set: descriptive only): "
        + ", ".join(f"{res} λ = {best[res][1]:g}, T = {best[res][2]:g} at "
                    f"{img_s[best[res]]['test_accuracy']['mean']:.3f}" for res in resolutions)
        + ". Our digits are 8x8, not 28x28: the 4x4 student keeps a quarter of the pixels, the "
          "2x2 one a sixteenth, as MNIST's 7x7 student does.",
    ]
    table = ["| setup | λ | " + " | ".join(f"T = {t:g}" for t in TEMPERATURES) + " |",
             "|---|---|" + "---|" * len(TEMPERATURES)]
    for name in SETUPS:
        for lam in LAMBDAS:
            table.append(f"| {name} | {lam:g} | " + " | ".join(
                f"{100 * sweep[(name, lam, t)]['test_accuracy']['mean']:.1f}"
                for t in TEMPERATURES) + " |")
    for res in resolutions:
        for lam in LAMBDAS:
            table.append(f"| digits {res} | {lam:g} | " + " | ".join(
                f"{100 * img_s[(res, lam, t)]['test_accuracy']['mean']:.1f}"
                for t in TEMPERATURES) + " |")
    headline = ("T/S/D %: " + "; ".join(
        f"{n} {100 * fixed[(n, 'teacher')]['test_accuracy']['mean']:.0f}/"
        f"{100 * fixed[(n, 'student')]['test_accuracy']['mean']:.0f}/"
        f"{100 * chosen[n]['test_accuracy']['mean']:.0f}" for n in SETUPS)
        + "; digits students alone / imitating at T = 10–20: "
        + ", ".join(f"{res} {alone[res]['mean']:.3f} / {hot[res]:.3f}" for res in resolutions))
    return Report(rows=rows, summary={"synthetic": fixed, "selected": chosen, "sweep": sweep,
                                      "images": img_s},
                  comparisons=comparisons,
                  figures={"privileged_information": _figure(fixed, chosen, img_s, teacher_img,
                                                              resolutions)},
                  headline=headline, notes=notes,
                  tables=["Student test accuracy (%) at every imitation weight λ and temperature "
                          "T (mean over repeats / seeds):\n\n" + "\n".join(table)],
                  extra={"published": PUBLISHED, "lambdas": list(LAMBDAS),
                         "temperatures": list(TEMPERATURES)})


def _figure(fixed, chosen, img_s, teacher_img, resolutions):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 1 + len(resolutions), figsize=(6 + 4.5 * len(resolutions), 4))
    ax = axes[0]
    xs = np.arange(len(SETUPS))
    for j, (label, get) in enumerate((
            ("teacher", lambda n: fixed[(n, "teacher")]["test_accuracy"]["mean"]),
            ("student", lambda n: fixed[(n, "student")]["test_accuracy"]["mean"]),
            ("distilled", lambda n: chosen[n]["test_accuracy"]["mean"]))):
        ax.bar(xs + (j - 1) * 0.27, [100 * get(n) for n in SETUPS], width=0.27, label=label)
        ax.scatter(xs + (j - 1) * 0.27, [PUBLISHED[n][j] for n in SETUPS], marker="_", s=200,
                   color="k", zorder=3, label="published" if j == 0 else None)
    ax.set_xticks(xs, [n.replace(" ", "\n", 1) for n in SETUPS], fontsize=8)
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(40, 100)
    ax.set_title("synthetic setups (d = 50, n = 200)", fontsize=10)
    ax.legend(fontsize=7)
    for ax, res in zip(axes[1:], resolutions, strict=True):
        for t, c in zip(TEMPERATURES, plt.cm.viridis(np.linspace(0, 0.9, len(TEMPERATURES))),
                        strict=True):
            ax.plot([0.0, *LAMBDAS], [img_s[(res, 0.0, 1.0)]["test_accuracy"]["mean"]]
                    + [img_s[(res, lam, t)]["test_accuracy"]["mean"] for lam in LAMBDAS],
                    marker="o", color=c, label=f"T = {t:g}")
        ax.axhline(teacher_img["mean"], color="k", ls=":", lw=1, label="teacher (8x8)")
        ax.set_xlabel("imitation weight λ")
        ax.set_ylabel(f"{res} student test accuracy")
        ax.set_title(f"digits: 8x8 teacher, {res} student, {NUM_IMAGES} images", fontsize=10)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


__all__ = ["INFO", "SIZES", "Size", "check_size", "downsample", "generalised_targets", "privileged_table",
           "run", "sample_setup", "selected_rows"]

r"""``bayesian_dark_knowledge``: Korattikara, Rathod, Murphy & Welling (2015), "Bayesian dark
knowledge"; student capacity after Vadera & Marlin (2019).

Their 2-D toy: two classes, 10 points each (a 2-class Gaussian mixture), a 2-10-2 ReLU network
with an :math:`\mathcal N(0, 1)` prior on every weight. The reference posterior predictive is
NumPyro NUTS (:func:`bayeskd.posteriors.run_nuts`); against it, on a grid around the data, the
mean :math:`\mathrm{KL}(p_{\mathrm{NUTS}}\,\|\,q)` (:func:`bayeskd.posteriors.reference_distances`)
of

- **SGD**: the MAP network (full-batch SGD with momentum on the same objective);
- **SGLD**: the predictive averaged over an SGLD chain (:func:`bayeskd.posteriors.fit_sgld`);
- **students** 2-10-2, 2-100-2 and 2-10-10-2 distilled *online* from an SGLD chain
  (:func:`bayeskd.posteriors.bayesian_dark_knowledge`), in two arms that differ only in the
  student's inputs :math:`x'`: drawn **uniformly over the grid's box** (the paper's Methods, for
  low-dimensional problems such as this toy: "we can uniformly sample the input domain"; the arms
  named ``student 2-10-2`` etc.), and the **training points perturbed by**
  :math:`\mathcal N(0, 0.5^2)` noise (its choice for high-dimensional problems; the arms named
  ``student 2-10-2, perturbed inputs`` etc.). The KL is measured on that same grid.

Vadera & Marlin: students need more capacity when the posterior is uncertain, so KL should fall
with student size. Every seed reruns SGD, SGLD and the students (new keys, the same data and
NUTS reference).

The digits student (64-dimensional inputs) sees perturbed training images, as the paper says
for high-dimensional problems.

Command: ``bayeskd reproduce bayesian_dark_knowledge --size quick`` (3 seeds; about 1.5 min on 2
idle cores).
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
from flax import nnx

from bayeskd.data import grid_2d, load_digits, make_gmm_problem
from bayeskd.experiments.common import model_fn
from bayeskd.experiments.figures._base import (
    Comparison,
    FigureInfo,
    Report,
    Units,
    _chunk,
    log_fn,
)
from bayeskd.metrics import classification_metrics, format_mean_std, summarize
from bayeskd.models import MLP, param_count
from bayeskd.posteriors import (
    BayesianNet,
    ParamSamples,
    bayesian_dark_knowledge,
    fit_sgld,
    offline_predictive,
    predictive_diagnostics,
    reference_distances,
    rhat_ess,
    run_nuts,
    to_inference_data,
)
from bayeskd.priors import GaussianPrior
from bayeskd.training import TrainConfig, fit
from bayeskd.validate import check_choice, check_positive_float, check_positive_int

INFO = FigureInfo(
    name="bayesian_dark_knowledge",
    title="an online student of an SGLD chain approaches the NUTS predictive (Korattikara et al. "
          "2015)",
    paper="A. Korattikara, V. Rathod, K. Murphy, M. Welling. Bayesian dark knowledge. NeurIPS "
          "2015; A. Vadera, B. Marlin. Assessing the robustness of Bayesian dark knowledge to "
          "posterior uncertainty. 2019",
    mirrors="§4.1 toy 2-D classification (Fig. 1, Table 1); student capacity (Vadera & Marlin)",
    claim="KL to the HMC predictive: SGD 0.246, SGLD 0.007, online students 2-10-2 / 2-100-2 / "
          "2-10-10-2 0.031 / 0.014 / 0.009 — the students come close to SGLD, better with more "
          "capacity.",
    runtime={"smoke": "~45 s", "quick": "~1.5 min", "full": "~12 min (estimated)"},
)

PUBLISHED = {"SGD": 0.246, "SGLD": 0.007, "student 2-10-2": 0.031, "student 2-100-2": 0.014,
             "student 2-10-10-2": 0.009}
STUDENTS = {"student 2-10-2": (10,), "student 2-100-2": (100,), "student 2-10-10-2": (10, 10)}
#: the toy student's input arms: ``student_inputs`` of :func:`bayesian_dark_knowledge` -> the
#: suffix of the arm's name (uniform over the grid's box is the paper's toy setting)
STUDENT_INPUTS = {"uniform": "", "perturb": ", perturbed inputs"}
INPUT_LABELS = {"uniform": "uniform inputs over the grid's box",
                "perturb": "training points + N(0, 0.5²) noise"}
PRIOR_STD, INPUT_NOISE, PER_CLASS = 1.0, 0.5, 10
NEAR = 2 * INPUT_NOISE  # "near the data": within two input-noise std of a training point
DIGITS_HIDDEN, DIGITS_STEP, DIGITS_INPUT_NOISE = (100,), 1e-4, 0.1
DIGIT_ARMS = ("SGD", "SGLD", "online student")
STUDENT_LR = 3e-3  # the posterior zoo's online-student learning rate
THIN = 100  # SGLD steps between kept draws
WINDOW = 5  # draws (WINDOW * THIN steps) in the chain's short-window average
WINDOW_ARM = f"SGLD last {WINDOW} draws"


@dataclasses.dataclass(frozen=True)
class Size:
    seeds: int
    nuts_warmup: int
    nuts_samples: int
    sgld_steps: int
    step_size: float
    grid: int
    digits_steps: int
    students: tuple[str, ...] = tuple(STUDENTS)


SIZES = {
    "smoke": Size(seeds=2, nuts_warmup=100, nuts_samples=100, sgld_steps=1000, step_size=5e-4,
                  grid=20, digits_steps=300, students=("student 2-10-2",)),
    "quick": Size(seeds=3, nuts_warmup=500, nuts_samples=1000, sgld_steps=20000, step_size=5e-4,
                  grid=50, digits_steps=6000),
    "full": Size(seeds=5, nuts_warmup=1000, nuts_samples=2000, sgld_steps=100000,
                 step_size=5e-4, grid=80, digits_steps=20000),
}


def check_size(size: Size) -> None:
    """Refuse a size that cannot run, before any work: positive counts and step size, known
    student names."""
    for name in ("seeds", "nuts_warmup", "nuts_samples", "sgld_steps", "grid", "digits_steps"):
        check_positive_int(getattr(size, name), name=name)
    check_positive_float(size.step_size, name="step_size")
    if size.sgld_steps - size.sgld_steps // 5 < THIN:
        raise ValueError(f"sgld_steps: the chain keeps a draw every {THIN} steps after the first "
                         f"fifth; at least {THIN * 5 // 4 + 1}, got {size.sgld_steps}")
    if not size.students:
        raise ValueError(f"students: give at least one of {', '.join(STUDENTS)}")
    for name in size.students:
        check_choice(name, tuple(STUDENTS), name="students")


def student_arm(student: str, inputs: str) -> str:
    """The results' name of ``student`` trained on ``inputs`` (a key of :data:`STUDENT_INPUTS`)."""
    return student + STUDENT_INPUTS[inputs]


def published_pattern(kl: dict[str, float], students, inputs: str) -> dict:
    """Whether the published pattern holds for one input arm, from the mean KLs ``kl`` (arm name
    -> KL; needs ``"SGD"``, ``"SGLD"`` and ``student_arm(s, inputs)`` for every student):

    - ``order``: the students' KLs fall in the published order (2-10-10-2 < 2-100-2 < 2-10-2 for
      the sizes present; ``None`` with one student);
    - ``below_sgd``: every student's KL is below SGD's (published: all, by 8x or more);
    - ``best_over_sgld``: the best student's KL over SGLD's (published 0.009 / 0.007 = 1.3).
    """
    st = {s: kl[student_arm(s, inputs)] for s in students}
    want = sorted(students, key=PUBLISHED.get)
    got = sorted(students, key=st.get)
    return {"order": (got == want) if len(students) > 1 else None,
            "below_sgd": all(v < kl["SGD"] for v in st.values()),
            "best_over_sgld": min(st.values()) / max(kl["SGLD"], 1e-12)}


def inputs_note(kl: dict[str, float], students, inputs: str) -> str:
    """One sentence per input arm saying, from the numbers, whether the published ordering and
    closeness hold (:func:`published_pattern`)."""
    pat = published_pattern(kl, students, inputs)
    pub = min(PUBLISHED[s] for s in students) / PUBLISHED["SGLD"]
    order = ("one student size, no ordering to check" if pat["order"] is None else
             "the published order (" + " < ".join(s[8:] for s in sorted(students,
                                                                      key=PUBLISHED.get))
             + (") holds" if pat["order"] else ") does not hold"))
    return (f"Students on {INPUT_LABELS[inputs]}: KL "
            + " / ".join(f"{s[8:]} {kl[student_arm(s, inputs)]:.3f}" for s in students)
            + f"; {order}; every student below SGD ({kl['SGD']:.3f}): "
            + ("yes" if pat["below_sgd"] else "no")
            + f"; the best student is {pat['best_over_sgld']:.1f}x SGLD's KL (published "
            f"{pub:.1f}x). The published ordering and closeness "
            + ("hold" if pat["order"] is not False and pat["below_sgd"] else "do not hold")
            + " with these inputs.")


def mlp(hidden: tuple[int, ...]):
    """``key -> MLP(2 -> hidden -> 2)``."""
    return lambda key: MLP(2, 2, hidden=hidden, rngs=nnx.Rngs(params=key))


def toy_data(seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``PER_CLASS`` points of each of two Gaussian-mixture classes: ``x [20, 2]``, ``y [20]``."""
    problem = make_gmm_problem(dim=2, num_classes=2, separation=1.5, seed=seed)
    x, y = problem.sample(200, seed=seed)
    idx = np.concatenate([np.flatnonzero(y == c)[:PER_CLASS] for c in (0, 1)])
    return x[idx].astype(np.float32), y[idx].astype(np.int32)


def run(size: Size, *, seeds: int, log=None, progress=None, units: Units | None = None) -> Report:
    check_size(size)
    log = log_fn(log)
    units = units or Units()
    x, y = toy_data()
    data = {"x": x, "y": y}
    grid = grid_2d(x, resolution=size.grid, margin=1.5)[0].astype(np.float32)
    box = (grid.min(axis=0), grid.max(axis=0))  # the uniform student's input domain
    prior = GaussianPrior.from_sigma(PRIOR_STD, len(x))
    teacher_fn = mlp((10,))

    def nuts_part():
        bnn = BayesianNet(teacher_fn, key=jax.random.key(0), prior_std=PRIOR_STD)
        run_ = run_nuts(bnn.model, x, y, key=jax.random.key(1), num_warmup=size.nuts_warmup,
                        num_samples=size.nuts_samples, num_chains=2)
        post = bnn.posterior(run_, name="nuts")
        pred = offline_predictive(post, grid, key=jax.random.key(0), keep_samples=True)
        draws = pred.sample_probs.reshape(post.chains, -1, *pred.sample_probs.shape[1:])
        # ArviZ's rank-normalised split R-hat and bulk ESS: of the weights (which the network's
        # symmetries may keep from mixing across chains) and of the grid predictive
        return {"grid_probs": pred.probs, "divergent": run_.num_divergent,
                "diagnostics": {"weights": rhat_ess(to_inference_data(run_)),
                                "predictive": predictive_diagnostics(draws)}}

    ref = units("nuts", nuts_part)
    ref_probs = np.asarray(ref["grid_probs"])
    diag = ref["diagnostics"]
    log(f"[bdk] NUTS reference: {2 * size.nuts_samples} draws, {ref['divergent']} divergent, "
        f"predictive R-hat max {float(diag['predictive']['rhat_max']):.3f}")
    burn_in = size.sgld_steps // 5

    def seed_part(s: int):
        key = jax.random.key(100 + s)
        out = {}
        sgd = fit(teacher_fn, data, prior=prior, key=key, num_members=1, progress=False,
                  config=TrainConfig(steps=2000, batch_size=len(x), learning_rate=0.05,
                                     optimizer="sgd", eval_every=2000))
        out["SGD"] = offline_predictive(ParamSamples.from_fit(sgd), grid, key=key).probs
        chain = fit_sgld(teacher_fn, data, prior=prior, key=key, step_size=size.step_size,
                         num_steps=size.sgld_steps, burn_in=burn_in, thin=THIN,
                         batch_size=len(x), progress=False)
        out["SGLD"] = offline_predictive(chain, grid, key=key).probs
        # the chain's average over only its last WINDOW draws: what a student that follows the
        # recent samples (rather than the whole chain) can at best fit
        last = ParamSamples(chain.graphdef, jax.tree.map(lambda a: a[-WINDOW:], chain.params))
        out[WINDOW_ARM] = offline_predictive(last, grid, key=key).probs
        for inputs in STUDENT_INPUTS:
            for name in size.students:
                dk = bayesian_dark_knowledge(teacher_fn, mlp(STUDENTS[name]), data, prior=prior,
                                             key=key, step_size=size.step_size,
                                             num_steps=size.sgld_steps, burn_in=burn_in,
                                             batch_size=len(x), student_inputs=inputs,
                                             input_noise=INPUT_NOISE, input_box=box,
                                             student_learning_rate=STUDENT_LR)
                out[student_arm(name, inputs)] = offline_predictive(dk.student, grid,
                                                                    key=key).probs
        return out

    # grid points within NEAR of a training point: where the online student sees inputs
    dist = np.min(np.linalg.norm(grid[:, None] - x[None], axis=-1), axis=1)
    near = dist <= NEAR
    rows = []
    for s in range(seeds):
        probs = units(f"seed{s}", lambda s=s: seed_part(s))
        for arm in ("SGD", "SGLD", WINDOW_ARM, *student_arms(size.students)):
            q = np.asarray(probs[arm])
            rows.append({"part": "toy", "arm": arm, "seed": s} | reference_distances(ref_probs, q)
                        | reference_distances(ref_probs[near], q[near], suffix="_near")
                        | reference_distances(ref_probs[~near], q[~near], suffix="_far"))
        log(f"[bdk] seed {s}: SGD, SGLD and {len(size.students)} online students x "
            f"{len(STUDENT_INPUTS)} input choices")
    sizes = {name: param_count(mlp(STUDENTS[name])(jax.random.key(0))) for name in size.students}
    for s in range(seeds):
        rows += units(f"digits{s}", lambda s=s: digits_part(size, s))["rows"]
    log(f"[bdk] digits: SGD, SGLD and the online student, {seeds} seeds")
    return _report(rows, size, seeds, sizes, int(ref["divergent"]), diag, box)


def student_arms(students) -> list[str]:
    """Every toy student arm: each student under each input choice."""
    return [student_arm(s, i) for i in STUDENT_INPUTS for s in students]


def digits_part(size: Size, seed: int) -> dict:
    r"""The MNIST experiment of Korattikara et al. on scikit-learn's 8x8 digits: SGD (MAP), SGLD
    and the online student (the teacher's architecture) of the same chain; test error and NLL.

    MLP 64-100-10 under an :math:`\mathcal N(0, 1)` weight prior; minibatches of 100; SGLD step
    :data:`DIGITS_STEP` (so :math:`\eta N` is the SGD learning rate); the student's inputs are
    the training images plus :math:`\mathcal N(0, 0.1^2)` noise (standardised pixels)."""
    ds = load_digits()
    data = {"x": ds.x_train, "y": ds.y_train}
    n = len(ds.x_train)
    fn = model_fn("mlp", ds, hidden=DIGITS_HIDDEN)
    prior = GaussianPrior.from_sigma(PRIOR_STD, n)
    key = jax.random.key(200 + seed)
    steps, burn_in = size.digits_steps, size.digits_steps // 5
    sgd = fit(fn, data, prior=prior, key=key, num_members=1, progress=False,
              config=TrainConfig(steps=steps, batch_size=100, learning_rate=DIGITS_STEP * n,
                                 optimizer="sgd", eval_every=_chunk(steps)))
    chain = fit_sgld(fn, data, prior=prior, key=key, step_size=DIGITS_STEP, num_steps=steps,
                     burn_in=burn_in, thin=THIN, batch_size=100, progress=False)
    dk = bayesian_dark_knowledge(fn, fn, data, prior=prior, key=key, step_size=DIGITS_STEP,
                                 num_steps=steps, burn_in=burn_in, batch_size=100,
                                 input_noise=DIGITS_INPUT_NOISE)
    rows = []
    for arm, post in (("SGD", ParamSamples.from_fit(sgd)), ("SGLD", chain),
                      ("online student", dk.student)):
        p = offline_predictive(post, ds.x_test, key=key).probs
        m = classification_metrics(p, ds.y_test)
        rows.append({"part": "digits", "arm": arm, "seed": seed, "test_error": 1 - m["accuracy"],
                     "nll": m["nll"], "ece": m["ece"]})
    return {"rows": rows}


def _report(rows, size, seeds, sizes, divergent, diag, box) -> Report:
    digit_rows = [r for r in rows if r.get("part") == "digits"]
    dig = summarize(digit_rows, group="arm", metrics=["test_error", "nll", "ece"])
    rows_toy = [r for r in rows if r.get("part") != "digits"]
    summ = summarize(rows_toy, group="arm", metrics=["kl_ref", "tv_ref", "agreement_ref",
                                                 "kl_ref_near", "kl_ref_far"])
    students = list(size.students)
    arms = ["SGD", "SGLD", *student_arms(students)]
    kl = {a: summ[a]["kl_ref"] for a in arms}
    means = {a: kl[a]["mean"] for a in arms}
    small, bigger = students[0], students[1:]
    patterns = {i: published_pattern(means, students, i) for i in STUDENT_INPUTS}
    comparisons = [
        Comparison("KL(NUTS ‖ ·) on the grid: SGD vs SGLD", "SGD 0.246, SGLD 0.007",
                   f"SGD {format_mean_std(kl['SGD'])}, SGLD {format_mean_std(kl['SGLD'])}",
                   agrees=kl["SGLD"]["mean"] < kl["SGD"]["mean"]),
    ]
    for i in STUDENT_INPUTS:
        st = [student_arm(a, i) for a in students]
        comparisons += [
            Comparison(f"KL of the online students ({' / '.join(a[8:] for a in students)}), "
                       f"{INPUT_LABELS[i]}",
                       "0.031 / 0.014 / 0.009 (2-10-2 / 2-100-2 / 2-10-10-2): far below SGD, "
                       "near SGLD",
                       " / ".join(format_mean_std(kl[a]) for a in st),
                       agrees=patterns[i]["below_sgd"],
                       note="agrees = every student's KL below SGD's; best student "
                            f"{patterns[i]['best_over_sgld']:.1f}x SGLD's (published 1.3x)"),
            Comparison(f"more student capacity, lower KL (Vadera & Marlin), {INPUT_LABELS[i]}",
                       "both larger students below the 2-10-2 student",
                       ", ".join(f"{a} ({sizes[a]} weights) {means[student_arm(a, i)]:.3f}"
                                 for a in students),
                       agrees=all(means[student_arm(b, i)] < means[student_arm(small, i)]
                                  for b in bigger) if bigger else None,
                       note="" if bigger else "one student size at this size"),
        ]
    comparisons += [
        Comparison("digits (their MNIST experiment): test error / NLL of SGD, SGLD and the "
                   "online student", "the student is close to SGLD, and SGLD better than SGD",
                   "; ".join(f"{a} {100 * dig[a]['test_error']['mean']:.2f}% / "
                             f"{dig[a]['nll']['mean']:.3f}" for a in DIGIT_ARMS),
                   agrees=dig["SGLD"]["nll"]["mean"] < dig["SGD"]["nll"]["mean"]
                   and abs(dig["online student"]["nll"]["mean"] - dig["SGLD"]["nll"]["mean"])
                   < abs(dig["SGD"]["nll"]["mean"] - dig["SGLD"]["nll"]["mean"]),
                   note="agrees = SGLD's NLL below SGD's and the student's nearer SGLD's than "
                        "SGD's is"),
    ]
    pert = {a: student_arm(a, "perturb") for a in students}
    capacity = [{"student": a, "weights": sizes[a], "kl_ref": kl[a]["mean"],
                 "kl_ref_std": kl[a]["std"], "kl_ref_perturbed": kl[pert[a]]["mean"],
                 "kl_ref_perturbed_std": kl[pert[a]]["std"], "published_kl": PUBLISHED[a]}
                for a in students]
    student_inputs = {
        "box": {"low": [float(v) for v in box[0]], "high": [float(v) for v in box[1]]},
        "perturb_noise_std": INPUT_NOISE,
        "arms": {i: {"label": INPUT_LABELS[i],
                     "kl_ref": {a: means[student_arm(a, i)] for a in students},
                     "order_holds": patterns[i]["order"],
                     "all_below_sgd": patterns[i]["below_sgd"],
                     "best_over_sgld": patterns[i]["best_over_sgld"]} for i in STUDENT_INPUTS},
    }
    notes = [
        f"The NUTS reference: 2 chains x {size.nuts_samples} draws after {size.nuts_warmup} "
        f"warm-up steps ({divergent} divergent transitions). SGLD and the online students: "
        f"{size.sgld_steps} full-batch steps of size {size.step_size:g}, the first "
        f"{size.sgld_steps // 5} burn-in; {seeds} seeds. Each student is trained twice, once "
        "per input choice, on the identical teacher chain (same key; the teacher's steps do not "
        f"depend on the student); nothing else differs (Adam, learning rate {STUDENT_LR:g} "
        "cosine-decayed to zero). The uniform box is the KL grid's: "
        f"[{box[0][0]:.2f}, {box[1][0]:.2f}] x [{box[0][1]:.2f}, {box[1][1]:.2f}].",
        *(inputs_note(means, students, i) for i in STUDENT_INPUTS),
        "The paper's Algorithm 1 updates the student by plain SGD steps with a learning-rate "
        "schedule rho_t and an L2 prior gamma; it gives no toy values for them. Here the student "
        "uses Adam (the library's online student).",
        f"KL near the data (grid points within {NEAR:g} of a training point, where the "
        "perturbed-input student's inputs fall) / far from it: "
        + ", ".join(f"{a} {summ[a]['kl_ref_near']['mean']:.3f} / {summ[a]['kl_ref_far']['mean']:.3f}"
                    for a in arms) + ".",
        _window_note(summ, student_arms(students)),
        "Agreement with NUTS's argmax on the grid: "
        + ", ".join(f"{a} {summ[a]['agreement_ref']['mean']:.3f}" for a in arms) + ".",
        f"NUTS convergence (ArviZ, rank-normalised split R-hat / bulk ESS): grid predictive "
        f"R-hat max {diag['predictive']['rhat_max']:.3f}, ESS min "
        f"{diag['predictive']['ess_min']:.0f}; weights R-hat max "
        f"{diag['weights']['rhat_max']:.3f} (weights can stay unmixed across chains through "
        "the network's symmetries while the predictive mixes).",
        f"Digits: MLP 64-{DIGITS_HIDDEN[0]}-10, N(0, 1) prior, {size.digits_steps} steps of "
        f"minibatch 100; SGLD step {DIGITS_STEP:g} (SGD learning rate {DIGITS_STEP:g} x N); the "
        f"online student has the teacher's architecture and sees training images plus "
        f"N(0, {DIGITS_INPUT_NOISE:g}²) noise.",
    ]
    headline = "KL(NUTS ‖ ·): " + ", ".join(f"{a} {kl[a]['mean']:.3f}" for a in arms)
    headline += ("; digits test error SGD / SGLD / student "
                 + " / ".join(f"{100 * dig[a]['test_error']['mean']:.2f}%" for a in DIGIT_ARMS))
    return Report(rows=rows, summary={"arms": summ, "student_weights": sizes, "digits": dig,
                                      "student_capacity": capacity,
                                      "student_inputs": student_inputs,
                                      "nuts_diagnostics": diag},
                  comparisons=comparisons, figures={"bayesian_dark_knowledge": _figure(summ, sizes, dig)},
                  headline=headline, notes=notes, extra={"published_kl": PUBLISHED})


def _window_note(summ, students) -> str:
    """Whether the online students sit nearer the chain's short-window average than its full
    average (computed from the KLs)."""
    full, win = summ["SGLD"]["kl_ref"]["mean"], summ[WINDOW_ARM]["kl_ref"]["mean"]
    st = [summ[a]["kl_ref"]["mean"] for a in students]
    nearer = sum(abs(np.log(k / win)) < abs(np.log(k / full)) for k in st)
    return (f"The chain's average over all its draws has KL {full:.3f}; over only its last "
            f"{WINDOW} draws ({WINDOW * THIN} steps) {win:.3f}; the online students "
            f"{min(st):.3f}–{max(st):.3f}, nearer (in log ratio) the short-window average for "
            f"{nearer} of {len(st)} student arms. "
            + ("Every student lies between the short-window and the whole-chain average: it "
               "averages the chain's predictive over more than the last "
               f"{WINDOW * THIN} steps but far fewer than the whole chain, consistent with "
               "Adam updates that forget older samples."
               if full < min(st) and max(st) < win else
               "The window length does not bracket the students' distance on its own."))


def _figure(summ, sizes, dig):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    ax = axes[0]
    arms = [a for a in PUBLISHED if a in summ]
    xs = np.arange(len(arms))
    pert = [summ[student_arm(a, "perturb")]["kl_ref"] if a in sizes else None for a in arms]
    ax.bar(xs - 0.27, [summ[a]["kl_ref"]["mean"] for a in arms], width=0.27,
           yerr=[summ[a]["kl_ref"]["std"] for a in arms], capsize=2, label="ours (uniform x')")
    ax.bar(xs, [p["mean"] if p else np.nan for p in pert], width=0.27,
           yerr=[p["std"] if p else np.nan for p in pert], capsize=2, label="ours (perturbed x')")
    ax.bar(xs + 0.27, [PUBLISHED[a] for a in arms], width=0.27, label="published")
    ax.set_xticks(xs, [a.replace("student ", "") for a in arms], fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("KL(NUTS ‖ ·) on the grid")
    ax.set_title("toy 2-D problem, 20 points", fontsize=10)
    ax.legend(fontsize=8)
    ax = axes[1]
    st = sorted(sizes, key=sizes.get)  # by capacity
    ax.plot([sizes[a] for a in st], [summ[a]["kl_ref"]["mean"] for a in st], "o-",
            label="ours, uniform x'")
    ax.plot([sizes[a] for a in st], [summ[student_arm(a, "perturb")]["kl_ref"]["mean"] for a in st],
            "^-", label="ours, perturbed x'")
    ax.plot([sizes[a] for a in st], [PUBLISHED[a] for a in st], "s--", label="published")
    for a in st:
        ax.annotate(a.replace("student ", ""), (sizes[a], summ[a]["kl_ref"]["mean"]), fontsize=7)
    ax.axhline(summ["SGLD"]["kl_ref"]["mean"], color="k", ls=":", lw=1, label="SGLD (ours)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("student weights")
    ax.set_ylabel("KL(NUTS ‖ student)")
    ax.set_title("student capacity", fontsize=10)
    ax.legend(fontsize=8)
    ax = axes[2]
    xs = np.arange(len(DIGIT_ARMS))
    ax.bar(xs, [100 * dig[a]["test_error"]["mean"] for a in DIGIT_ARMS],
           yerr=[100 * dig[a]["test_error"]["std"] for a in DIGIT_ARMS], capsize=2)
    for x_, a in zip(xs, DIGIT_ARMS, strict=True):
        ax.annotate(f"NLL {dig[a]['nll']['mean']:.3f}", (x_, 0), ha="center", va="bottom",
                    fontsize=7, xytext=(0, 2), textcoords="offset points")
    ax.set_xticks(xs, DIGIT_ARMS, fontsize=8)
    ax.set_ylabel("test error (%)")
    ax.set_title("8x8 digits (their MNIST experiment)", fontsize=10)
    fig.tight_layout()
    return fig


__all__ = ["INFO", "SIZES", "STUDENT_INPUTS", "Size", "check_size", "inputs_note", "mlp",
           "published_pattern", "run", "student_arm", "student_arms", "toy_data"]

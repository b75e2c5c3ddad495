r"""``bayesian_dark_knowledge``: online students of an SGLD chain against the NUTS predictive.

Korattikara et al. (2015), §4.1: KL(NUTS ‖ q) on a grid of SGD, SGLD and online students of three
sizes (uniform inputs over the grid's box) on 20 points, and their MNIST run on digits (SGLD step
DIGITS_STEP; SGD's learning rate DIGITS_STEP x N; the student sees noised training images).
"""

import dataclasses

import jax
import numpy as np

from bayeskd.data import grid_2d, load_digits, load_gmm
from bayeskd.experiments import kit
from bayeskd.metrics import classification_metrics
from bayeskd.posteriors import chain_arms, nuts_reference, offline_predictive, reference_distances
from bayeskd.priors import GaussianPrior
from bayeskd.training import TrainConfig

STUDENTS = {"small": (10,), "wide": (100,), "deep": (10, 10)}  # 2-10-2, 2-100-2, 2-10-10-2
ARMS = {f"kl_{n}": f"student 2-{'-'.join(map(str, h))}-2" for n, h in STUDENTS.items()}
PRIOR_STD, THIN, STUDENT_LR, STEP, DIGITS_STEP, DIGITS_NOISE = 1.0, 100, 3e-3, 5e-4, 1e-4, 0.1


@dataclasses.dataclass(frozen=True)
class Config:
    seeds: int = kit.count(3, "seeds of SGD, SGLD and the students (same data and reference)")
    nuts_warmup: int = kit.count(500, "NUTS warm-up steps per chain")
    nuts_samples: int = kit.count(1000, "NUTS draws per chain (2 chains)")
    sgld_steps: int = kit.option(20000, "full-batch SGLD steps, the first fifth burn-in", min=700)
    grid: int = kit.option(50, "grid points per axis", min=2)
    digits_steps: int = kit.option(6000, "steps of the digits runs", min=200)


def predictives(ds, x_eval, *, seed: int, hidden, steps: int, lr: float, batch: int,
                students: dict, student_kw: dict, **kw) -> dict:
    """``{arm: predictive on x_eval}`` of :func:`chain_arms` on ``ds`` (SGD: learning rate lr)."""
    key, fn = jax.random.key(seed), lambda h: kit.model_fn("mlp", ds, hidden=h)
    sgd = TrainConfig(steps=steps, batch_size=batch, learning_rate=lr, optimizer="sgd",
                      eval_every=steps)
    arms = chain_arms(fn(hidden), {"x": ds.x_train, "y": ds.y_train}, key=key, thin=THIN, sgd=sgd,
                      prior=GaussianPrior.from_sigma(PRIOR_STD, ds.num_train), num_steps=steps,
                      burn_in=steps // 5, batch_size=batch, **kw,
                      students={a: (fn(h), student_kw) for a, h in students.items()})
    return {a: offline_predictive(p, x_eval, key=key).probs for a, p in arms.items()}


def measure(cfg: Config, ctx) -> kit.Measured:
    toy = load_gmm(dim=2, num_classes=2, num_train=20, separation=1.5, seed=1)
    digits, key = load_digits(), jax.random.key
    grid = grid_2d(toy.x_train, resolution=cfg.grid, margin=1.5)[0].astype(np.float32)
    ref = ctx.unit("nuts", lambda: nuts_reference(
        kit.model_fn("mlp", toy, hidden=(10,)), toy.x_train, toy.y_train, grid, key=key(1),
        init_key=key(0), prior_std=PRIOR_STD, num_warmup=cfg.nuts_warmup,
        num_samples=cfg.nuts_samples))
    toy_kw = dict(hidden=(10,), steps=cfg.sgld_steps, lr=0.05, batch=20, step_size=STEP,
                  students=dict(zip(ARMS.values(), STUDENTS.values(), strict=True)),
                  student_kw=dict(student_inputs="uniform", input_box=(grid.min(0), grid.max(0)),
                                  student_learning_rate=STUDENT_LR))
    digits_kw = dict(hidden=(100,), steps=cfg.digits_steps, lr=DIGITS_STEP * digits.num_train,
                     batch=100, step_size=DIGITS_STEP, students={"online student": (100,)},
                     student_kw={"input_noise": DIGITS_NOISE})
    rows = []
    for s in range(cfg.seeds):
        on_grid = ctx.unit(f"seed{s}", lambda s=s: predictives(toy, grid, seed=100 + s, **toy_kw))
        on_test = ctx.unit(f"digits{s}", lambda s=s: predictives(
            digits, digits.x_test, seed=200 + s, **digits_kw))
        rows += [{"part": "toy", "arm": a, "seed": s} | reference_distances(ref["probs"], q)
                 for a, q in on_grid.items()]
        rows += [{"part": "digits", "arm": a, "seed": s} | classification_metrics(q, digits.y_test)
                 for a, q in on_test.items()]
    return kit.Measured(rows, {"nuts": {k: ref[k] for k in ("divergent", "weights", "predictive")}})


TABLES = {"toy": kit.Table("arm", ("kl_ref", "tv_ref", "agreement_ref"), {"part": "toy"}),
          "digits": kit.Table("arm", ("accuracy", "nll", "ece"), {"part": "digits"})}


def derive(s: dict, measured, cfg: Config) -> dict:
    v = kit.cells(s["toy"], "kl_ref", kl_sgd="SGD", kl_sgld="SGLD", **ARMS) | kit.cells(
        s["digits"], "nll", nll_sgd="SGD", nll_sgld="SGLD", nll_student="online student")
    toy = [v[k] for k in ARMS]
    return v | {"kl_worst_student": max(toy), "best_over_sgld": min(toy) / v["kl_sgld"],
                "sgd_to_sgld": abs(v["nll_sgd"] - v["nll_sgld"]),
                "student_to_sgld": abs(v["nll_student"] - v["nll_sgld"])}


E, SRC = kit.Expectation, "Korattikara et al. 2015, Table 1 (toy 2-D classification)"
EXPECTATIONS = (
    E("KL(NUTS ‖ ·) on the grid: SGLD vs SGD", "SGLD 0.007 vs SGD 0.246", SRC, "kl_sgld",
      kit.Below("kl_sgd"), show=("kl_sgd",), fmt=".4f"),
    E("online students: the worst one's KL vs SGD's", "2-10-2 / 2-100-2 / 2-10-10-2: 0.031 / "
      "0.014 / 0.009, all far below SGD", SRC, "kl_worst_student", kit.Below("kl_sgd"),
      show=("kl_small", "kl_wide", "kl_deep", "best_over_sgld"), fmt=".4f"),
    E("more capacity, lower KL", "2-10-10-2 < 2-100-2 < 2-10-2", "Vadera & Marlin 2019; " + SRC,
      "kl_deep", kit.All((("kl_deep", kit.Below("kl_wide")), ("kl_wide", kit.Below("kl_small")))),
      show=("kl_wide", "kl_small"), fmt=".4f"),
    E("digits (their MNIST run): test NLL of SGLD vs SGD; the student's distance to SGLD vs SGD's",
      "SGLD predicts better than SGD; the student nearly matches SGLD", "Korattikara et al. 2015, "
      "§4.2", "nll_sgld", kit.All((("nll_sgld", kit.Below("nll_sgd")),
                                   ("student_to_sgld", kit.Below("sgd_to_sgld")))),
      show=("nll_sgd", "nll_student"), fmt=".4f"),
)


def plot(v, cfg: Config) -> dict:
    P, t, d, (fig, (a, b)) = kit.panels, v.summary["toy"], v.summary["digits"], kit.panels.grid(2)
    P.bars(a, list(t), {"KL": [t[x]["kl_ref"] for x in t]}, rotate=True,
           title="(a) toy: KL(NUTS ‖ ·) on the grid", ylabel="KL")
    P.bars(b, list(d), {"test NLL": [d[x]["nll"] for x in d]}, title="(b) digits", ylabel="NLL")
    return {"bayesian_dark_knowledge": P.finish(fig, "Bayesian dark knowledge (mean ± std)")}


SPEC = kit.Spec(
    name="bayesian_dark_knowledge", title="online students of an SGLD chain against NUTS",
    paper="A. Korattikara, V. Rathod, K. Murphy, M. Welling. Bayesian dark knowledge. NeurIPS "
          "2015; A. Vadera, B. Marlin. Assessing the robustness of Bayesian dark knowledge. 2019",
    mirrors="§4.1 toy 2-D classification (Table 1), student capacity (Vadera & Marlin), §4.2",
    claim="An online student of an SGLD chain comes close to the chain's predictive, far closer "
          "to the exact one than SGD, and closer with more capacity.",
    sizes=kit.sizes(Config(), smoke=dict(seeds=2, nuts_warmup=100, nuts_samples=100, grid=20,
                                         sgld_steps=1000, digits_steps=300),
                    full=dict(seeds=5, nuts_warmup=1000, nuts_samples=2000, sgld_steps=100000,
                              grid=80, digits_steps=20000)),
    measure=measure, tables=TABLES, derive=derive, expectations=EXPECTATIONS, plot=plot)

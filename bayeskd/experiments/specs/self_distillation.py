"""``self_distillation``: born-again MLPs on MNIST-1D (generation g learns generation g-1's soft
targets alone, T = 1, seed chains apart) and exact kernel self-distillation on a noisy sine
(:mod:`bayeskd.training.kernel_self_distillation`), its collapse beside the bound r0 - 1."""

import dataclasses

import numpy as np

from bayeskd.experiments import kit
from bayeskd.metrics import classification_metrics
from bayeskd.priors import TeacherPrior
from bayeskd.training.kernel_self_distillation import sine_self_distillation


@dataclasses.dataclass(frozen=True)
class Kernel:
    points: int = kit.count(60, "training inputs, uniform on [0, 1]")
    rounds: int = kit.count(15, "self-distillation rounds")
    noise: float = kit.positive(0.3, "std of the label noise on sin(2πx)")
    length_scale: float = kit.positive(0.08, "RBF length scale")
    epsilon: float = kit.positive(0.02, "fitting tolerance: mean squared residual per round")


@dataclasses.dataclass(frozen=True)
class Config:
    seeds: int = kit.count(3, "seeds (born-again chains; kernel noise draws)")
    steps: int = kit.count(6000, "steps per born-again generation")
    generations: int = kit.count(5, "born-again generations after generation 0")
    kernel: Kernel = kit.section(Kernel)


def measure(cfg: Config, ctx) -> kit.Measured:
    ds = kit.load_job_dataset("mnist1d")
    k, rows, probs = ds.num_classes, [], []  # generation 0: labels (alpha = 0, table unused)
    prev = [np.full((ds.num_train, k), -np.log(k), np.float32)] * cfg.seeds

    def generation(g: int, tables) -> dict:
        res = kit.train_arms("mlp", ds, {"x": ds.x_train, "y": ds.y_train},
                             [TeacherPrior(alpha=float(g > 0), temperature=1.0, table=t)
                              for t in tables], seeds=1, steps=cfg.steps, key=3000 + g, ctx=ctx,
                             unit=f"generation{g}", desc=f"generation {g}")
        return {"logp_train": kit.member_logp(res, ds.x_train),
                "probs_test": np.exp(kit.member_logp(res, ds.x_test))}

    for g in range(cfg.generations + 1):
        part = ctx.unit(f"generation{g}", lambda g=g, prev=prev: generation(g, prev))
        prev, conf = list(part["logp_train"]), np.exp(part["logp_train"]).max(-1).mean(-1)
        probs.append(part["probs_test"])
        rows += [{"part": "targets", "generation": g, "seed": s, "confidence": float(c)}
                 for s, c in enumerate(conf)]  # how soft its targets on the training inputs are
        for model, p in (("generation", probs[-1]), ("ensemble 0..g", np.mean(probs, axis=0))):
            rows += [{"part": "ban", "generation": g, "model": model, "seed": s}
                     | classification_metrics(p[s], ds.y_test) for s in range(cfg.seeds)]
    for s in reversed(range(cfg.seeds)):  # seed 0 last: its curves go to the plot
        kr = sine_self_distillation(**dataclasses.asdict(cfg.kernel), seed=s)
        rows += [{"part": "kernel", "round": t, "seed": s, "test_mse": e,
                  "collapsed": t >= kr["collapse_round"]} for t, e in enumerate(kr["test_mse"])]
        rows.append({"part": "kernel_seed", "seed": s} | {n: float(kr[n]) for n in K})
    return kit.Measured(rows, {"kernel_seed0": kr})


K = ("collapse_round", "best_round", "r0_minus_1", "mse_first", "mse_best", "mse_last")
TABLES = {"ban": kit.Table(("model", "generation"), ("accuracy", "nll", "ece"), {"part": "ban"}),
          "targets": kit.Table("generation", ("confidence",), {"part": "targets"}),
          "kernel": kit.Table("round", ("test_mse",), {"part": "kernel"}),
          "kernel_seed": kit.Table("part", K, {"part": "kernel_seed"})}


def derive(s: dict, measured, cfg: Config) -> dict:
    last = cfg.generations
    return {**kit.cells(s["ban"], "accuracy", gen0=("generation", 0), gen1=("generation", 1),
                        last=("generation", last), ensemble_last=("ensemble 0..g", last)),
            **kit.cells(s["kernel_seed"], **{n: ("kernel_seed", n) for n in K}),
            **kit.cells(s["targets"], "confidence", gen0_train_confidence=0)}


E, BAN, MOB = kit.Expectation, "Furlanello et al. 2018, Table 1", "Mobahi et al. 2020, §4"
EXPECTATIONS = (
    E("born-again student (generation 1) vs its generation-0 teacher", "students beat teachers "
      "(CIFAR-100 DenseNets: e.g. 1 to 2 points)", BAN, "gen1", kit.Above("gen0"),
      show=("gen0", "last", "gen0_train_confidence"), fmt="%"),
    E("ensemble of generations vs the last generation", "BAN ensembles improve further", BAN,
      "ensemble_last", kit.Above("last"), show=("last",), fmt="%"),
    E("kernel self-distillation: test MSE improves, then worsens", "a few rounds reduce "
      "overfitting, more rounds underfit", MOB + ", Fig. 3–4", "mse_best",
      kit.All((("mse_best", kit.Below("mse_first")), ("mse_last", kit.Above("mse_best")))),
      show=("mse_first", "mse_last", "best_round")),
    E("collapse round beside the lower bound r0 − 1 (holds by the triangle inequality)",
      "no collapse before the bound", MOB, "collapse_round", kit.Describe(),
      show=("r0_minus_1",)),
)


def plot(v, cfg: Config) -> dict:
    P, ban, k0, kt = kit.panels, v.summary["ban"], v.extra["kernel_seed0"], v.summary["kernel"]
    (fig, axes), gens = P.grid(5, width=3.6), list(range(cfg.generations + 1))
    for ax, m, label in ((axes[0], "accuracy", "test accuracy (%)"), (axes[1], "ece", "ECE (%)")):
        P.lines(ax, gens, {model: [ban[(model, g)][m] for g in gens]
                           for model in ("generation", "ensemble 0..g")}, scale=100,
                title=f"(a) born-again MLPs: {m}", xlabel="generation", ylabel=label)
    show = sorted({0, 1, 2, k0["best_round"], max(k0["collapse_round"] - 1, 0)})
    pts = lambda a: [{"mean": y} for y in a]  # noqa: E731
    P.curve(axes[2], k0["x"], pts(k0["y0"]), label="data", color="k", ls="none")
    for t in show:
        P.curve(axes[2], k0["grid"], pts(k0["fits"][t]), label=f"round {t}", marker="")
        P.curve(axes[3], range(1, 13), pts(k0["shrinkage"][t]), label=f"after round {t}")
    P.style(axes[2], title="(b) kernel fits (seed 0)", xlabel="x")
    P.style(axes[3], title="(b) shrinkage ∏ d/(d+c)", xlabel="eigendirection (largest first)")
    P.lines(axes[4], sorted(kt), {"test MSE": [kt[t]["test_mse"] for t in sorted(kt)]},
            title=f"(b) collapse at {v.values['collapse_round']:.1f}, bound r0 − 1 = "
                  f"{v.values['r0_minus_1']:.2f}", xlabel="round", ylabel="test MSE")
    return {"self_distillation": P.finish(fig, "Furlanello et al. 2018 (a); Mobahi et al. "
                                               "2020 (b)")}


SPEC = kit.Spec(
    name="self_distillation", title="born-again networks, closed-form kernel self-distillation",
    paper="T. Furlanello et al. Born-again neural networks. ICML 2018; H. Mobahi, M. Farajtabar, "
          "P. Bartlett. Self-distillation amplifies regularization in Hilbert space. NeurIPS 2020",
    mirrors="Furlanello Table 1 (generations, BAN ensembles); Mobahi §3–4, Fig. 3–4 (collapse)",
    claim="Born-again students beat their teachers, ensembles of generations do better still; "
          "kernel self-distillation first lowers test error, then over-regularises and collapses.",
    sizes=kit.sizes(Config(), full=dict(seeds=5, steps=10000, kernel=dict(rounds=20)),
                    smoke=dict(seeds=2, steps=300, generations=2, kernel=dict(rounds=12))),
    measure=measure, tables=TABLES, derive=derive, expectations=EXPECTATIONS, plot=plot)

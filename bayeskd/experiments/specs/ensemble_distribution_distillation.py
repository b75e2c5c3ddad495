r"""``ensemble_distribution_distillation``: Malinin et al. (2020) on a 3-class spiral: an ensemble,
EnD (fits its mean) and EnD² (a Dirichlet prior network fits its members), on the training inputs
plus auxiliary inputs uniform in the box; uncertainty maps, Spearman ρ, OOD AUROC, accuracy."""

import dataclasses

import jax
import numpy as np
from scipy.stats import spearmanr

from bayeskd.data import annulus, grid_2d, load_spirals
from bayeskd.experiments import kit
from bayeskd.metrics import auroc, classification_metrics
from bayeskd.plotting import plane_panels
from bayeskd.posteriors import ParamSamples, distill, fit_dirichlet_student, offline_predictive
from bayeskd.priors import GaussianPrior

ARMS, KINDS = ("ensemble", "EnD", "EnD²"), ("total", "data", "knowledge")
BOX, OOD_RADII = 2.0, (1.3, 2.0)  # grid and auxiliary inputs in [-BOX, BOX]^2; the OOD ring


@dataclasses.dataclass(frozen=True)
class Config:
    seeds: int = kit.count(3, "seeds (each redraws the ensemble, students and auxiliary set)")
    members: int = kit.option(10, "ensemble members (EnD² fits their spread)", min=2)
    num_train: int = kit.count(1000, "spiral training points")
    num_aux: int = kit.count(1000, "auxiliary transfer inputs, uniform in the box")
    steps: int = kit.count(3000, "steps of every ensemble member")
    student_steps: int = kit.count(4000, "steps of the EnD and EnD² students")
    grid: int = kit.count(60, "grid points per axis over the box")
    num_ood: int = kit.count(1000, "out-of-distribution inputs on the ring")
    classes: int = kit.option(3, "spiral arms = classes (a Dirichlet needs 2)", min=2)


def setting(c: Config):  # the spiral and the grid (points, xx, yy) over the box
    return (load_spirals(num_train=c.num_train, num_test=1000, num_classes=c.classes, noise=0.1,
                         seed=0), grid_2d([[-BOX, -BOX], [BOX, BOX]], resolution=c.grid, margin=0))


def measure(cfg: Config, ctx) -> kit.Measured:
    (ds, (grid, _, _)), m = setting(cfg), cfg.members
    r = kit.train_arms("mlp", ds, {"x": ds.x_train, "y": ds.y_train},
                       [GaussianPrior(weight_decay=1e-4)], seeds=cfg.seeds * m, steps=cfg.steps,
                       key=0, ctx=ctx, unit="ensembles", desc=f"ensembles {cfg.seeds}x{m}")
    rows, maps = [], {}  # maps: seed 0's
    for s in range(cfg.seeds):
        ens = ParamSamples(r.graphdef, jax.tree.map(lambda a, s=s: a[s * m:(s + 1) * m], r.params))
        out = ctx.unit(f"seed{s}", lambda s=s, ens=ens: one_seed(cfg, ds, grid, ens, s, ctx))
        rows, maps = rows + out["rows"], maps or out["maps"]
    return kit.Measured(rows, {"maps": maps})


def one_seed(cfg: Config, ds, grid, ens: ParamSamples, s: int, ctx) -> dict:
    """Seed ``s``: its transfer set, both students, one metric row per arm."""
    aux = np.random.default_rng([3, s]).uniform(-BOX, BOX, (cfg.num_aux, 2)).astype(np.float32)
    x_tr, key, fn = np.concatenate([ds.x_train, aux]), jax.random.key(0), kit.model_fn("mlp", ds)
    p_SNK = offline_predictive(ens, x_tr, key=key, keep_samples=True).sample_probs
    posts = {"ensemble": ens, "EnD": ParamSamples.from_fit(distill(
        fn, x_tr, np.log(np.maximum(p_SNK.mean(0), 1e-12))[None], key=jax.random.key(200 + s),
        config=kit.recipe(cfg.student_steps), progress=ctx.progress, desc=f"EnD seed {s}")),
        "EnD²": fit_dirichlet_student(fn, x_tr, p_SNK, key=jax.random.key(100 + s),
                                      steps=cfg.student_steps, learning_rate=1e-3)}
    inputs = {"grid": grid, "test": ds.x_test,
              "ood": annulus(cfg.num_ood, inner=OOD_RADII[0], outer=OOD_RADII[1], seed=7)}
    u = {a: {n: p.uncertainty(x, key=key) for n, x in inputs.items()} for a, p in posts.items()}
    rows = []
    for arm, post in posts.items():
        score, g = "total" if arm == "EnD" else "knowledge", u[arm]["grid"]  # EnD's MI is 0
        met = classification_metrics(np.asarray(post.predictive(ds.x_test, key=key)), ds.y_test)
        rho = spearmanr(g[score], u["ensemble"]["grid"]["knowledge"]).statistic
        rows.append({"arm": arm, "seed": s, "accuracy": met["accuracy"], "nll": met["nll"],
                     "ood_score": score, "spearman_vs_ensemble_mi": float(rho),
                     "ood_auroc": auroc(u[arm]["test"][score], u[arm]["ood"][score]),
                     **{f"grid_mean_{k}": float(np.mean(g[k])) for k in ("knowledge", "total")}})
    maps = {a: {k: np.round(v, 4).tolist() for k, v in u[a]["grid"].items()} for a in ARMS}
    return {"rows": rows, "maps": maps if s == 0 else {}}


TABLES = {"arms": kit.Table("arm", ("accuracy", "nll", "ood_auroc", "spearman_vs_ensemble_mi",
                                    "grid_mean_knowledge", "grid_mean_total"))}


def derive(s: dict, measured, cfg: Config) -> dict:
    v = {k: x for arm, t in zip(ARMS, ("ensemble", "end", "end2"), strict=True) for n, m in
         (("rho", "spearman_vs_ensemble_mi"), ("accuracy", "accuracy"), ("auroc", "ood_auroc"))
         for k, x in kit.mean_std(f"{n}_{t}", s["arms"][arm][m]).items()}
    return v | {"accuracy_gap": v["accuracy_ensemble"] - v["accuracy_end2"],
                "auroc_gap": v["auroc_ensemble"] - v["auroc_end2"]}


E, SRC = kit.Expectation, "Malinin et al. 2020"
EXPECTATIONS = (  # read as: "high" ρ > 0.7, "close" within 2 points, "about as good" 0.05
    E("Spearman ρ, EnD²'s vs the ensemble's mutual information on the grid", "high: EnD² keeps "
      "its knowledge uncertainty", f"{SRC}, §5, Fig. 3", "rho_end2", kit.Above(0.7), fmt=".2f"),
    E("Spearman ρ, EnD's total entropy vs the ensemble's mutual information", "below EnD²'s: EnD "
      "loses it", f"{SRC}, §5", "rho_end", kit.Below("rho_end2"), show=("rho_end2",), fmt=".2f"),
    E("test accuracy, ensemble minus EnD² (points)", "EnD² close to the ensemble", f"{SRC}, §5",
      "accuracy_gap", kit.Below(0.02), show=("accuracy_ensemble", "accuracy_end2"), fmt="%"),
    E("OOD AUROC by mutual information (EnD: total entropy)", "EnD² about as good as the "
      "ensemble, better than EnD", f"{SRC}, §6", "auroc_end2", kit.All((
          ("auroc_gap", kit.Below(0.05)), ("auroc_end2", kit.Above("auroc_end")))),
      show=("auroc_ensemble", "auroc_end"), fmt=".3f"),
)


def plot(v, cfg: Config) -> dict:
    (ds, (_, xx, yy)), maps = setting(cfg), v.extra["maps"]
    return {"ensemble_distribution_distillation": plane_panels(
        xx, yy, [[(f"{a}: {k}", np.asarray(maps[a][k])) for k in KINDS] for a in ARMS],
        x_train=ds.x_train, y_train=ds.y_train, cmap="viridis", vmin=0.0, vmax=np.log(cfg.classes),
        title="Uncertainty on a 3-class spiral (nats; seed 0): total = data + knowledge")}


SPEC = kit.Spec(
    name="ensemble_distribution_distillation",
    title="a Dirichlet student keeps the ensemble's knowledge uncertainty",
    paper="A. Malinin, B. Mlodozeniec, M. Gales. Ensemble distribution distillation. ICLR 2020",
    mirrors="the spiral experiment (§5, Fig. 2–3) and OOD detection by mutual information (§6)",
    claim="EnD² keeps the ensemble's knowledge uncertainty, which EnD (distilling the mean) "
          "loses, at close to its accuracy, and detects OOD inputs about as well.",
    sizes=kit.sizes(Config(), smoke=dict(seeds=2, num_train=300, num_aux=300, steps=400,
                                         student_steps=600, grid=30, num_ood=300),
                    full=dict(seeds=5, members=20, num_train=3000, num_aux=3000, steps=6000,
                              student_steps=8000, grid=100, num_ood=3000)),
    measure=measure, tables=TABLES, derive=derive, expectations=EXPECTATIONS, plot=plot)

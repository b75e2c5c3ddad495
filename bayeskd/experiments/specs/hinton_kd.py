"""``hinton_kd``: Hinton, Vinyals & Dean (2015), §3 (MNIST), on MNIST-1D with the CNN teacher."""

import dataclasses

import numpy as np

from bayeskd.data.mnist1d import generate_mnist1d
from bayeskd.experiments import kit
from bayeskd.metrics import omitted_class_shift

OMITTED, ALPHA, SHIFTS = 3, 0.9, np.arange(0.0, 30.01, 0.25)
STUDENTS, OMIT_ARMS = {"small": (30,), "large": (300,)}, ("soft targets", "labels only")


@dataclasses.dataclass(frozen=True)
class Config:
    seeds: int = kit.count(3, "seeds per arm")
    teacher_steps: int = kit.count(6000, "steps of the CNN teacher")
    student_steps: int = kit.count(6000, "steps of every student")
    temperatures: tuple[float, ...] = kit.positive((1.0, 2.0, 4.0, 8.0, 16.0, 20.0), "(a) KD T")
    transfer_sizes: tuple[int, ...] = kit.option((0, 10000, 20000, 40000), "(b) transfer-set "
                                                 "sizes (0: the training inputs)", min=0)
    num_val: int = kit.count(2000, "(c) generated validation inputs choosing the bias shift")
    omit_temperature: float = kit.positive(20.0, "(c) KD temperature")


def measure(cfg: Config, ctx) -> kit.Measured:
    ds = kit.load_job_dataset("mnist1d", transfer_size=max(cfg.transfer_sizes))
    t = kit.train_teacher(ds, steps=cfg.teacher_steps, progress=ctx.progress)
    kw = dict(seeds=cfg.seeds, steps=cfg.student_steps, teacher_probs=t.probs_test())
    rows = [{"part": "teacher", "arm": "teacher", "seed": 0} | t.metrics(ds.y_test)]
    kd = kit.kd_priors(t.logp_train[0], (0.0, 1.0), *[(ALPHA, T) for T in cfg.temperatures])
    for i, (st, hidden) in enumerate(STUDENTS.items()):
        rows += kit.arm_rows(ctx, f"a-{st}", ds, {"x": ds.x_train, "y": ds.y_train}, kd, key=i,
                             arms=["labels"] + [f"T={T:g}" for T in cfg.temperatures], **kw,
                             model_kwargs={"hidden": hidden}, extra={"part": "a", "student": st})
    for j, n in enumerate(cfg.transfer_sizes):
        x, y, tl = ((ds.x_train, ds.y_train, t.logp_train[0]) if n == 0 else
                    (ds.x_transfer[:n], kit.transfer_labels(ds)[:n], t.logp_transfer[0][:n]))
        rows += kit.arm_rows(ctx, f"b-{j}", ds, {"x": x, "y": y}, kit.kd_priors(
            tl, (1.0, 4.0), (0.0, 1.0)), arms=["soft targets", "true labels"], key=10 + j, **kw,
            extra={"part": "b", "num_transfer": len(x), "inputs": "generated" if n else "train"})
    return kit.Measured(rows + ctx.unit("c-omitted", lambda: omitted_class(cfg, ds, t, ctx)))


def omitted_class(cfg: Config, ds, t: kit.Teacher, ctx) -> list[dict]:
    keep = ds.y_train != OMITTED
    kd = kit.kd_priors(t.logp_train[0][keep], (ALPHA, cfg.omit_temperature), (0.0, 1.0))
    res = kit.train_arms("mlp", ds, {"x": ds.x_train[keep], "y": ds.y_train[keep]}, kd,
                         seeds=cfg.seeds, steps=cfg.student_steps, key=20, ctx=ctx,
                         unit="c-omitted", desc="(c) no 3s")
    x_val, y_val = generate_mnist1d(cfg.num_val, seed=7, mean=ds.meta["mean"], std=ds.meta["std"])
    logp = zip(kit.member_logp(res, x_val), kit.member_logp(res, ds.x_test), strict=True)
    c = {"omitted": OMITTED, "shifts": SHIFTS}
    return [{"part": "c", "arm": OMIT_ARMS[m // cfg.seeds], "seed": m % cfg.seeds}
            | omitted_class_shift(lv, y_val, lt, ds.y_test, **c) for m, (lv, lt) in enumerate(logp)]


M = ("accuracy", "nll", "ece", "agreement")
TABLES = {"a": kit.Table(("student", "arm"), M, {"part": "a"}),
          "b": kit.Table(("inputs", "num_transfer", "arm"), M, {"part": "b"}),
          "c": kit.Table("arm", ("recall_before", "recall_after", "bias_shift"), {"part": "c"}),
          "teacher": kit.Table("arm", ("accuracy", "nll", "ece"), {"part": "teacher"})}


def derive(s: dict, measured, cfg: Config) -> dict:
    acc = {st: {T: s["a"][(st, f"T={T:g}")]["accuracy"]["mean"] for T in cfg.temperatures}
           for st in STUDENTS}
    flat, b = ([acc["large"][T] for T in cfg.temperatures if T >= 8] or [float("nan")],
               {(i, arm): st for (i, _, arm), st in s["b"].items()})
    return {**{f"best_t_{st}": max(a, key=a.get) for st, a in acc.items()},
            "spread_large_t8": max(flat) - min(flat),
            "teacher_accuracy": s["teacher"]["teacher"]["accuracy"]["mean"],
            **kit.cells(b, "accuracy", soft_train=("train", "soft targets"),
                        labels_train=("train", "true labels")),
            **kit.cells(s["c"], recall_after=("soft targets", "recall_after"),
                        recall_before=("soft targets", "recall_before"),
                        recall_after_labels_only=("labels only", "recall_after"))}


E, SRC = kit.Expectation, "Hinton et al. 2015, §3"
EXPECTATIONS = (
    E("best temperature, 30-unit student", "T ≈ 2.5–4", SRC, "best_t_small", kit.Between(2, 4),
      show=("best_t_large",), fmt="g"),
    E("300-unit student: accuracy spread over T ≥ 8", "all T > 8 similar", SRC,
      "spread_large_t8", kit.Below(0.02), fmt="%"),
    E("soft targets vs the same training inputs labelled", "soft targets carry most of what "
      "labels do (speech, 3% of the data: 57.0% vs 44.5% frame accuracy)", SRC, "soft_train",
      kit.Above("labels_train"), show=("labels_train",), fmt="%"),
    E("omitted class 3: test recall after the bias shift", "98.6% (86.8% before)", SRC,
      "recall_after", kit.All((("recall_after", kit.Above("recall_before")),
                               ("recall_after", kit.Above("recall_after_labels_only")))),
      show=("recall_before", "recall_after_labels_only"), fmt="%"),
)


def plot(v, cfg: Config) -> dict:
    P, (a, b, c), Ts = kit.panels, (v.summary[k] for k in "abc"), cfg.temperatures
    (fig, axes), acc = P.grid(3), "test accuracy (%)"
    P.lines(axes[0], Ts, {f"{st}, KD": [a[(st, f"T={T:g}")]["accuracy"] for T in Ts]
                          for st in STUDENTS}, scale=100, logx=True,
            refs={f"{st}, labels": a[(st, "labels")]["accuracy"]["mean"] for st in STUDENTS},
            title="(a) temperature by student size", xlabel="temperature T", ylabel=acc)
    sets = list(dict.fromkeys(k[:2] for k in b))  # the training inputs first
    P.lines(axes[1], [n for _, n in sets], {arm: [b[(*k, arm)]["accuracy"] for k in sets]
                                            for arm in ("soft targets", "true labels")},
            scale=100, refs={"teacher": v.values["teacher_accuracy"]}, logx=True, ylabel=acc,
            title="(b) transfer-set size", xlabel="inputs (first: the training set)")
    P.bars(axes[2], OMIT_ARMS, {f"{tag} shift": [c[x][f"recall_{tag}"] for x in OMIT_ARMS]
                           for tag in ("before", "after")}, scale=100,
           title=f"(c) class {OMITTED} never in the transfer set", ylabel="test recall (%)")
    return {"hinton_kd": P.finish(fig, "Hinton et al. 2015 on MNIST-1D (mean ± std)")}


SPEC = kit.Spec(
    name="hinton_kd", title="temperature, transfer-set size and the omitted class",
    paper="G. Hinton et al. Distilling the knowledge in a neural network. arXiv:1503.02531 (2015)",
    mirrors="§3 (MNIST): temperature by student size, the omitted digit 3",
    claim="Small students prefer a moderate temperature, large ones are flat at high T; a class "
          "never seen in the transfer set is recovered by a bias shift.",
    sizes=kit.sizes(Config(), smoke=dict(seeds=2, teacher_steps=300, student_steps=300, num_val=500,
                                         temperatures=(1.0, 4.0, 16.0), transfer_sizes=(0, 2000)),
                    full=dict(seeds=5, teacher_steps=10000, student_steps=10000, num_val=4000,
                              temperatures=(1.0, 2.0, 3.0, 4.0, 8.0, 16.0, 20.0))),
    measure=measure, tables=TABLES, derive=derive, expectations=EXPECTATIONS, plot=plot)

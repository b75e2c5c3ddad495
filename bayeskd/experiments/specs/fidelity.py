r"""``fidelity``: Stanton et al. (2021) on MNIST-1D: the CNN teacher self-distilled into the same
CNN on soft targets alone (:math:`\alpha = 1`, T = 1) as the transfer set grows by generated
inputs; then a 5-CNN ensemble teacher (probabilities averaged) distilled into one CNN."""

import dataclasses

import numpy as np

from bayeskd.experiments import kit
from bayeskd.losses import log_mean_probs
from bayeskd.metrics import classification_metrics, transfer_agreement
from bayeskd.priors import TeacherPrior

ENSEMBLE, M = 5, ("accuracy", "nll", "agreement", "kl_teacher_student")


@dataclasses.dataclass(frozen=True)
class Config:
    seeds: int = kit.count(3, "seeds per transfer-set size")
    teacher_steps: int = kit.count(6000, "steps of the CNN teacher and of each ensemble member")
    student_steps: int = kit.count(4000, "steps of every student")
    transfer_sizes: tuple[int, ...] = kit.count((4000, 10000, 20000, 44000), "transfer sets")
    transfer_total: int = kit.count(40000, "generated inputs loaded")


def students(ctx, cfg: Config, ds, part: str, key: int, table, n: int, t_test) -> list[dict]:
    """Unit ``part-n<n>``: every seed of a CNN fit to ``table`` on the first ``n`` inputs, its
    test metrics and its agreement with the teacher on the training inputs and on all ``n``."""
    unit = f"{part}-n{n}"
    x, m = np.concatenate([ds.x_train, ds.x_transfer])[:n], ds.num_train

    def compute():
        data = {"x": x, "y": np.zeros(n, np.int32), "label_mask": np.zeros(n, np.float32)}
        res = kit.train_arms("cnn", ds, data, [TeacherPrior(alpha=1.0, temperature=1.0,
                                                            table=table[:n])],
                             seeds=cfg.seeds, steps=cfg.student_steps, key=key, ctx=ctx, unit=unit)
        test, fit = kit.member_logp(res, ds.x_test), kit.member_logp(res, x)
        return [{"part": part, "seed": s, "num_transfer": n} | classification_metrics(
            np.exp(test[s]), ds.y_test, teacher_probs=t_test)
            | transfer_agreement(fit[s], table[:n], num_train=m) for s in range(cfg.seeds)]

    return ctx.unit(unit, compute)


def measure(cfg: Config, ctx) -> kit.Measured:
    ds = kit.load_job_dataset("mnist1d", transfer_size=cfg.transfer_total)
    kw = dict(steps=cfg.teacher_steps, progress=ctx.progress, log=ctx.log)
    t = kit.train_teacher(ds, **kw)
    ens = kit.train_teacher(ds, seed=kit.TEACHER_SEED + 1, members=ENSEMBLE, **kw)
    e_train, e_transfer, e_test = (np.asarray(log_mean_probs(np.moveaxis(lp, 0, 1))) for lp in
                                   (ens.logp_train, ens.logp_transfer, ens.logp_test))
    rows = [{"part": "teacher", "arm": arm, "seed": i} | r for arm, i, r in [
        ("teacher", 0, t.metrics(ds.y_test)),
        ("ensemble", 0, classification_metrics(np.exp(e_test), ds.y_test))]
        + [("ensemble member", i, ens.metrics(ds.y_test, i)) for i in range(ENSEMBLE)]]
    table = np.concatenate([t.logp_train[0], t.logp_transfer[0]])
    for j, n in enumerate(cfg.transfer_sizes):
        rows += students(ctx, cfg, ds, "self", 4000 + j, table, n, t.probs_test())
    return kit.Measured(rows + students(ctx, cfg, ds, "ensemble", 4100, np.concatenate(
        [e_train, e_transfer]), cfg.transfer_sizes[-1], np.exp(e_test)))


FIT = ("train_agreement", "fit_agreement")
TABLES = {"self": kit.Table("num_transfer", M + FIT, {"part": "self"}),
          "ensemble": kit.Table("num_transfer", M, {"part": "ensemble"}),
          "teachers": kit.Table("arm", ("accuracy", "nll", "ece"), {"part": "teacher"})}


def derive(s: dict, measured, cfg: Config) -> dict:
    a, b = cfg.transfer_sizes[0], cfg.transfer_sizes[-1]
    return kit.cells(s["self"], train_agreement=(a, "train_agreement"), fit_agreement=(
        b, "fit_agreement"), agreement_first=(a, "agreement"), agreement_last=(b, "agreement"),
        kl_first=(a, "kl_teacher_student"), kl_last=(b, "kl_teacher_student")) | kit.cells(
        s["ensemble"], "accuracy", ensemble_student=b) | kit.cells(
        s["teachers"], "accuracy", single="ensemble member", ensemble="ensemble", teacher="teacher")


E, SRC = kit.Expectation, "Stanton et al. 2021"
EXPECTATIONS = (
    E("self-distillation train agreement (the training inputs as transfer set)", "well below "
      "100% (ResNet-56 on CIFAR-100: about 80–90%)", f"{SRC}, Fig. 5", "train_agreement",
      kit.Below(0.99), fmt="%"),
    E("agreement on the largest transfer set the student was fit on", "below 100%",
      f"{SRC}, Fig. 5", "fit_agreement", kit.Below(0.99), fmt="%"),
    E("test agreement, largest vs smallest transfer set", "rises slowly with more data",
      f"{SRC}, Fig. 3", "agreement_last", kit.Above("agreement_first"), ("agreement_first",), "%"),
    E("test KL(teacher ‖ student), largest vs smallest transfer set", "falls", f"{SRC}, Fig. 3",
      "kl_last", kit.Below("kl_first"), ("kl_first",), ".3f"),
    E("student of a 5-CNN ensemble", "between single-model and ensemble accuracy",
      f"{SRC}, Fig. 1", "ensemble_student", kit.All((("ensemble_student", kit.Above("single")),
                                                    ("ensemble_student", kit.Below("ensemble")))),
      ("single", "ensemble"), "%"),
)


def plot(v, cfg: Config) -> dict:
    P, s, val, ns = kit.panels, v.summary["self"], v.values, cfg.transfer_sizes
    fig, axes = P.grid(3)
    names = {"agreement": "test agreement", "train_agreement": "train agreement",
             "fit_agreement": "agreement on the transfer set", "accuracy": "test accuracy"}
    P.lines(axes[0], ns, {label: [s[n][k] for n in ns] for k, label in names.items()},
            scale=100, refs={"teacher accuracy": val["teacher"]}, logx=True,
            title="CNN → CNN self-distillation", xlabel="transfer-set size", ylabel="%")
    P.lines(axes[1], [s[n]["kl_teacher_student"]["mean"] for n in ns], {"transfer sets, in "
            "order": [s[n]["accuracy"] for n in ns]}, scale=100, title="fidelity vs "
            "generalisation", xlabel="test KL(teacher ‖ student)", ylabel="test accuracy (%)")
    P.bars(axes[2], ["single CNN", "student of ensemble", f"{ENSEMBLE}-CNN ensemble"],
           {"accuracy": [{"mean": val[k], "std": val[f"{k}_std"]} for k in (
               "single", "ensemble_student", "ensemble")]}, scale=100, title="ensemble teacher",
           ylabel="test accuracy (%)")
    return {"fidelity": P.finish(fig, "Stanton et al. 2021 on MNIST-1D (mean ± std over seeds)")}


SPEC = kit.Spec(
    name="fidelity", title="students do not match their teachers, even in self-distillation",
    paper="S. Stanton, P. Izmailov, P. Kirichenko, A. A. Alemi, A. G. Wilson. Does knowledge "
          "distillation really work? NeurIPS 2021",
    mirrors="Fig. 1 (ensemble teacher), Fig. 3 and 5 (fidelity vs transfer-set size)",
    claim="Fidelity is low even in self-distillation and grows slowly with more distillation "
          "data; an ensemble's student lands between single-model and ensemble accuracy.",
    sizes=kit.sizes(Config(), smoke=dict(seeds=2, teacher_steps=300, student_steps=300,
                                         transfer_sizes=(4000,), transfer_total=4000),
                    full=dict(seeds=5, teacher_steps=10000, student_steps=10000)),
    measure=measure, tables=TABLES, derive=derive, expectations=EXPECTATIONS, plot=plot)

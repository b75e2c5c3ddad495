r"""``bayeskd compare-priors``: the same student under every prior, same seeds, same metrics.

Every regulariser read as a prior (the source's table, C12), in one run: a teacher is trained once
(:func:`bayeskd.experiments.teachers.train_teacher`), then every seed of the student trains in one
vmapped, compiled run under each entry of :data:`ARMS`:

==================  =================================================================
``none``            maximum likelihood on the labels
``weight_decay``    Gaussian prior on weights, :math:`\lambda = 1/(\sigma^2 N)`
``label_smoothing`` uniform Dirichlet prior on each example's class probabilities
``dropout``         Bernoulli variational posterior over hidden units
``kd``              teacher-centred Dirichlet prior on the training inputs
``kd_transfer``     the teacher's predictive on generated, unlabeled inputs only
``augment``         invariance prior: hard labels on a fresh augmented view every step
``kd_augment``      function matching: KL to the teacher on the same fresh view, inside the
                    step (:math:`\alpha = 1`, T = 1; Beyer et al. 2022)
``kd_crossfit``     the teacher-centred prior whose teacher never saw the example (out-of-fold
                    teachers, ``folds``; on request)
==================  =================================================================

``augment`` is the fair control of ``kd_augment``: the same views, data and steps without the
teacher. Adding a prior is one :class:`Arm` entry. Your own data (``--data FILE.npz``) and teacher
outputs from any framework (``--teacher-logits``) enter through :mod:`bayeskd.data.own`; without
outputs on transfer inputs ``kd_transfer`` is left out, and an external teacher has no network
for ``kd_augment``. Your own architecture enters as ``--teacher module.path:factory`` (or
``--student``; :mod:`bayeskd.models.user`), checked before any work; your own student has no
dropout rate to set, so ``dropout`` is left out for it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from bayeskd.data import (
    DATASETS,
    default_augmentation,
    load_npz,
    load_teacher_outputs,
    mixup_inputs,
    parse_augmentation,
)
from bayeskd.data.own import TEACHER_OUTPUT_KINDS, check_file, npz_num_classes, npz_shapes
from bayeskd.experiments.common import evaluate_member, load_job_dataset
from bayeskd.experiments.config import choice, count, option, positive, unit
from bayeskd.experiments.spec import (
    Above,
    Below,
    Expectation,
    Measured,
    Spec,
    Table,
    mean_std,
    sizes,
)
from bayeskd.experiments.teachers import TEACHER_SEED, Teacher, model_fn, recipe, train_teacher
from bayeskd.metrics import reliability_bins
from bayeskd.models import check_user_model, is_user_model
from bayeskd.priors import GaussianPrior, LabelSmoothing, NoPrior, TeacherPrior
from bayeskd.training import fit, out_of_fold_logits, predict_logits
from bayeskd.training.crossfit import check_folds
from bayeskd.training.memory import check_fits_memory, estimate_fit_bytes
from bayeskd.validate import check_temperature


@dataclasses.dataclass(frozen=True)
class Arm:
    """One prior of the comparison: its prior object (from the config, the teacher and the
    data), the student's model options, which inputs it trains on, whether it sees fresh augmented
    views, and what of the teacher it needs (``"network"``, ``"transfer"``, ``"crossfit"``)."""

    prior: Callable[[Any, Teacher], Any]
    model: Callable[[Any], dict] = lambda cfg: {}
    inputs: str = "train"
    augment: bool = False
    needs: str = ""
    default: bool = True


ARMS = {
    "none": Arm(lambda c, t: NoPrior()),
    "weight_decay": Arm(lambda c, t: GaussianPrior(weight_decay=c.weight_decay)),
    "label_smoothing": Arm(lambda c, t: LabelSmoothing(epsilon=c.label_smoothing)),
    "dropout": Arm(lambda c, t: NoPrior(), model=lambda c: {"dropout": c.dropout}),
    "kd": Arm(lambda c, t: TeacherPrior(alpha=c.alpha, temperature=c.temperature,
                                        table=t.logp_train[0])),
    "kd_transfer": Arm(lambda c, t: TeacherPrior(alpha=1.0, temperature=c.temperature,
                                                 table=t.logp_transfer[0]),
                       inputs="transfer", needs="transfer"),
    "augment": Arm(lambda c, t: NoPrior(), augment=True),
    "kd_augment": Arm(lambda c, t: TeacherPrior(alpha=1.0, temperature=1.0, teacher=t.network()),
                      augment=True, needs="network"),
    "kd_crossfit": Arm(lambda c, t: TeacherPrior(alpha=c.alpha, temperature=c.temperature,
                                                 table=t.logp_train[0]),  # the out-of-fold teacher
                       needs="crossfit", default=False),
}
JOB_DATASETS = tuple(d for d in ("mnist1d", "digits", "gmm", "mnist", "fashion_mnist", "cifar10")
                     if d in DATASETS)
SHAPES = {"mnist1d": ((40,), 10, 5000), "digits": ((8, 8, 1), 10, 1797), "gmm": ((2,), 3, 1500),
          "mnist": ((28, 28, 1), 10, 70000), "fashion_mnist": ((28, 28, 1), 10, 70000),
          "cifar10": ((32, 32, 3), 10, 60000)}
METRICS = ("accuracy", "nll", "ece", "mce", "brier", "entropy", "agreement", "kl_teacher_student",
           "train_accuracy", "train_test_gap", "noise_accuracy", "input_grad_norm")


@dataclasses.dataclass(frozen=True)
class Config:
    dataset: str | None = choice(None, JOB_DATASETS, "built-in dataset (default mnist1d)")
    data: str | None = option(None, "your own arrays (.npz: x_train, y_train, x_test, y_test, "
                              "optional x_transfer, num_classes)")
    teacher_logits: str | None = option(None, "teacher outputs computed elsewhere (.npy or .npz)")
    teacher_kind: str = choice("auto", TEACHER_OUTPUT_KINDS, "what --teacher-logits holds")
    student: str = choice("mlp", ("mlp", "mlp-small", "mlp-large"), "student model",
                          or_factory=True)
    teacher: str = choice("cnn", ("cnn", "mlp-large"), "teacher model", or_factory=True)
    priors: tuple[str, ...] | None = choice(None, tuple(ARMS), "priors to run (default: all "
                                            "but kd_crossfit)")
    seeds: int = count(5, "seeds per prior")
    teacher_steps: int = count(6000, "teacher steps")
    student_steps: int = count(6000, "student steps")
    transfer_size: int = count(40000, "generated unlabeled inputs for kd_transfer")
    temperature: float = positive(4.0, "KD temperature T")
    alpha: float = unit(0.9, "KD weight")
    weight_decay: float = option(1e-3, "weight decay λ", min=0)
    label_smoothing: float = unit(0.1, "label smoothing ε")
    dropout: float = option(0.2, "dropout rate, in [0, 1)", min=0, max=0.99)
    augment: str | None = option(None, "views of augment and kd_augment: NAME[:SETTING=VALUE,...] "
                                 "(default by dataset)")
    folds: int = option(4, "out-of-fold teachers of kd_crossfit", min=2)
    data_dir: str | None = option(None, "folder with MNIST / Fashion-MNIST / CIFAR-10 files")
    seed: int = option(0, "seed of the students (the teacher's is this + 1000)", min=0)


def check(cfg: Config) -> None:
    check_temperature(cfg.temperature)  # warns outside the range the divergences are tested on
    if cfg.priors is not None and not cfg.priors:
        raise ValueError(f"priors: give at least one of {', '.join(ARMS)}")
    if cfg.data is not None and cfg.dataset is not None:
        raise ValueError("--data: give either --data FILE.npz or --dataset NAME, not both")
    if cfg.data is not None:
        check_file(cfg.data, name="--data", suffixes=(".npz",))
    if cfg.teacher_logits is not None:
        check_file(cfg.teacher_logits, name="--teacher-logits", suffixes=(".npy", ".npz"))
    if cfg.augment is not None:
        parse_augmentation(cfg.augment)
    check_user_models(cfg)
    check_memory(cfg)
    load_inputs(cfg)  # every file, shape and prior checked before any output


def data_shape(cfg: Config) -> tuple[tuple[int, ...], int, int]:
    """``(input shape, classes, inputs)`` of the run's data, read from headers only."""
    if cfg.data is not None:
        shapes = npz_shapes(cfg.data)
        shape, k = shapes.get("x_train", (0, 1))[1:], npz_num_classes(cfg.data)
        return tuple(shape), k, sum(shapes.get(s, (0,))[0] for s in ("x_train", "x_test",
                                                                     "x_transfer"))
    return SHAPES[cfg.dataset or "mnist1d"]


def check_user_models(cfg: Config) -> None:
    """Check a ``--student`` / ``--teacher`` of the form ``module.path:factory`` (import, output
    shape, finite logits: :func:`bayeskd.models.check_user_model`) on the data's shape; your
    own student takes no ``dropout`` option, so the ``dropout`` prior needs a named student."""
    shape, k, _ = data_shape(cfg)
    for name in ("student", "teacher"):
        value = getattr(cfg, name)
        if is_user_model(value) and not (name == "teacher" and cfg.teacher_logits is not None):
            check_user_model(value, shape, k, name=name)
    if is_user_model(cfg.student) and "dropout" in (cfg.priors or ()):
        raise ValueError("priors: dropout builds the student with a dropout rate; your own "
                         f"student {cfg.student!r} takes none (leave dropout out)")


def check_memory(cfg: Config, available: int | None = None) -> None:
    """Refuse a run whose students (every seed in one program) and inputs cannot fit in memory
    (:mod:`bayeskd.training.memory`), before any work."""
    shape, k, n = data_shape(cfg)
    est = estimate_fit_bytes(cfg.student, shape, k, members=cfg.seeds, batch_size=100,
                             num_inputs=n + cfg.transfer_size, dropout=cfg.dropout)
    check_fits_memory(est, name="seeds", data_name="transfer_size", available=available,
                      what=f"{cfg.seeds} seeds of {cfg.student} on {n + cfg.transfer_size} inputs")


def load_inputs(cfg: Config) -> tuple[Any, Teacher | None, tuple[str, ...]]:
    """``(dataset, external teacher or None, priors run)``, every shape checked."""
    ds = load_npz(cfg.data) if cfg.data is not None else None
    has_x = ds is not None and ds.x_transfer is not None  # a file with transfer inputs
    names = cfg.priors or tuple(n for n, a in ARMS.items() if a.default and not (
        cfg.teacher_logits and (a.needs == "network" or (a.needs == "transfer" and not has_x)))
        and not (is_user_model(cfg.student) and a.model(cfg)))  # own student: no model options
    if ds is None:
        ds = load_job_dataset(cfg.dataset or "mnist1d", data_dir=cfg.data_dir, seed=cfg.seed,
                              transfer_size=cfg.transfer_size if "kd_transfer" in names else 0)
    elif "kd_transfer" in names and ds.x_transfer is None and cfg.teacher_logits is None:
        ds = dataclasses.replace(ds, x_transfer=mixup_inputs(ds.x_train, num=cfg.transfer_size,
                                                              alpha=1.0, seed=cfg.seed))
    if "kd_crossfit" in names:
        check_folds(cfg.folds, ds.num_train)
    if cfg.teacher_logits is None:
        return ds, None, names
    if any(ARMS[n].needs in ("network", "crossfit") for n in names):
        raise ValueError("priors: kd_augment and kd_crossfit need a teacher network that bayeskd "
                         "trains (--teacher), not outputs from --teacher-logits")
    out = load_teacher_outputs(cfg.teacher_logits, ds, kind=cfg.teacher_kind)
    if "kd_transfer" in names and out["logp_transfer"].shape[1] == 0:
        if cfg.priors is not None:
            raise ValueError("priors: kd_transfer needs transfer inputs (x_transfer in --data) and "
                             "the teacher's outputs on them (--teacher-logits)")
        names = tuple(n for n in names if n != "kd_transfer")
    teacher = Teacher("external", out["logp_train"], out["logp_test"], out["logp_transfer"], (),
                      None)
    return ds, teacher, names


def measure(cfg: Config, ctx) -> Measured:
    ds, teacher, names = load_inputs(cfg)
    if teacher is None:
        teacher = train_teacher(ds, model=cfg.teacher, steps=cfg.teacher_steps, seed=cfg.seed +
                                TEACHER_SEED, progress=ctx.progress, checkpoint=ctx.trainer("teacher"),
                                log=ctx.log)
    crossfit = teacher
    if "kd_crossfit" in names:
        table = ctx.unit("teacher-crossfit", lambda: {"logp": np.asarray(jax.nn.log_softmax(
            out_of_fold_logits(model_fn(cfg.teacher, ds), {"x": ds.x_train, "y": ds.y_train},
                               folds=cfg.folds, config=recipe(cfg.teacher_steps),
                               key=jax.random.key(cfg.seed + TEACHER_SEED), seed=cfg.seed,
                               progress=ctx.progress)[0], axis=-1))})
        crossfit = dataclasses.replace(teacher, logp_train=np.asarray(table["logp"])[None])
    probs = teacher.probs_test()
    ctx.log(f"teacher: accuracy {teacher.metrics(ds.y_test)['accuracy']:.4f}")
    rows = [{"part": "teacher", "prior": "teacher", "seed": 0, "model": teacher.model,
             "param_count": teacher.param_count or None} | teacher.metrics(ds.y_test)]
    bins = {}
    for name in names:
        t = crossfit if ARMS[name].needs == "crossfit" else teacher
        unit = ctx.unit(f"student-{name}", lambda name=name, t=t: students(name, cfg, ds, t,
                                                                           probs, ctx))
        rows += unit["rows"]
        bins[name] = unit["reliability"]
        ctx.log(f"{name:16s} accuracy {np.mean([r['accuracy'] for r in unit['rows']]):.4f}")
    return Measured(rows, {"reliability": bins, "dataset": ds.name, "priors": list(names),
                           "num_train": ds.num_train, "num_test": ds.num_test,
                           "num_transfer": 0 if ds.x_transfer is None else len(ds.x_transfer)})


def students(name: str, cfg: Config, ds, teacher: Teacher, probs, ctx) -> dict:
    arm = ARMS[name]
    if arm.inputs == "transfer":
        n = len(ds.x_transfer)
        data = {"x": ds.x_transfer, "y": np.zeros(n, np.int32), "label_mask": np.zeros(n, np.float32)}
    else:
        data = {"x": ds.x_train, "y": ds.y_train}
    views = None
    if arm.augment:
        views = (parse_augmentation(cfg.augment) if cfg.augment else
                 default_augmentation(ds.name, tuple(ds.x_train.shape[1:])))
    res = fit(model_fn(cfg.student, ds, **arm.model(cfg)), data, prior=arm.prior(cfg, teacher),
              config=recipe(cfg.student_steps), key=jax.random.key(cfg.seed),
              num_members=cfg.seeds, progress=ctx.progress, desc=f"student {name}",
              checkpoint=ctx.trainer(f"student-{name}"), augment=views)
    ctx.log(f"{name}: {res.steps_run} of {cfg.student_steps} steps trained here")
    rows = []
    count_ = int(sum(np.prod(a.shape[1:]) for a in jax.tree.leaves(res.params)))
    for s in range(cfg.seeds):
        params = jax.tree.map(lambda a, s=s: a[s], res.params)
        rows.append({"part": "student", "prior": name, "seed": s, "param_count": count_}
                    | evaluate_member(res.graphdef, params, ds, teacher_probs_test=probs,
                                      key=jax.random.key(10_000 + s)))
    p0 = jax.nn.softmax(predict_logits(res.graphdef, jax.tree.map(lambda a: a[0], res.params),
                                       ds.x_test), -1)
    return {"rows": rows, "reliability": {k: np.asarray(v).tolist() for k, v in
                                          reliability_bins(p0, ds.y_test)._asdict().items()}}


def derive(s: dict, measured: Measured, cfg: Config) -> dict:
    p, nan = s["priors"], {"mean": float("nan"), "std": float("nan")}
    out = {"teacher_accuracy": s["teacher"]["teacher"]["accuracy"]["mean"]}
    for name in ARMS:
        for metric in ("accuracy", "nll"):
            out |= mean_std(f"{name}_{metric}", p.get(name, {}).get(metric, nan))
    return out


EXPECTATIONS = (
    Expectation("KD on the training inputs vs no prior (accuracy)", "KD is a strong, data-driven "
                "prior that beats a weak one", "the source, ベイズ §3.2–4 (C9)", "kd_accuracy",
                Above("none_accuracy"), show=("none_accuracy",), fmt="%"),
    Expectation("KD on generated inputs vs no prior (accuracy)", "KD learns the function over "
                "the whole input space", "the source, 理由⑤ (C7)", "kd_transfer_accuracy",
                Above("none_accuracy"), show=("none_accuracy",), fmt="%"),
    Expectation("function matching vs the same augmentation without the teacher (accuracy)",
                "consistent teaching beats augmentation alone", "Beyer et al. 2022",
                "kd_augment_accuracy", Above("augment_accuracy"), show=("augment_accuracy",),
                fmt="%"),
    Expectation("function matching vs the same augmentation without the teacher (NLL)",
                "the teacher-centred prior lowers NLL", "Beyer et al. 2022", "kd_augment_nll",
                Below("augment_nll"), show=("augment_nll",), fmt=".3f"),
)


def plot(v, cfg: Config) -> dict:
    from bayeskd.metrics import ReliabilityBins
    from bayeskd.plotting import metric_bars, reliability_grid

    t = v.summary["teacher"]["teacher"]
    bars = metric_bars(v.summary["priors"], metrics=[
        ("accuracy", "test accuracy"), ("nll", "test NLL"), ("ece", "ECE"),
        ("noise_accuracy", "accuracy under input noise")],
        title=f"compare-priors ({cfg.seeds} seeds; dashed: teacher)",
        reference={k: t[k]["mean"] for k in ("accuracy", "nll", "ece")})
    rel = reliability_grid([(n, ReliabilityBins(**{k: np.asarray(a) for k, a in b.items()}),
                             v.summary["priors"][n]["ece"]["mean"])
                            for n, b in v.extra["reliability"].items()], ncols=3)
    return {"compare_priors": bars, "reliability": rel}


REPORT = {"priors": (("accuracy", "accuracy %", 100, 1), ("nll", "NLL", 1, 3),
                     ("ece", "ECE %", 100, 1), ("brier", "Brier", 1, 3),
                     ("agreement", "agreement %", 100, 1), ("train_test_gap", "gap %", 100, 1),
                     ("noise_accuracy", "noise acc. %", 100, 1),
                     ("input_grad_norm", "grad norm", 1, 3)),
          "teacher": (("accuracy", "accuracy %", 100, 1), ("nll", "NLL", 1, 3),
                      ("ece", "ECE %", 100, 1))}
SPEC = Spec(
    name="compare_priors", command="compare-priors",
    title="the same student under every prior (the main job)", paper="", mirrors="",
    claim="Every regulariser is a prior (the source's table): weight decay a Gaussian prior, "
          "label smoothing a weak uniform one, dropout a variational posterior, KD a strong "
          "data-driven prior centred on the teacher.",
    sizes=sizes(Config(), smoke=dict(seeds=2, teacher_steps=400, student_steps=300,
                                     transfer_size=1000),
                full=dict(teacher_steps=10000, student_steps=10000)),
    measure=measure, check=check, derive=derive, expectations=EXPECTATIONS, plot=plot,
    tables={"priors": Table("prior", METRICS + ("param_count",), {"part": "student"}),
            "teacher": Table("prior", ("accuracy", "nll", "ece"), {"part": "teacher"})},
    report=REPORT)

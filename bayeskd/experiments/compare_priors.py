r"""``bayeskd compare-priors``: the same student under every prior, same seeds, same metrics.

The regulariser table (every regulariser read as a prior) as one run: a teacher is trained once
(cached by its config), then the student is trained under

==================  =================================================================
``none``            maximum likelihood on the labels
``weight_decay``    Gaussian prior on weights, :math:`\lambda = 1/(\sigma^2 N)`
``label_smoothing`` uniform Dirichlet prior on each example's class probabilities
``dropout``         Bernoulli variational posterior over hidden units
``kd``              teacher-centred Dirichlet prior on the training inputs
``kd_transfer``     the teacher's predictive on generated, unlabeled inputs only
``augment``         invariance prior: hard labels on a fresh augmented view every step
``kd_augment``      function matching: KL to the teacher evaluated inside the step on the
                    same fresh view (α = 1, T = 1; Beyer et al. 2022)
``kd_crossfit``     teacher-centred prior whose teacher never saw the example: out-of-fold
                    teachers (``--folds``) label the training inputs (on request)
==================  =================================================================

On the training inputs the teacher is all but one-hot, so ``kd`` says little that the labels
did not; on fresh augmented views (``--augment``, default by dataset:
:func:`bayeskd.data.default_augmentation`) it does, and ``augment`` is the fair control that
uses the same views without a teacher. ``kd_crossfit`` trains ``--folds`` extra teachers and is
run only when named in ``--priors``.

Every prior's student trains with all its seeds in one vmapped, compiled run. Training follows
the MNIST-1D paper's recipe (Greydanus & Kobak 2024: Adam, learning rate 1e-2, batch 100,
6,000 steps) at the ``quick`` size, which is the default.

Command: ``bayeskd compare-priors`` (quick, 5 seeds, about 4 minutes on 2 cores).

Your own data and teacher: ``--data FILE.npz`` replaces the built-in dataset and
``--teacher-logits FILE.npy|FILE.npz`` replaces the trained teacher by outputs computed elsewhere
(formats in :mod:`bayeskd.data.own`). Without transfer inputs and their teacher outputs,
``kd_transfer`` is left out of the default priors.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import pathlib
import time
from typing import Any

import jax
import numpy as np

from bayeskd.checkpoint import SweepStore
from bayeskd.data import (
    DATASETS,
    Dataset,
    default_augmentation,
    load_npz,
    load_teacher_outputs,
    parse_augmentation,
)
from bayeskd.data.own import TEACHER_OUTPUT_KINDS, check_file, npz_num_classes, npz_shapes
from bayeskd.experiments.common import (
    SIZE_NAMES,
    evaluate_member,
    load_job_dataset,
    member_param_count,
    model_fn,
    teacher_modules,
    train_teacher,
)
from bayeskd.io import locked_output, save_figure, write_csv, write_json
from bayeskd.metrics import (
    ReliabilityBins,
    classification_metrics,
    format_mean_std,
    reliability_bins,
    summarize,
)
from bayeskd.priors import GaussianPrior, LabelSmoothing, NoPrior, TeacherPrior
from bayeskd.provenance import provenance
from bayeskd.training import TrainConfig, fit, out_of_fold_logits, predict_logits
from bayeskd.training.crossfit import check_folds
from bayeskd.training.memory import check_fits_memory, estimate_fit_bytes
from bayeskd.validate import (
    check_choice,
    check_positive_int,
    check_temperature,
    check_unit_interval,
)

__all__ = ["DEFAULT_PRIORS", "METRICS", "PRIORS", "SIZES", "STUDENTS", "TEACHERS", "ComparePriorsConfig",
           "format_table", "run"]

PRIORS = ("none", "weight_decay", "label_smoothing", "dropout", "kd", "kd_transfer", "augment",
          "kd_augment", "kd_crossfit")
#: Run when ``--priors`` is not given (``kd_crossfit`` trains ``folds`` more teachers: on request).
DEFAULT_PRIORS = tuple(p for p in PRIORS if p != "kd_crossfit")
#: Priors that need the teacher network itself (not only its outputs on fixed inputs).
NETWORK_PRIORS = ("kd_augment", "kd_crossfit")
#: Function matching's objective (Beyer et al. 2022): KL to the teacher alone at T = 1.
FM_ALPHA, FM_TEMPERATURE = 1.0, 1.0
STUDENTS = ("mlp", "mlp-small", "mlp-large")
TEACHERS = ("cnn", "mlp-large")
JOB_DATASETS = ("mnist1d", "digits", "gmm", "mnist", "fashion_mnist", "cifar10")
#: ``(input shape, classes, train + test inputs)`` of each built-in dataset, for the memory check.
BUILTIN_SHAPES = {"mnist1d": ((40,), 10, 5000), "digits": ((8, 8, 1), 10, 1797),
                  "gmm": ((2,), 3, 1500), "mnist": ((28, 28, 1), 10, 70000),
                  "fashion_mnist": ((28, 28, 1), 10, 70000), "cifar10": ((32, 32, 3), 10, 60000)}
METRICS = ("accuracy", "nll", "ece", "mce", "brier", "entropy", "agreement", "kl_teacher_student",
           "train_accuracy", "train_test_gap", "noise_accuracy", "input_grad_norm")


@dataclasses.dataclass(frozen=True)
class Size:
    """Run lengths of one size."""

    teacher_steps: int
    student_steps: int
    seeds: int
    transfer_size: int
    eval_every: int


SIZES = {
    "smoke": Size(teacher_steps=400, student_steps=300, seeds=2, transfer_size=1000, eval_every=100),
    "quick": Size(teacher_steps=6000, student_steps=6000, seeds=5, transfer_size=40000, eval_every=1000),
    "full": Size(teacher_steps=10000, student_steps=10000, seeds=5, transfer_size=40000, eval_every=1000),
}


@dataclasses.dataclass(frozen=True)
class ComparePriorsConfig:
    """Everything that defines a ``compare-priors`` run (validated on construction)."""

    dataset: str = "mnist1d"
    student: str = "mlp"
    teacher: str = "cnn"
    size: str = "quick"
    seeds: int | None = None
    transfer_size: int | None = None
    temperature: float = 4.0
    alpha: float = 0.9
    weight_decay: float = 1e-3
    label_smoothing: float = 0.1
    dropout: float = 0.2
    learning_rate: float = 1e-2
    batch_size: int = 100
    priors: tuple[str, ...] | None = None
    data_dir: str | None = None
    seed: int = 0
    data_file: str | None = None
    teacher_logits: str | None = None
    teacher_kind: str = "auto"
    augment: str | None = None
    folds: int = 4

    def __post_init__(self):
        check_choice(self.dataset, [d for d in JOB_DATASETS if d in DATASETS], name="dataset")
        check_choice(self.student, STUDENTS, name="student")
        check_choice(self.teacher, TEACHERS, name="teacher")
        check_choice(self.size, SIZE_NAMES, name="size")
        if self.seeds is not None:
            check_positive_int(self.seeds, name="seeds")
        if self.transfer_size is not None:
            check_positive_int(self.transfer_size, name="transfer_size")
        check_temperature(self.temperature)
        check_unit_interval(self.alpha, name="alpha")
        check_unit_interval(self.label_smoothing, name="label_smoothing")
        if not (0.0 <= self.dropout < 1.0):
            raise ValueError(f"dropout: must lie in [0, 1), got {self.dropout!r}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"weight_decay: must be a finite number >= 0, got {self.weight_decay!r}")
        if self.priors is not None:
            if not self.priors:
                raise ValueError(f"priors: give at least one of: {', '.join(PRIORS)}")
            for p in self.priors:
                check_choice(p, PRIORS, name="priors")
        if self.data_file is not None:
            check_file(self.data_file, name="--data", suffixes=(".npz",))
        if self.teacher_logits is not None:
            check_file(self.teacher_logits, name="--teacher-logits", suffixes=(".npy", ".npz"))
        check_choice(self.teacher_kind, TEACHER_OUTPUT_KINDS, name="teacher_kind")
        if self.augment is not None:
            parse_augmentation(self.augment)
        if check_positive_int(self.folds, name="folds") < 2:
            raise ValueError(f"folds: out-of-fold teachers need at least 2 folds, got {self.folds!r}")
        TrainConfig(steps=1, batch_size=self.batch_size, learning_rate=self.learning_rate)
        self.check_memory()

    def check_memory(self, available: int | None = None) -> None:
        """Refuse a run whose students (every seed in one compiled program) and inputs cannot fit
        in memory, before any work (estimate in :mod:`bayeskd.training.memory`)."""
        if self.data_file is not None:
            shapes = npz_shapes(self.data_file)
            shape = shapes.get("x_train", (0, 1))[1:]
            n = sum(shapes.get(k, (0,))[0] for k in ("x_train", "x_test", "x_transfer"))
            n += 0 if "x_transfer" in shapes else self.num_transfer
            k = npz_num_classes(self.data_file)
        else:
            shape, k, n = BUILTIN_SHAPES[self.dataset]
            n += self.num_transfer
        dropout = self.dropout if "dropout" in self.prior_names() else 0.0
        est = estimate_fit_bytes(self.student, shape, k, members=self.num_seeds,
                                 batch_size=self.batch_size, num_inputs=n, dropout=dropout)
        check_fits_memory(est, name="seeds", data_name="transfer_size", available=available,
                          what=f"{self.num_seeds} seeds of {self.student} on {n} inputs")

    @property
    def sizes(self) -> Size:
        return SIZES[self.size]

    @property
    def num_seeds(self) -> int:
        return self.seeds if self.seeds is not None else self.sizes.seeds

    @property
    def num_transfer(self) -> int:
        return self.transfer_size if self.transfer_size is not None else self.sizes.transfer_size

    def prior_names(self, ds: Dataset | None = None) -> tuple[str, ...]:
        """The priors run: as given, else :data:`DEFAULT_PRIORS`. An external teacher
        (``--teacher-logits``) has no network, so ``kd_augment`` is left out; and ``kd_transfer``
        too when it cannot have outputs on transfer inputs (``ds`` without ``x_transfer``;
        :func:`load_inputs` also leaves it out when the teacher file has none)."""
        if self.priors is not None:
            return tuple(self.priors)
        if self.teacher_logits is None:
            return DEFAULT_PRIORS
        out = tuple(p for p in DEFAULT_PRIORS if p not in NETWORK_PRIORS)
        if ds is None or ds.x_transfer is None:
            out = tuple(p for p in out if p != "kd_transfer")
        return out

    def augmentation(self, ds: Dataset):
        """The augmentation of ``augment`` and ``kd_augment``: ``--augment`` or the dataset's
        default (:func:`bayeskd.data.default_augmentation`)."""
        if self.augment is not None:
            return parse_augmentation(self.augment)
        return default_augmentation(ds.name, tuple(ds.x_train.shape[1:]))


def load_inputs(cfg: ComparePriorsConfig) -> tuple[Dataset, dict | None, tuple[str, ...]]:
    """``(dataset, external teacher outputs or None, priors)``, every shape checked.

    With ``data_file``, the arrays come from the file (transfer inputs only if it has
    ``x_transfer``; with a bayeskd-trained teacher and no ``x_transfer``, ``kd_transfer`` uses
    mixup inputs of training pairs, as for every dataset without a generator).
    """
    if cfg.data_file is not None:
        ds = load_npz(cfg.data_file)
    else:
        ds = None
    priors = cfg.prior_names(ds if cfg.data_file is not None else None)
    need_transfer = "kd_transfer" in priors
    if ds is None:
        ds = load_job_dataset(cfg.dataset, transfer_size=cfg.num_transfer if need_transfer else 0,
                              data_dir=cfg.data_dir, seed=cfg.seed)
    elif need_transfer and ds.x_transfer is None and cfg.teacher_logits is None:
        from bayeskd.data import mixup_inputs

        ds = dataclasses.replace(ds, x_transfer=mixup_inputs(ds.x_train, num=cfg.num_transfer,
                                                              alpha=1.0, seed=cfg.seed))
    if "kd_crossfit" in priors:
        check_folds(cfg.folds, ds.num_train)
    external = None
    if cfg.teacher_logits is not None:
        network = [p for p in priors if p in NETWORK_PRIORS]
        if network:
            raise ValueError(f"priors: {network[0]} needs a teacher network that bayeskd trains "
                             "(--teacher), not outputs from --teacher-logits")
        external = load_teacher_outputs(cfg.teacher_logits, ds, kind=cfg.teacher_kind)
        if need_transfer and external["logp_transfer"].shape[1] == 0 and cfg.priors is None:
            priors = tuple(p for p in priors if p != "kd_transfer")
        elif need_transfer and external["logp_transfer"].shape[1] == 0:
            raise ValueError("priors: kd_transfer needs transfer inputs (x_transfer in --data) "
                             "and the teacher's outputs on them (--teacher-logits); leave it out "
                             "with --priors " + ",".join(p for p in DEFAULT_PRIORS
                                                        if p not in ("kd_transfer", *NETWORK_PRIORS)))
    return ds, external, priors


def _prior_setup(name: str, cfg: ComparePriorsConfig, teacher: dict,
                 ds: Dataset) -> tuple[Any, dict]:
    """``(prior, model kwargs)`` for prior ``name``; ``teacher`` holds the teacher's tables (and
    its weights ``param_<i>`` for ``kd_augment``, the out-of-fold table for ``kd_crossfit``)."""
    if name == "weight_decay":
        return GaussianPrior(weight_decay=cfg.weight_decay), {}
    if name == "label_smoothing":
        return LabelSmoothing(epsilon=cfg.label_smoothing), {}
    if name == "dropout":
        return NoPrior(), {"dropout": cfg.dropout}
    if name == "kd":
        return TeacherPrior(alpha=cfg.alpha, temperature=cfg.temperature,
                            table=teacher["logp_train"][0]), {}
    if name == "kd_transfer":
        return TeacherPrior(alpha=1.0, temperature=cfg.temperature,
                            table=teacher["logp_transfer"][0]), {}
    if name == "kd_augment":
        net = jax.tree.map(lambda a: a[0], teacher_modules(teacher, cfg.teacher, ds))
        return TeacherPrior(alpha=FM_ALPHA, temperature=FM_TEMPERATURE, teacher=net), {}
    if name == "kd_crossfit":
        return TeacherPrior(alpha=cfg.alpha, temperature=cfg.temperature,
                            table=teacher["logp_crossfit"]), {}
    return NoPrior(), {}


def checkpoint_config(cfg: ComparePriorsConfig) -> dict:
    """What the checkpoints of a run belong to: the resolved config, the run lengths and the
    contents of any files given (so an edited file never resumes a stale run)."""
    out = {"job": "compare_priors", "config": _resolved_config(cfg),
           "sizes": dataclasses.asdict(cfg.sizes)}
    for field in ("data_file", "teacher_logits"):
        path = getattr(cfg, field)
        if path is not None:
            out[f"{field}_sha256"] = hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()
    return out


def _resolved_config(cfg: ComparePriorsConfig, priors: tuple[str, ...] | None = None) -> dict:
    return dataclasses.asdict(cfg) | {"seeds": cfg.num_seeds, "transfer_size": cfg.num_transfer,
                                      "priors": list(priors or cfg.prior_names())}


def run(cfg: ComparePriorsConfig, *, out, progress: bool | None = None, log=print,
        fresh: bool = False) -> dict:
    """Run the comparison and write ``results.json``, ``results.csv`` and the figures to ``out``.

    ``results.json`` holds no wall-clock time, so the same command gives the same bytes (also in a
    fresh process with a fresh cache); the run's duration goes to ``timing.json``.

    Resumable: the teacher and each prior's students are units of a
    :class:`bayeskd.checkpoint.SweepStore` in ``out/.checkpoints`` (students also checkpoint every
    ``eval_every`` steps), so the same call after a kill continues where it stopped and writes the
    same ``results.json``. ``fresh=True`` ignores earlier checkpoints.
    """
    t0 = time.perf_counter()
    ds, external, priors = load_inputs(cfg)  # every file and shape checked before any output
    teacher_name = "external" if external is not None else cfg.teacher
    with locked_output(out) as out_dir:
        ckpt = checkpoint_config(cfg)
        ckpt["config"]["priors"] = list(priors)
        store = SweepStore.for_output(out_dir, config=ckpt, fresh=fresh, log=log)
        if store.active:
            log(f"[compare-priors] {store.describe()}")
        size = cfg.sizes
        teacher_cfg = TrainConfig(steps=size.teacher_steps, batch_size=cfg.batch_size,
                                  learning_rate=cfg.learning_rate, eval_every=size.eval_every)
        log(f"[compare-priors] {ds.name}: {ds.num_train} train / {ds.num_test} test, "
            f"teacher {teacher_name}, student {cfg.student}, {cfg.num_seeds} seeds, size {cfg.size}")
        source = " (checkpoint)"

        def trained_teacher():
            nonlocal source
            trained = train_teacher(ds, model=cfg.teacher, config=teacher_cfg, seed=cfg.seed + 1000,
                                    progress=progress, checkpoint=store.trainer("teacher"),
                                    with_params="kd_augment" in priors)
            source = (" (cached)" if trained["cached"]
                      else f" ({trained['steps_run']} of {size.teacher_steps} steps trained here)")
            keep = ("logp_train", "logp_test", "logp_transfer", "param_count")
            return {k: v for k, v in trained.items() if k in keep or k.startswith("param_")}

        if external is not None:
            teacher = {k: external[k] for k in ("logp_train", "logp_test", "logp_transfer")}
            teacher["param_count"] = np.int64(-1)
            source = f" ({external['kind']} from {pathlib.Path(external['source']).name})"
        else:
            teacher = store.cached("teacher", trained_teacher)
            if "kd_crossfit" in priors:
                # unit teacher-crossfit: the out-of-fold table, one teacher per fold
                teacher = teacher | store.cached("teacher-crossfit", lambda: _crossfit_table(
                    cfg, ds, teacher_cfg, progress=progress))
        t_probs_test = np.exp(teacher["logp_test"][0])
        teacher_row = classification_metrics(t_probs_test, ds.y_test)
        teacher_row["param_count"] = (int(teacher["param_count"]) if teacher["param_count"] >= 0
                                      else None)
        log(f"[compare-priors] teacher: accuracy {teacher_row['accuracy']:.4f}, "
            f"NLL {teacher_row['nll']:.4f}, ECE {teacher_row['ece']:.4f}" + source)

        student_cfg = TrainConfig(steps=size.student_steps, batch_size=cfg.batch_size,
                                  learning_rate=cfg.learning_rate, eval_every=size.eval_every)
        rows: list[dict] = []
        reliab: list = []
        for name in priors:
            note = "checkpoint" if f"student-{name}" in store else None
            t1 = time.perf_counter()
            ran = {}

            def students(name=name, ran=ran):
                unit, ran["steps"] = _train_students(
                    name, cfg, ds, teacher, t_probs_test, student_cfg, progress=progress,
                    checkpoint=store.trainer(f"student-{name}"))
                return unit

            unit = store.cached(f"student-{name}", students)
            note = note or (f"{time.perf_counter() - t1:.1f} s, {ran['steps']} of "
                            f"{size.student_steps} steps trained here")
            rows.extend(unit["rows"])
            bins = unit["reliability"]
            reliab.append((name, ReliabilityBins(**bins), unit["rows"][0]["ece"]))
            log(f"[compare-priors] {name:16s} accuracy "
                f"{np.mean([r['accuracy'] for r in unit['rows']]):.4f}  NLL "
                f"{np.mean([r['nll'] for r in unit['rows']]):.4f}  ({note})")

        summary = summarize(rows, group="prior", metrics=METRICS)
        results = {
            "experiment": "compare_priors",
            "dataset": ds.name if cfg.data_file is not None else cfg.dataset,
            "size": cfg.size,
            "config": _resolved_config(cfg, priors),
            "data": {"num_train": ds.num_train, "num_test": ds.num_test,
                     "num_transfer": 0 if ds.x_transfer is None else len(ds.x_transfer)},
            "teacher": teacher_row | {"model": teacher_name},
            "student": {"model": cfg.student, "param_count": rows[0]["param_count"]},
            "rows": rows,
            "summary": summary,
            "provenance": provenance(),
        }
        _write_outputs(out_dir, results, reliab, log=log)
        write_json(out_dir / "results.json", results)  # byte-reproducible: no wall times
        results["runtime_s"] = time.perf_counter() - t0
        write_json(out_dir / "timing.json", {"runtime_s": results["runtime_s"]})
        log(format_table(results))
        log(f"[compare-priors] wrote {out_dir}/results.json, results.csv, compare_priors.png, "
            f"reliability.png, timing.json in {results['runtime_s']:.0f} s")
        return results


def _train_students(name: str, cfg: ComparePriorsConfig, ds, teacher: dict, t_probs_test,
                    student_cfg: TrainConfig, *, progress, checkpoint) -> tuple[dict, int]:
    """Train every seed's student under prior ``name``; returns the unit (rows, reliability bins)
    and the optimiser steps this call ran (fewer than ``student_cfg.steps`` when it resumed)."""
    prior, model_kwargs = _prior_setup(name, cfg, teacher, ds)
    augment = cfg.augmentation(ds) if name in ("augment", "kd_augment") else None
    if name == "kd_transfer":
        data = {"x": ds.x_transfer, "y": np.zeros(len(ds.x_transfer), np.int32),
                "label_mask": np.zeros(len(ds.x_transfer), np.float32)}
    else:
        data = {"x": ds.x_train, "y": ds.y_train}
    fn = model_fn(cfg.student, ds, **model_kwargs)
    res = fit(fn, data, prior=prior, config=student_cfg, key=jax.random.key(cfg.seed),
              num_members=cfg.num_seeds, progress=progress, desc=f"student {name}",
              checkpoint=checkpoint, augment=augment)
    rows = []
    bins = None
    for s in range(cfg.num_seeds):
        params = jax.tree.map(lambda a, s=s: a[s], res.params)
        row = {"prior": name, "seed": s}
        row |= evaluate_member(res.graphdef, params, ds, teacher_probs_test=t_probs_test,
                               key=jax.random.key(10_000 + s))
        row["param_count"] = member_param_count(res.params)
        rows.append(row)
        if s == 0:
            probs = jax.nn.softmax(predict_logits(res.graphdef, params, ds.x_test), -1)
            bins = reliability_bins(probs, ds.y_test)
    return ({"rows": rows, "reliability": {k: np.asarray(v) for k, v in bins._asdict().items()}},
            res.steps_run)


def _crossfit_table(cfg: ComparePriorsConfig, ds: Dataset, teacher_cfg: TrainConfig, *,
                    progress) -> dict:
    """``{"logp_crossfit": [N, K]}``: each training row labelled by the teacher trained without
    its fold (:func:`bayeskd.training.out_of_fold_logits`)."""
    logits, fold = out_of_fold_logits(model_fn(cfg.teacher, ds), {"x": ds.x_train, "y": ds.y_train},
                                      folds=cfg.folds, config=teacher_cfg,
                                      key=jax.random.key(cfg.seed + 1000), seed=cfg.seed,
                                      progress=progress)
    return {"logp_crossfit": np.asarray(jax.nn.log_softmax(logits, axis=-1)), "fold": fold}


def _write_outputs(out_dir, results: dict, reliab: list, *, log) -> None:
    from bayeskd.plotting import metric_bars, reliability_grid

    fields = ["prior", "seed", *METRICS, "param_count"]
    write_csv(out_dir / "results.csv", results["rows"], fields=fields)
    t = results["teacher"]
    fig = metric_bars(
        results["summary"],
        metrics=[("accuracy", "test accuracy"), ("nll", "test NLL"), ("ece", "ECE"),
                 ("noise_accuracy", "accuracy under input noise")],
        title=f"compare-priors on {results['dataset']} ({results['size']}, "
              f"{results['config']['seeds']} seeds; dashed: teacher)",
        reference={"accuracy": t["accuracy"], "nll": t["nll"], "ece": t["ece"]},
    )
    save_figure(fig, out_dir / "compare_priors.png")
    fig2 = reliability_grid(reliab, ncols=3)
    save_figure(fig2, out_dir / "reliability.png")
    import matplotlib.pyplot as plt

    plt.close(fig)
    plt.close(fig2)


def format_table(results: dict) -> str:
    """The summary as a text table (mean ± std over seeds)."""
    cols = [("accuracy", 100, "acc %"), ("nll", 1, "NLL"), ("ece", 100, "ECE %"),
            ("brier", 1, "Brier"), ("agreement", 100, "agree %"), ("train_test_gap", 100, "gap %"),
            ("noise_accuracy", 100, "noise acc %"), ("input_grad_norm", 1, "grad norm")]
    head = f"{'prior':16s}" + "".join(f"{c[2]:>16s}" for c in cols)
    lines = [head, "-" * len(head)]
    for prior, s in results["summary"].items():
        lines.append(f"{prior:16s}" + "".join(
            f"{format_mean_std(s.get(k), scale=sc, digits=2 if sc == 100 else 3):>16s}"
            for k, sc, _ in cols))
    t = results["teacher"]
    lines.append(f"{'teacher':16s}{100 * t['accuracy']:>16.2f}{t['nll']:>16.3f}{100 * t['ece']:>16.2f}")
    return "\n".join(lines)


def add_cli(sub) -> None:
    """Add the ``compare-priors`` subcommand."""
    p = sub.add_parser("compare-priors", help="the same student under every prior (the main job)",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default=None,
                   help=f"one of {', '.join(JOB_DATASETS)} (default mnist1d)")
    p.add_argument("--data", default=None, metavar="FILE.npz",
                   help="your own arrays: x_train, y_train, x_test, y_test (optional x_transfer)")
    p.add_argument("--teacher-logits", default=None, metavar="FILE",
                   help="teacher outputs computed elsewhere (.npy rows train[, transfer], test; or "
                        ".npz with keys train, test[, transfer]); logits or probabilities")
    p.add_argument("--teacher-kind", default="auto",
                   help="what --teacher-logits holds: auto | logits | probs (default auto: "
                        "probabilities when every row is a distribution)")
    p.add_argument("--student", default="mlp", help=f"one of {', '.join(STUDENTS)}")
    p.add_argument("--teacher", default="cnn", help=f"one of {', '.join(TEACHERS)}")
    p.add_argument("--seeds", type=int, default=None, help="number of seeds (default: by size)")
    p.add_argument("--transfer-size", type=int, default=None,
                   help="generated unlabeled inputs for kd_transfer (default: 40000, smoke 1000)")
    p.add_argument("--size", default="quick", help="smoke | quick | full (default quick)")
    p.add_argument("--temperature", type=float, default=4.0, help="KD temperature T > 0")
    p.add_argument("--alpha", type=float, default=0.9, help="KD weight in [0, 1]")
    p.add_argument("--priors", default=None,
                   help=f"comma-separated subset of {','.join(PRIORS)} (default: all but "
                        "kd_crossfit)")
    p.add_argument("--augment", default=None, metavar="NAME[:SETTING=VALUE,...]",
                   help="the views of augment and kd_augment: mnist1d (max_shift, scale, noise), "
                        "crop_flip (pad, flip) or mixup (alpha); default by dataset")
    p.add_argument("--folds", type=int, default=4,
                   help="out-of-fold teachers of kd_crossfit (2 <= folds <= training examples)")
    p.add_argument("--data-dir", default=None, help="folder with MNIST/Fashion-MNIST/CIFAR-10 files")
    p.add_argument("--out", default="paper_figures/compare_priors", help="output folder")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--fresh", action="store_true",
                   help="ignore checkpoints of an earlier run in --out and start over")
    p.set_defaults(func=_run_compare_priors)


def _run_compare_priors(args) -> int:
    from bayeskd.io import check_out_dir

    if args.data is not None and args.dataset is not None:
        raise ValueError("--data: give either --data FILE.npz or --dataset NAME, not both")
    priors = (None if args.priors is None
              else tuple(p.strip() for p in args.priors.split(",") if p.strip()))
    cfg = ComparePriorsConfig(
        dataset=args.dataset or "mnist1d", student=args.student, teacher=args.teacher,
        size=args.size, seeds=args.seeds, transfer_size=args.transfer_size,
        temperature=args.temperature, alpha=args.alpha, priors=priors, data_dir=args.data_dir,
        data_file=args.data, teacher_logits=args.teacher_logits, teacher_kind=args.teacher_kind,
        augment=args.augment, folds=args.folds,
    )
    check_out_dir(args.out)
    run(cfg, out=args.out, progress=False if args.no_progress else None, fresh=args.fresh)
    return 0

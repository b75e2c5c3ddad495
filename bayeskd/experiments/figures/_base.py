r"""Pieces every paper figure shares: the report a figure returns, per-member teacher tables, and
one-call training of several arms x several seeds.

A figure module defines ``INFO`` (:class:`FigureInfo`), ``SIZES`` (``{"smoke"|"quick"|"full":
size}``, each size with a ``seeds`` field) and ``run(size, *, seeds, log, progress, units) ->
Report``. :mod:`bayeskd.experiments.registry` validates the command, calls ``run`` and writes the
report. Figures load data with :func:`bayeskd.experiments.common.load_job_dataset`, train teachers
with :func:`bayeskd.experiments.common.train_teacher` (recipe :func:`teacher_config`), summarise
seeds with :func:`bayeskd.metrics.summarize` (tuple keys) and compute every note they write from
the numbers it describes.

Training follows the MNIST-1D paper's recipe (Greydanus & Kobak 2024: Adam, learning rate 1e-2,
batch 100); every arm of a comparison and every seed train together in one compiled, vmapped
:func:`bayeskd.training.fit` call (members are arm-major: member ``a * S + s`` is arm ``a``, seed
``s``).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from bayeskd.data import Dataset
from bayeskd.data.mnist1d import generate_mnist1d
from bayeskd.experiments.common import input_grad_norm_of, model_fn, noise_accuracy_of
from bayeskd.metrics import classification_metrics
from bayeskd.priors import TeacherPrior, stack_priors
from bayeskd.training import FitResult, TrainConfig, fit, predict_logits_members

LEARNING_RATE = 1e-2
BATCH_SIZE = 100
TEACHER_SEED = 1000  # the compare-priors teacher's seed, so both jobs share one cached teacher


@dataclasses.dataclass(frozen=True)
class FigureInfo:
    """What a figure reproduces, for ``--list``, the summary and the README table.

    Attributes:
      name: the registry name (``bayeskd reproduce NAME``).
      title: one line.
      paper: the citation.
      mirrors: the table or figure of the paper it mirrors.
      claim: the published claim, in one or two sentences.
      runtime: expected wall time per size on 2 CPU cores.
    """

    name: str
    title: str
    paper: str
    mirrors: str
    claim: str
    runtime: dict[str, str]


@dataclasses.dataclass
class Comparison:
    """One line of ``summary.md``: the published number and ours, side by side.

    ``agrees`` is ``True``/``False`` when our number points the paper's way or not, ``None`` where
    there is no direction to compare (a descriptive number).
    """

    claim: str
    published: str
    ours: str
    agrees: bool | None
    note: str = ""


@dataclasses.dataclass
class Report:
    """What ``run`` returns; the registry writes it to the output folder.

    Attributes:
      rows: one dict per (part, arm, seed) measurement, written to ``results.csv``.
      summary: mean/std aggregates (:func:`bayeskd.metrics.summarize`, tuple keys allowed: the
        registry writes them as strings) or any JSON.
      comparisons: the published-vs-ours lines of ``summary.md``.
      figures: ``{stem: matplotlib figure}``, each saved as ``stem.png`` and ``stem.pdf``.
      headline: our numbers at this size in one line, for the README table.
      extra: any other JSON-able results (curves, per-round values, settings).
      notes: paragraphs for ``summary.md`` (causes of disagreement, caveats).
      tables: markdown tables appended to ``summary.md``.
    """

    rows: list[dict]
    summary: dict
    comparisons: list[Comparison]
    figures: dict[str, Any]
    headline: str
    extra: dict = dataclasses.field(default_factory=dict)
    notes: list[str] = dataclasses.field(default_factory=list)
    tables: list[str] = dataclasses.field(default_factory=list)


# --------------------------------------------------------------------------- teacher tables


def table_prior(table: np.ndarray | None, *, n: int, k: int, alpha: float,
                temperature: float) -> TeacherPrior:
    """A table :class:`TeacherPrior`; ``table=None`` gives the hard-label arm's dummy table."""
    if table is None:
        table = np.full((n, k), -np.log(k), np.float32)
    return TeacherPrior(alpha=float(alpha), temperature=float(temperature),
                        table=np.asarray(table, np.float32))


def repeat_each(items: Sequence[Any], times: int) -> list[Any]:
    """``[a, a, b, b]`` from ``[a, b]`` and ``times=2``: arm-major member order."""
    return [it for it in items for _ in range(times)]


# --------------------------------------------------------------------------- resumable parts


class Units:
    """A figure's finished parts (units), stored once and reloaded when the run is repeated.

    ``units(name, compute)`` is :meth:`bayeskd.checkpoint.SweepStore.cached` of the figure's
    store (``bayeskd reproduce`` gives one in ``<out>/.checkpoints``): the stored value of part
    ``name``, or ``compute()`` stored and read back. ``units.trainer(name)`` is the mid-training
    checkpoint of the part's ``fit`` run. Without a store (``Units()``) every part is computed and
    nothing is written.
    """

    def __init__(self, store=None):
        self.store = store

    def __call__(self, name: str, compute: Callable[[], Any]) -> Any:
        return compute() if self.store is None else self.store.cached(name, compute)

    def trainer(self, name: str):
        """The trainer checkpoint of part ``name`` for ``fit(checkpoint=...)`` (or ``None``)."""
        return None if self.store is None else self.store.trainer(name)


# --------------------------------------------------------------------------- training


def train_config(steps: int, *, eval_every: int | None = None) -> TrainConfig:
    """The MNIST-1D recipe with ``steps`` steps (one compiled chunk per ``eval_every``)."""
    every = eval_every or _chunk(steps)
    return TrainConfig(steps=steps, batch_size=BATCH_SIZE, learning_rate=LEARNING_RATE,
                       eval_every=every)


def _chunk(steps: int) -> int:
    """The largest chunk of at most 2000 steps that divides ``steps`` (one compiled program)."""
    for c in range(min(steps, 2000), 0, -1):
        if steps % c == 0:
            return c
    return steps


def train_members(
    model: str,
    ds: Dataset,
    data: dict,
    priors: Sequence[Any],
    *,
    steps: int,
    key: int,
    progress: bool | None,
    desc: str,
    model_kwargs: dict | None = None,
    checkpoint=None,
) -> FitResult:
    r"""Train one member per prior in ``priors`` in one compiled, vmapped run.

    Every prior must have the same pytree structure (e.g. all table :class:`TeacherPrior`\ s);
    member ``m`` trains under ``priors[m]`` from its own initialisation ``fold_in(key, m)``.
    ``checkpoint`` (e.g. ``units.trainer(name)``) saves the run after every chunk and resumes it.
    """
    fn = model_fn(model, ds, **(model_kwargs or {}))
    return fit(fn, data, prior=stack_priors(priors), prior_axis=0, config=train_config(steps),
               key=jax.random.key(key), num_members=len(priors), progress=progress, desc=desc,
               checkpoint=checkpoint)


def train_arms(model: str, ds: Dataset, data: dict, priors: Sequence[Any], *, seeds: int,
               **kwargs) -> FitResult:
    """``len(priors) * seeds`` members in one run; member ``a * seeds + s`` is arm ``a``, seed ``s``."""
    return train_members(model, ds, data, repeat_each(priors, seeds), **kwargs)


def member_logp(res: FitResult, x: np.ndarray) -> np.ndarray:
    """Log-probabilities ``[M, N, K]`` of every member on ``x``."""
    logits = predict_logits_members(res.graphdef, res.params, x)
    return np.asarray(jax.nn.log_softmax(logits, axis=-1))


def metric_rows(logp_MNK: np.ndarray, labels: np.ndarray, *, arms: Sequence[str], seeds: int,
                teacher_probs: np.ndarray | Sequence[np.ndarray | None] | None = None,
                extra: dict | None = None) -> list[dict]:
    """One metrics row per member (arm-major), with ``arm`` and ``seed`` fields.

    ``teacher_probs`` is one ``[N, K]`` array for all members or one per member (or ``None``).
    """
    rows = []
    for m in range(logp_MNK.shape[0]):
        t = teacher_probs[m] if isinstance(teacher_probs, list | tuple) else teacher_probs
        row = {"arm": arms[m // seeds], "seed": m % seeds} | dict(extra or {})
        row |= classification_metrics(np.exp(logp_MNK[m]), labels, teacher_probs=t)
        rows.append(row)
    return rows


# --------------------------------------------------------------------------- data and teachers


def teacher_config(steps: int) -> TrainConfig:
    """The figures' teacher recipe for :func:`bayeskd.experiments.common.train_teacher`: the
    MNIST-1D recipe, one compiled chunk per 1,000 steps (the compare-priors teacher's, so both
    share one cached teacher)."""
    return train_config(steps, eval_every=min(steps, 1000))


def transfer_labels(ds: Dataset) -> np.ndarray:
    """The true labels of an MNIST-1D transfer set (the generator knows them; KD never reads them)."""
    x, y = generate_mnist1d(len(ds.x_transfer), seed=ds.meta["transfer_seed"],
                            mean=ds.meta["mean"], std=ds.meta["std"])
    if not np.allclose(x, ds.x_transfer, atol=1e-5):  # pragma: no cover - a generator change
        raise RuntimeError("transfer_labels: regenerated inputs differ from the transfer set")
    return y


def member_robustness(res: FitResult, x: np.ndarray, y: np.ndarray, *, key: jax.Array,
                      grad_examples: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy under Gaussian input noise of each ``NOISE_SIGMAS`` ``[M, L]`` and mean
    input-gradient norm ``[M]`` of every member (:func:`~bayeskd.experiments.common.
    noise_accuracy_of`, vmapped over members; every member sees the same noise draw)."""
    noise_fn = functools.partial(noise_accuracy_of, graphdef=res.graphdef)
    grad_fn = functools.partial(input_grad_norm_of, graphdef=res.graphdef)
    acc = jax.vmap(noise_fn, in_axes=(0, None, None, None))(res.params, jnp.asarray(x),
                                                             jnp.asarray(y), key)
    grad = jax.vmap(grad_fn, in_axes=(0, None))(res.params, jnp.asarray(x[:grad_examples]))
    return np.asarray(acc), np.asarray(grad)


def log_fn(log: Callable[[str], None] | None) -> Callable[[str], None]:
    return log if log is not None else (lambda msg: None)

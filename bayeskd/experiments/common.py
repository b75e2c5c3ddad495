"""Measuring pieces the specs share: the dataset dispatcher, training several arms x seeds in one
compiled run, and metric rows.

Every arm of a comparison and every seed train together in one vmapped :func:`bayeskd.training.fit`
call (members are arm-major: member ``a * S + s`` is arm ``a``, seed ``s``), with the MNIST-1D
recipe (:func:`bayeskd.experiments.teachers.recipe`). Teachers come from
:func:`bayeskd.experiments.teachers.train_teacher`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from bayeskd.data import Dataset, load_dataset, mixup_inputs
from bayeskd.data.mnist1d import generate_mnist1d
from bayeskd.experiments.teachers import model_fn, recipe
from bayeskd.metrics import classification_metrics, input_grad_norm, noise_accuracy
from bayeskd.priors import TeacherPrior, stack_priors
from bayeskd.training import FitResult, apply_model, fit, predict_logits, predict_logits_members

__all__ = ["NOISE_SIGMAS", "arm_rows", "evaluate_member", "load_job_dataset", "member_logp",
           "member_robustness", "metric_rows", "repeat_each", "train_arms", "transfer_labels"]

NOISE_SIGMAS = (0.25, 0.5, 1.0)


def load_job_dataset(name: str, *, transfer_size: int = 0, data_dir: str | None = None,
                     seed: int = 0) -> Dataset:
    """Load a dataset for a job, with ``transfer_size`` extra unlabeled inputs.

    MNIST-1D and the synthetic problems generate new inputs from the data distribution; datasets
    without a generator (digits, local files) get mixup inputs of training pairs instead.
    """
    kwargs: dict[str, Any] = {}
    if data_dir is not None and name in ("mnist", "fashion_mnist", "cifar10"):
        kwargs["data_dir"] = data_dir
    generated = name in ("mnist1d", "gmm", "moons", "spirals")
    if generated and transfer_size:
        kwargs["transfer_size"] = transfer_size
    if name == "gmm":
        kwargs.setdefault("dim", 2)
        kwargs.setdefault("num_train", 500)
    ds = load_dataset(name, **kwargs)
    if transfer_size and not generated:
        x_tr = mixup_inputs(ds.x_train, num=transfer_size, alpha=1.0, seed=seed)
        ds = Dataset(ds.name, ds.x_train, ds.y_train, ds.x_test, ds.y_test, ds.num_classes,
                     x_transfer=x_tr, bayes_probs_test=ds.bayes_probs_test, meta=ds.meta)
    return ds


def kd_priors(table: np.ndarray, *pairs: tuple[float, float]) -> list[TeacherPrior]:
    r"""One :class:`~bayeskd.priors.TeacherPrior` on ``table`` per ``(alpha, T)`` pair
    (``(0.0, 1.0)``: labels alone)."""
    return [TeacherPrior(alpha=a, temperature=t, table=table) for a, t in pairs]


def repeat_each(items: Sequence[Any], times: int) -> list[Any]:
    """``[a, a, b, b]`` from ``[a, b]`` and ``times=2``: arm-major member order."""
    return [it for it in items for _ in range(times)]


def train_arms(model: str, ds: Dataset, data: dict, priors: Sequence[Any], *, seeds: int,
               steps: int, key: int, ctx=None, desc: str = "", unit: str | None = None,
               model_kwargs: dict | None = None, **fit_kwargs) -> FitResult:
    r"""``len(priors) * seeds`` members in one compiled, vmapped run: member ``a * seeds + s``
    trains under ``priors[a]`` from its own initialisation ``fold_in(key, a * seeds + s)``.

    Every prior must have the same pytree structure (e.g. all table :class:`TeacherPrior`\ s).
    ``unit`` names the part whose trainer checkpoint (``ctx.trainer(unit)``) makes it resumable.
    """
    fn = model_fn(model, ds, **(model_kwargs or {}))
    members = repeat_each(priors, seeds)
    res = fit(fn, data, prior=stack_priors(members), prior_axis=0, config=recipe(steps),
              key=jax.random.key(key), num_members=len(members),
              progress=None if ctx is None else ctx.progress, desc=desc,
              checkpoint=None if ctx is None or unit is None else ctx.trainer(unit), **fit_kwargs)
    if ctx is not None:
        ctx.log(f"{desc or unit}: {res.runtime_s:.0f} s")
    return res


def arm_rows(ctx, unit: str, ds: Dataset, data: dict, priors: Sequence[Any], *,
             arms: Sequence[str], seeds: int, steps: int, key: int, model: str = "mlp",
             teacher_probs: np.ndarray | None = None, extra: dict | None = None,
             model_kwargs: dict | None = None, **fit_kwargs) -> list[dict]:
    """Part ``unit`` of a figure: ``arms x seeds`` students trained in one run
    (:func:`train_arms`), one test-set metric row each (:func:`metric_rows`), stored as a unit."""
    def compute() -> list[dict]:
        res = train_arms(model, ds, data, priors, seeds=seeds, steps=steps, key=key, ctx=ctx,
                         desc=unit, unit=unit, model_kwargs=model_kwargs, **fit_kwargs)
        return metric_rows(member_logp(res, ds.x_test), ds.y_test, arms=arms, seeds=seeds,
                           teacher_probs=teacher_probs, extra=extra)

    return ctx.unit(unit, compute)


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
    input-gradient norm ``[M]`` of every member (every member sees the same noise draw)."""
    noise_fn = functools.partial(noise_accuracy_of, graphdef=res.graphdef)
    grad_fn = functools.partial(input_grad_norm_of, graphdef=res.graphdef)
    acc = jax.vmap(noise_fn, in_axes=(0, None, None, None))(res.params, jnp.asarray(x),
                                                             jnp.asarray(y), key)
    grad = jax.vmap(grad_fn, in_axes=(0, None))(res.params, jnp.asarray(x[:grad_examples]))
    return np.asarray(acc), np.asarray(grad)


def evaluate_member(graphdef, params, ds: Dataset, *, teacher_probs_test: np.ndarray | None,
                    key: jax.Array, grad_examples: int = 500) -> dict[str, Any]:
    """The full metric row of one trained model on ``ds``'s test set (plain floats).

    Accuracy, NLL, ECE, MCE, Brier, entropy; agreement and KL(teacher || student) when
    ``teacher_probs_test`` is given; train accuracy and the train-test gap; accuracy under
    Gaussian input noise of each ``NOISE_SIGMAS`` (``noise_accuracy`` is their mean); and the mean
    input-gradient norm on the first ``grad_examples`` test inputs.
    """
    probs = jax.nn.softmax(predict_logits(graphdef, params, ds.x_test), axis=-1)
    row = classification_metrics(probs, ds.y_test, teacher_probs=teacher_probs_test)
    train_logits = predict_logits(graphdef, params, ds.x_train)
    row["train_accuracy"] = float(jnp.mean(jnp.argmax(train_logits, -1) == ds.y_train))
    row["train_test_gap"] = row["train_accuracy"] - row["accuracy"]
    sigma_acc = noise_accuracy_of(params, jnp.asarray(ds.x_test), jnp.asarray(ds.y_test), key,
                                  graphdef=graphdef)
    row["noise_accuracy"] = float(jnp.mean(sigma_acc))
    row["input_grad_norm"] = float(input_grad_norm_of(
        params, jnp.asarray(ds.x_test[:grad_examples]), graphdef=graphdef))
    return {k: (float(v) if isinstance(v, float | np.floating) else v) for k, v in row.items()}


@functools.partial(jax.jit, static_argnames=("graphdef",))
def noise_accuracy_of(params, x, y, key, *, graphdef) -> jax.Array:
    """Accuracy ``[L]`` of the model ``(graphdef, params)`` under Gaussian input noise of each
    ``NOISE_SIGMAS``; ``jax.vmap`` it over stacked members."""
    return noise_accuracy(lambda xx: apply_model(graphdef, params, xx), x, y,
                          sigmas=NOISE_SIGMAS, key=key)


@functools.partial(jax.jit, static_argnames=("graphdef",))
def input_grad_norm_of(params, x, *, graphdef) -> jax.Array:
    """Mean input-gradient norm ``[]`` of the model ``(graphdef, params)`` on ``x``."""
    return input_grad_norm(lambda xx: apply_model(graphdef, params, xx), x)

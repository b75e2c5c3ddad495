"""Pieces every job shares: size names, the dataset dispatcher, the teacher trainer (cached by
config), student evaluation, and the one conversion of result keys for JSON.

``compare-priors``, ``posterior-zoo``, every figure and the benchmarks load data with
:func:`load_job_dataset` and train teachers with :func:`train_teacher`; summaries come from
:func:`bayeskd.metrics.summarize` and :func:`bayeskd.metrics.format_mean_std`.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from bayeskd.cache import read_npz_verified, warn_cache_problem, write_npz_verified
from bayeskd.checkpoint import config_hash
from bayeskd.data import Dataset, load_dataset, mixup_inputs
from bayeskd.data.mnist1d import cache_root
from bayeskd.metrics import classification_metrics, input_grad_norm, noise_accuracy
from bayeskd.models import MODELS, ModelFactory
from bayeskd.priors import NoPrior
from bayeskd.training import TrainConfig, apply_model, fit, predict_logits
from bayeskd.validate import check_choice

SIZE_NAMES = ("smoke", "quick", "full")  # every job's ``SIZES`` maps these to its run lengths
NOISE_SIGMAS = (0.25, 0.5, 1.0)


def load_job_dataset(name: str, *, transfer_size: int = 0, data_dir: str | None = None,
                     seed: int = 0) -> Dataset:
    """Load a dataset for a job, with ``transfer_size`` extra unlabeled inputs.

    MNIST-1D and the Gaussian mixture generate new inputs from the data distribution; datasets
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


def model_fn(name: str, ds: Dataset, **kwargs) -> ModelFactory:
    """``key -> module`` for model ``name`` on dataset ``ds`` (hashable: equal ones compile once)."""
    check_choice(name, MODELS, name="model")
    return ModelFactory(name, tuple(ds.x_train.shape[1:]), ds.num_classes, tuple(sorted(kwargs.items())))


def log_probs(logits: jax.Array) -> np.ndarray:
    return np.asarray(jax.nn.log_softmax(jnp.asarray(logits, jnp.float32), axis=-1))


def train_teacher(
    ds: Dataset,
    *,
    model: str,
    config: TrainConfig,
    seed: int,
    cache: bool = True,
    num_members: int = 1,
    progress: bool | None = None,
    checkpoint=None,
    with_params: bool = False,
) -> dict[str, Any]:
    """Train a teacher (or an ensemble of ``num_members``), cached on disk by its whole config.

    ``checkpoint`` (a :class:`bayeskd.checkpoint.TrainCheckpointer`) makes the training itself
    resumable after a kill; the finished teacher goes to the cache either way.

    Returns a dict with log-probabilities ``logp_train [M, N, K]``, ``logp_test``,
    ``logp_transfer`` (if the dataset has transfer inputs), ``param_count``, ``runtime_s``,
    ``cached`` and ``steps_run`` (optimiser steps trained by this call: fewer than
    ``config.steps`` after resuming from ``checkpoint``, 0 from the cache), and the trained
    weights as ``param_<i>`` arrays ``[M, ...]`` (the leaves of ``nnx.Param`` state in tree
    order; :func:`teacher_modules` rebuilds callable teachers from them). A cached teacher
    stored without its weights counts as missing when ``with_params`` is set.
    The cache (``$BAYESKD_CACHE/teachers``) keys on the dataset's arrays, the model, the training
    config, the seed and the member count, so a changed setting never reuses a stale teacher.
    """
    x_transfer = ds.x_transfer if ds.x_transfer is not None else np.zeros((0, *ds.x_train.shape[1:]),
                                                                          np.float32)
    key_cfg = {
        "data": _array_digest(ds.x_train, ds.y_train, ds.x_test, x_transfer),
        "model": model, "config": config.__dict__, "seed": seed, "members": num_members,
    }
    path = cache_root() / "teachers" / f"{model}-{config_hash(key_cfg)}.npz"
    if cache:
        found = read_npz_verified(path)
        if found.arrays is not None and (not with_params or "param_0" in found.arrays):
            return found.arrays | {"cached": True, "steps_run": 0}
        if found.problem is not None:
            warn_cache_problem(path, found.problem, action=f"training the {model} teacher again")
    fn = model_fn(model, ds)
    res = fit(fn, {"x": ds.x_train, "y": ds.y_train}, prior=NoPrior(), config=config,
              key=jax.random.key(seed), num_members=num_members, progress=progress,
              desc=f"teacher {model}", checkpoint=checkpoint)
    out: dict[str, Any] = {"runtime_s": np.float64(res.runtime_s)}
    for split, x in (("train", ds.x_train), ("test", ds.x_test), ("transfer", x_transfer)):
        out[f"logp_{split}"] = np.stack([
            log_probs(predict_logits(res.graphdef, jax.tree.map(lambda a, m=m: a[m], res.params), x))
            if len(x) else np.zeros((0, ds.num_classes), np.float32)
            for m in range(num_members)
        ])
    out["param_count"] = np.int64(member_param_count(res.params))
    out |= {f"param_{i}": np.asarray(a) for i, a in enumerate(jax.tree.leaves(res.params))}
    if cache:
        write_npz_verified(path, out)
    return out | {"cached": False, "steps_run": res.steps_run}


def teacher_modules(trained: dict, model: str, ds: Dataset):
    """The members of a :func:`train_teacher` result (with its ``param_<i>`` weights) as one
    stacked :class:`bayeskd.priors.ModelTeacher` ``[M, ...]``, callable ``x -> logits`` inside a
    compiled step (index member ``m`` with ``jax.tree.map(lambda a: a[m], teacher)``)."""
    from flax import nnx

    from bayeskd.priors import ModelTeacher
    from bayeskd.training import split_params

    graphdef, abstract = split_params(nnx.eval_shape(lambda: model_fn(model, ds)(jax.random.key(0))))
    leaves, treedef = jax.tree.flatten(abstract)
    if f"param_{len(leaves) - 1}" not in trained:
        raise ValueError("trained: has no teacher weights; call train_teacher(..., "
                         "with_params=True)")
    params = jax.tree.unflatten(treedef, [jnp.asarray(trained[f"param_{i}"])
                                          for i in range(len(leaves))])
    return ModelTeacher(graphdef, params)


def member_param_count(params_M) -> int:
    """Trainable scalars of one member of stacked parameters (every leaf ``[M, ...]``)."""
    return int(sum(np.prod(a.shape[1:]) for a in jax.tree.leaves(params_M)))


def _array_digest(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def evaluate_member(
    graphdef, params, ds: Dataset, *, teacher_probs_test: np.ndarray | None, key: jax.Array,
    mc_key: jax.Array | None = None, grad_examples: int = 500,
) -> dict[str, Any]:
    """The full metric row of one trained model on ``ds``'s test set (plain floats).

    Accuracy, NLL, ECE, MCE, Brier, entropy; agreement and KL(teacher || student) when
    ``teacher_probs_test`` is given; train accuracy and the train-test gap; accuracy under
    Gaussian input noise of each ``NOISE_SIGMAS`` (``noise_accuracy`` is their mean); and the mean
    input-gradient norm on the first ``grad_examples`` test inputs.
    """
    test_logits = predict_logits(graphdef, params, ds.x_test)
    probs = jax.nn.softmax(test_logits, axis=-1)
    row = classification_metrics(probs, ds.y_test, teacher_probs=teacher_probs_test)
    train_logits = predict_logits(graphdef, params, ds.x_train)
    row["train_accuracy"] = float(jnp.mean(jnp.argmax(train_logits, -1) == ds.y_train))
    row["train_test_gap"] = row["train_accuracy"] - row["accuracy"]

    sigma_acc = noise_accuracy_of(params, jnp.asarray(ds.x_test), jnp.asarray(ds.y_test), key,
                                  graphdef=graphdef)
    row["noise_accuracy_by_sigma"] = {str(s): float(a) for s, a in zip(NOISE_SIGMAS, sigma_acc, strict=True)}
    row["noise_accuracy"] = float(jnp.mean(sigma_acc))
    row["input_grad_norm"] = float(input_grad_norm_of(params, jnp.asarray(ds.x_test[:grad_examples]),
                                                      graphdef=graphdef))
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


def string_keys(obj: Any) -> Any:
    """``obj`` with every dict key a string, for JSON: a tuple key ``("mlp", "labels")`` becomes
    ``"mlp | labels"``, other keys ``str(key)``. Summaries keep tuple keys in Python
    (:func:`bayeskd.metrics.summarize`); this is the one place they become strings."""
    if isinstance(obj, dict):
        return {(" | ".join(map(str, k)) if isinstance(k, tuple) else str(k)): string_keys(v)
                for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [string_keys(v) for v in obj]
    return obj

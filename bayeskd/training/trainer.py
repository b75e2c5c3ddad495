"""The compiled trainer: whole chunks of steps inside one ``jax.lax.scan``, vmapped over members.

One run is ``steps`` optimiser steps on the objective of :mod:`bayeskd.priors`. Steps are grouped
into chunks of ``eval_every``; each chunk is a single jitted call (no per-step Python dispatch),
and between chunks the trainer evaluates, checks for divergence, updates a tqdm bar and calls an
optional checkpoint hook. Everything is vmapped over a leading *member* axis, so seeds, ensemble
members and hyperparameter sweeps train together in one compiled program (a single run is the
case ``M = 1``).

Minibatches are drawn i.i.d. with replacement from the training arrays with an explicit key
per step (the stochastic-gradient reading of the likelihood); the same key gives the same run.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from tqdm.auto import tqdm

from bayeskd.losses.divergences import softmax_cross_entropy
from bayeskd.priors.priors import objective

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine")


class TrainingDiverged(FloatingPointError):
    """The objective became NaN or infinite; the message names the step, prior and last finite loss."""


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings of one run.

    Attributes:
      steps: number of optimiser steps (> 0).
      batch_size: examples per step (> 0).
      learning_rate: peak learning rate (> 0).
      optimizer: one of ``adam``, ``adamw``, ``sgd`` (momentum 0.9).
      schedule: ``constant`` or ``cosine`` decay to zero.
      eval_every: steps per compiled chunk; evaluation happens between chunks.
    """

    steps: int = 6000
    batch_size: int = 100
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    schedule: str = "constant"
    eval_every: int = 500

    def __post_init__(self):
        for name in ("steps", "batch_size", "eval_every"):
            v = getattr(self, name)
            if not isinstance(v, int | np.integer) or v <= 0:
                raise ValueError(f"{name}: must be a positive integer, got {v!r}")
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ValueError(f"learning_rate: must be a finite number > 0, got {self.learning_rate!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer: unknown {self.optimizer!r}; choose one of {OPTIMIZERS}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule: unknown {self.schedule!r}; choose one of {SCHEDULES}")

    def make_optimizer(self) -> optax.GradientTransformation:
        lr: Any = self.learning_rate
        if self.schedule == "cosine":
            lr = optax.cosine_decay_schedule(self.learning_rate, self.steps)
        if self.optimizer == "adam":
            return optax.adam(lr)
        if self.optimizer == "adamw":
            return optax.adamw(lr)
        return optax.sgd(lr, momentum=0.9)


class TrainState(NamedTuple):
    """Per-member training state (every leaf has a leading member axis inside the trainer)."""

    params: Any
    opt_state: Any
    key: jax.Array
    step: jax.Array


class FitResult(NamedTuple):
    """A finished run: stacked parameters ``[M, ...]``, the graph to merge them into, and history."""

    graphdef: Any
    params: Any
    history: dict
    runtime_s: float

    def member(self, m: int = 0) -> nnx.Module:
        """The ``m``-th trained member as an NNX module."""
        return nnx.merge(self.graphdef, jax.tree.map(lambda a: a[m], self.params))

    @property
    def num_members(self) -> int:
        return int(jax.tree.leaves(self.params)[0].shape[0])


def split_params(model: nnx.Module) -> tuple[Any, Any]:
    """``(graphdef, params)`` of a model whose only state is ``nnx.Param``."""
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    if jax.tree.leaves(rest):
        raise ValueError("model: only nnx.Param state is supported (no batch statistics or RNG state)")
    return graphdef, params


def apply_model(graphdef, params, x: jax.Array, *, key: jax.Array | None = None) -> jax.Array:
    """Logits ``[B, K]`` of the model ``(graphdef, params)``; a ``key`` switches on dropout."""
    return nnx.merge(graphdef, params)(x, key=key)


def _check_train_data(data: dict) -> int:
    if "x" not in data or "y" not in data:
        raise ValueError("data: needs arrays 'x' and 'y' (and optionally 'label_mask', 'teacher_logp')")
    n = int(np.shape(data["x"])[0])
    if n == 0:
        raise ValueError("data: the training set is empty")
    for k, v in data.items():
        if np.shape(v)[0] != n:
            raise ValueError(f"data[{k!r}]: has {np.shape(v)[0]} rows, expected {n} like data['x']")
    return n


def make_chunk_fn(graphdef, tx: optax.GradientTransformation, *, batch_size: int, length: int,
                  stochastic: bool) -> Callable:
    """A function ``(state, data, prior) -> (state, losses [length])`` running ``length`` steps."""

    def loss_fn(params, batch, prior, key):
        logits = apply_model(graphdef, params, batch["x"], key=key if stochastic else None)
        nll = softmax_cross_entropy(logits, batch["y"])
        return objective(nll, prior, params, logits, batch)

    def step(carry, _):
        state, data, prior = carry
        key, k_batch, k_drop = jax.random.split(state.key, 3)
        n = jax.tree.leaves(data)[0].shape[0]
        idx = jax.random.randint(k_batch, (batch_size,), 0, n)
        batch = jax.tree.map(lambda a: a[idx], data)
        loss, grads = jax.value_and_grad(loss_fn)(state.params, batch, prior, k_drop)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        return (TrainState(params, opt_state, key, state.step + 1), data, prior), loss

    def chunk(state, data, prior):
        (state, _, _), losses = jax.lax.scan(step, (state, data, prior), length=length)
        return state, losses

    return chunk


def predict_logits(graphdef, params, x, *, batch_size: int = 2048, key=None) -> jax.Array:
    """Logits ``[N, K]`` of one model over ``x`` ``[N, ...]``, in batches (padded last batch)."""
    x = jnp.asarray(x, jnp.float32)
    n = x.shape[0]
    bs = min(batch_size, n)
    pad = (-n) % bs
    xp = jnp.concatenate([x, jnp.zeros((pad, *x.shape[1:]), x.dtype)]) if pad else x
    xb = xp.reshape(-1, bs, *x.shape[1:])
    fn = _predict_fn(graphdef, key is not None)
    out = fn(params, xb, key)
    return out.reshape(-1, out.shape[-1])[:n]


_PREDICT_CACHE: dict = {}


def _predict_fn(graphdef, stochastic: bool):
    k = (graphdef, stochastic)
    if k not in _PREDICT_CACHE:

        def run(params, xb, key):
            def one(args):
                i, xbatch = args
                kk = jax.random.fold_in(key, i) if stochastic else None
                return apply_model(graphdef, params, xbatch, key=kk)

            return jax.lax.map(one, (jnp.arange(xb.shape[0]), xb))

        _PREDICT_CACHE[k] = jax.jit(run)
    return _PREDICT_CACHE[k]


def predict_logits_members(graphdef, params, x, *, batch_size: int = 2048) -> jax.Array:
    """Logits ``[M, N, K]`` of stacked members ``params [M, ...]``."""
    m = jax.tree.leaves(params)[0].shape[0]
    return jnp.stack([predict_logits(graphdef, jax.tree.map(lambda a, i=i: a[i], params), x,
                                     batch_size=batch_size) for i in range(m)])


def init_members(model_fn: Callable[[jax.Array], nnx.Module], keys: jax.Array) -> tuple[Any, Any]:
    """Initialise ``M = len(keys)`` members; returns ``(graphdef, params [M, ...])``."""
    graphdef, _ = split_params(model_fn(keys[0]))
    params = jax.vmap(lambda k: split_params(model_fn(k))[1])(keys)
    return graphdef, params


def fit(
    model_fn: Callable[[jax.Array], nnx.Module],
    data: dict,
    *,
    prior,
    config: TrainConfig,
    key: jax.Array,
    num_members: int = 1,
    prior_axis: int | None = None,
    eval_data: tuple[Any, Any] | None = None,
    progress: bool | None = None,
    desc: str = "train",
    on_chunk: Callable[[int, TrainState], None] | None = None,
    initial_state: TrainState | None = None,
) -> FitResult:
    """Train ``num_members`` independent models under ``prior`` in one compiled, vmapped run.

    Args:
      model_fn: ``key -> nnx.Module``; called under ``vmap`` to initialise every member.
      data: training arrays with a shared leading axis: ``x``, ``y`` and optionally
        ``label_mask`` (1 = labelled; default all ones), ``teacher_logp``, ``teacher_member_logp``.
      prior: a prior from :mod:`bayeskd.priors`. With ``prior_axis=0`` its leaves are stacked
        ``[M]`` and member ``m`` trains under prior ``m`` (a hyperparameter sweep).
      config: optimisation settings.
      key: the run's PRNG key; member ``m`` uses ``fold_in(key, m)``.
      num_members: ``M``; members differ in initialisation and minibatch order.
      eval_data: optional ``(x_test, y_test)`` to report test accuracy between chunks.
      progress: show a tqdm bar (``None``: shown only once a run has lasted 3 s).
      on_chunk: called as ``on_chunk(steps_done, state)`` after each chunk (checkpoint hook).
      initial_state: resume from this stacked state instead of initialising.

    Returns:
      :class:`FitResult` with stacked params ``[M, ...]`` and a ``history`` dict of per-chunk
      ``step``, ``loss`` (mean over the chunk, per member) and ``test_accuracy``.

    Raises:
      TrainingDiverged: the loss became NaN/inf; names the step, the prior and the last finite loss.
    """
    t0 = time.perf_counter()
    data = dict(data)
    n = _check_train_data(data)
    data.setdefault("label_mask", np.ones((n,), np.float32))
    data = {k: jnp.asarray(v) for k, v in data.items()}
    if num_members < 1:
        raise ValueError(f"num_members: must be >= 1, got {num_members}")
    member_keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(num_members))
    init_keys, run_keys = jax.vmap(lambda k: jax.random.split(k))(member_keys).transpose(1, 0)
    graphdef, params = init_members(model_fn, init_keys)
    stochastic = _has_dropout(model_fn(init_keys[0]))
    tx = config.make_optimizer()
    if initial_state is None:
        state = TrainState(params, jax.vmap(tx.init)(params), run_keys,
                           jnp.zeros((num_members,), jnp.int32))
    else:
        state = initial_state
    start = int(np.asarray(state.step).reshape(-1)[0])
    history: dict[str, list] = {"step": [], "loss": [], "test_accuracy": []}
    chunk_fns: dict[int, Callable] = {}
    bar = tqdm(total=config.steps, initial=start, desc=desc, delay=0 if progress else 3.0,
               disable=progress is False, leave=False, dynamic_ncols=True)
    last_finite = float("nan")
    done = start
    try:
        while done < config.steps:
            length = min(config.eval_every, config.steps - done)
            if length not in chunk_fns:
                chunk = make_chunk_fn(graphdef, tx, batch_size=config.batch_size, length=length,
                                      stochastic=stochastic)
                chunk_fns[length] = jax.jit(jax.vmap(chunk, in_axes=(0, None, prior_axis)))
            state, losses = chunk_fns[length](state, data, prior)
            losses = np.asarray(losses)  # [M, length]
            bad = ~np.isfinite(losses)
            if bad.any():
                m, s = np.argwhere(bad)[0]
                finite = losses[m, : s][np.isfinite(losses[m, : s])]
                last_finite = float(finite[-1]) if finite.size else last_finite
                raise TrainingDiverged(
                    f"loss became {losses[m, s]} at step {done + s + 1} (member {m}) under prior "
                    f"{prior!r}; last finite loss {last_finite:.6g}"
                )
            last_finite = float(losses[0, -1])
            done += length
            history["step"].append(done)
            history["loss"].append(losses.mean(axis=1).tolist())
            if eval_data is not None:
                acc = evaluate_accuracy(graphdef, state.params, *eval_data)
                history["test_accuracy"].append(acc.tolist())
                bar.set_postfix(loss=f"{last_finite:.4f}", test_acc=f"{acc.mean():.4f}")
            else:
                bar.set_postfix(loss=f"{last_finite:.4f}")
            bar.update(length)
            if on_chunk is not None:
                on_chunk(done, state)
    finally:
        bar.close()
    return FitResult(graphdef, state.params, history, time.perf_counter() - t0)


def evaluate_accuracy(graphdef, params, x, y) -> np.ndarray:
    """Test accuracy ``[M]`` of stacked members."""
    logits = predict_logits_members(graphdef, params, x)
    return np.asarray(jnp.mean(jnp.argmax(logits, -1) == jnp.asarray(y)[None], axis=-1))


def _has_dropout(model: nnx.Module) -> bool:
    return any(isinstance(m, nnx.Dropout) for _, m in nnx.iter_graph(model))

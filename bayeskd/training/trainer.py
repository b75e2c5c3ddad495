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
import functools
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
    """The objective became NaN or infinite; the message names the step, prior and last finite loss.

    Attributes ``step`` (1-based optimiser step of the first bad loss), ``member``,
    ``last_finite_loss`` and ``checkpoint_step`` (the step of the last good checkpoint that was
    kept, or ``None``) carry the same facts for programs.
    """

    def __init__(self, message: str, *, step: int, member: int, last_finite_loss: float,
                 checkpoint_step: int | None = None):
        super().__init__(message)
        self.step = step
        self.member = member
        self.last_finite_loss = last_finite_loss
        self.checkpoint_step = checkpoint_step


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
    state: Any = None  # the final TrainState (optimiser state and keys too), e.g. to continue

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
    """Check names, row counts and finiteness of the training arrays; returns ``N``."""
    if "x" not in data or "y" not in data:
        raise ValueError("data: needs arrays 'x' and 'y' (and optionally 'label_mask', 'teacher_logp')")
    n = int(np.shape(data["x"])[0])
    if n == 0:
        raise ValueError("data: the training set is empty")
    for k, v in data.items():
        if np.shape(v)[0] != n:
            raise ValueError(f"data[{k!r}]: has {np.shape(v)[0]} rows, expected {n} like data['x']")
    x = np.asarray(data["x"])
    if np.issubdtype(x.dtype, np.floating) and not np.all(np.isfinite(x)):
        row = int(np.argwhere(~np.isfinite(x))[0][0])
        raise ValueError(f"data['x']: contains NaN or infinite inputs (first in row {row})")
    y = np.asarray(data["y"])
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"data['y']: must be integer class labels of shape [N], got dtype {y.dtype} "
                         f"and shape {y.shape}")
    if "label_mask" in data:
        mask = np.asarray(data["label_mask"])
        if mask.shape != (n,) or not np.all((mask >= 0) & (mask <= 1)):
            raise ValueError("data['label_mask']: must be a [N] array of weights in [0, 1]")
    for k in ("teacher_logp", "teacher_member_logp"):
        if k in data:
            t = np.asarray(data[k])
            if np.any(np.isnan(t)) or np.any(t == np.inf):
                raise ValueError(f"data[{k!r}]: contains NaN or +inf log-probabilities "
                                 "(-inf, probability zero, is allowed)")
    return n


def _check_classes(data: dict, num_classes: int) -> None:
    """Labels and teacher outputs must match the model's ``num_classes`` (checked before training)."""
    y = np.asarray(data["y"])
    mask = np.asarray(data["label_mask"]) > 0 if "label_mask" in data else np.ones(y.shape, bool)
    labelled = y[mask]
    if labelled.size and (labelled.min() < 0 or labelled.max() >= num_classes):
        raise ValueError(f"data['y']: labels must lie in [0, {num_classes}) for a model with "
                         f"{num_classes} classes; found {int(labelled.min())}..{int(labelled.max())}")
    for k, nd in (("teacher_logp", 2), ("teacher_member_logp", 3)):
        if k in data:
            shape = np.shape(data[k])
            if len(shape) != nd or shape[-1] != num_classes:
                want = "[N, K]" if nd == 2 else "[N, M, K]"
                raise ValueError(f"data[{k!r}]: must have shape {want} with K = {num_classes} "
                                 f"classes like the student, got {shape}")


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


@functools.lru_cache(maxsize=64)
def _compiled_chunk(graphdef, config: TrainConfig, length: int, stochastic: bool,
                    prior_axis: int | None) -> Callable:
    """The jitted, member-vmapped chunk, shared by every run of the same model and optimiser.

    Keyed on everything the compiled program closes over (the prior is an argument, so runs
    under different hyperparameters share it), so a sweep or a resumed job in the same process
    does not compile the same program twice.
    """
    tx = config.make_optimizer()
    chunk = make_chunk_fn(graphdef, tx, batch_size=config.batch_size, length=length,
                          stochastic=stochastic)
    return jax.jit(jax.vmap(chunk, in_axes=(0, None, prior_axis)))


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
    """Initialise ``M = len(keys)`` members; returns ``(graphdef, params [M, ...])``.

    The graph comes from an abstract model (``nnx.eval_shape``, no computation) and the
    parameters from one vmapped initialisation. It runs op by op rather than under ``jit``: JAX
    caches each op's compilation by shape, so a second model of the same shapes in the same
    process initialises in milliseconds, where a jitted initialiser would compile again.
    """
    graphdef, _ = split_params(nnx.eval_shape(lambda: model_fn(keys[0])))
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
    checkpoint=None,
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
      checkpoint: a :class:`bayeskd.checkpoint.TrainCheckpointer`: the run resumes from its
        latest checkpoint if there is one (bit-identical to an uninterrupted run, history
        included) and saves one after every chunk; on divergence the last good one is kept.

    Returns:
      :class:`FitResult` with stacked params ``[M, ...]``, a ``history`` dict of per-chunk
      ``step``, ``loss`` (mean over the chunk, per member) and ``test_accuracy``, and the final
      ``state`` (also when a resumed run had no steps left to take).

    Raises:
      ValueError: bad data (empty, mismatched rows, NaN inputs, non-integer labels, labels outside
        ``[0, K)``, teacher outputs whose class count differs from the model's), before training.
      TrainingDiverged: the loss became NaN/inf; names the step, the prior and the last finite loss.
    """
    t0 = time.perf_counter()
    data = dict(data)
    n = _check_train_data(data)
    if not isinstance(num_members, int | np.integer) or num_members < 1:
        raise ValueError(f"num_members: must be an integer >= 1, got {num_members!r}")
    member_keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(num_members))
    init_keys, run_keys = jax.vmap(lambda k: jax.random.split(k))(member_keys).transpose(1, 0)
    graphdef, params = init_members(model_fn, init_keys)
    x0 = jax.ShapeDtypeStruct((1, *np.shape(data["x"])[1:]), jnp.float32)
    p0 = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape[1:], a.dtype), params)
    num_classes = int(jax.eval_shape(lambda p, x: apply_model(graphdef, p, x), p0, x0).shape[-1])
    _check_classes(data, num_classes)
    data.setdefault("label_mask", np.ones((n,), np.float32))
    data = {k: jnp.asarray(v) for k, v in data.items()}
    stochastic = _has_dropout(nnx.merge(graphdef, p0))
    tx = config.make_optimizer()
    if initial_state is None:
        state = TrainState(params, jax.vmap(tx.init)(params), run_keys,
                           jnp.zeros((num_members,), jnp.int32))
    else:
        state = initial_state
    history: dict[str, list] = {"step": [], "loss": [], "test_accuracy": []}
    last_finite = float("nan")
    if checkpoint is not None:
        restored = checkpoint.restore(state)
        if restored is not None:
            state, history, last_finite = restored.state, restored.history, restored.last_loss
    start = int(np.asarray(state.step).reshape(-1)[0])
    chunk_fns: dict[int, Callable] = {}
    bar = tqdm(total=config.steps, initial=min(start, config.steps), desc=desc,
               delay=0 if progress else 3.0, disable=progress is False, leave=False,
               dynamic_ncols=True)
    done = start
    try:
        while done < config.steps:
            length = min(config.eval_every, config.steps - done)
            if length not in chunk_fns:
                # steps only matter to a cosine schedule, eval_every never (``length`` does)
                key_cfg = dataclasses.replace(
                    config, eval_every=1, steps=config.steps if config.schedule == "cosine" else 1)
                try:
                    hash(key_cfg)
                except TypeError:  # a config subclass with unhashable fields: compile uncached
                    chunk_fns[length] = _compiled_chunk.__wrapped__(graphdef, config, length,
                                                                    stochastic, prior_axis)
                else:
                    chunk_fns[length] = _compiled_chunk(graphdef, key_cfg, length, stochastic,
                                                        prior_axis)
            state, losses = chunk_fns[length](state, data, prior)
            losses = np.asarray(losses)  # [M, length]
            bad = ~np.isfinite(losses)
            if bad.any():
                m, s = np.argwhere(bad)[0]
                finite = losses[m, : s][np.isfinite(losses[m, : s])]
                last_finite = float(finite[-1]) if finite.size else last_finite
                kept = checkpoint.latest_step() if checkpoint is not None else None
                where = (f"; the last good checkpoint (step {kept}) is kept in "
                         f"{checkpoint.directory}" if kept is not None else "")
                raise TrainingDiverged(
                    f"loss became {losses[m, s]} at step {done + s + 1} (member {m}) under prior "
                    f"{prior!r}; last finite loss {last_finite:.6g}{where}",
                    step=int(done + s + 1), member=int(m), last_finite_loss=last_finite,
                    checkpoint_step=kept,
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
            if checkpoint is not None:
                checkpoint.save(done, state, history=history, last_loss=last_finite)
    finally:
        bar.close()
    return FitResult(graphdef, state.params, history, time.perf_counter() - t0, state)


def evaluate_accuracy(graphdef, params, x, y) -> np.ndarray:
    """Test accuracy ``[M]`` of stacked members."""
    logits = predict_logits_members(graphdef, params, x)
    return np.asarray(jnp.mean(jnp.argmax(logits, -1) == jnp.asarray(y)[None], axis=-1))


def _has_dropout(model: nnx.Module) -> bool:
    return any(isinstance(m, nnx.Dropout) for _, m in nnx.iter_graph(model))

"""The compiled trainer: whole chunks of steps inside one ``jax.lax.scan``, vmapped over members.

One run is ``steps`` optimiser steps on the objective of :mod:`bayeskd.priors`. Steps are grouped
into chunks of ``eval_every``; each chunk is a single jitted call (no per-step Python dispatch),
and between chunks the trainer evaluates, checks for divergence, updates a tqdm bar and calls an
optional checkpoint hook. Everything is vmapped over a leading *member* axis, so seeds, ensemble
members and hyperparameter sweeps train together in one compiled program (a single run is the
case ``M = 1``).

Minibatches are drawn i.i.d. with replacement from the training arrays (the stochastic-gradient
reading of the likelihood): each chunk draws the rows of all its steps, and any per-step keys,
at once from the member's key (:func:`chunk_draws`), so the compiled loop body holds no PRNG; the
same key and chunk length give the same run, and a run resumed between chunks the same bits.

A run is three named steps: :class:`CompiledRun` builds the programs (a member initialiser and a
chunk of steps, each one module-level ``jax.jit`` with static arguments, so equal runs share their
compilation); :func:`run_chunks` runs chunks between evaluations, checkpoints and divergence
checks; :func:`fit` strings them together and reports a :class:`FitResult`. The optimiser is any
``optax.GradientTransformation`` (``fit(..., optimizer=...)``); :class:`TrainConfig` names the
usual ones.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
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

from bayeskd import distributed
from bayeskd.losses.divergences import softmax_cross_entropy
from bayeskd.models import dropout_rates
from bayeskd.priors.priors import NoPrior, objective

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
        """The optax transform these settings name; equal settings give the same object.

        Only ``learning_rate``, ``optimizer``, ``schedule`` and (for a cosine schedule) ``steps``
        define it, so runs that differ in anything else share one compiled program.
        """
        steps = self.steps if self.schedule == "cosine" else 0
        return _named_optimizer(self.optimizer, self.schedule, float(self.learning_rate), steps)


@functools.cache
def _named_optimizer(name: str, schedule: str, learning_rate: float,
                     steps: int) -> optax.GradientTransformation:
    lr: Any = learning_rate
    if schedule == "cosine":
        lr = optax.cosine_decay_schedule(learning_rate, steps)
    if name == "adam":
        return optax.adam(lr)
    if name == "adamw":
        return optax.adamw(lr)
    return optax.sgd(lr, momentum=0.9)


class TrainState(NamedTuple):
    """Per-member training state (every leaf has a leading member axis inside the trainer).

    ``model_state`` is the model's state other than ``nnx.Param``: batch statistics
    (``nnx.BatchStat``) and the RNG streams of its ``nnx.Dropout`` layers (``nnx.RngState``),
    carried through every step. It is an empty ``nnx.State`` for a model whose only state is
    its parameters (every bayeskd model).
    """

    params: Any
    opt_state: Any
    key: jax.Array
    step: jax.Array
    model_state: Any = None


class FitResult(NamedTuple):
    """A finished run: stacked parameters ``[M, ...]``, the graph to merge them into, and history.

    ``steps_run`` counts the optimiser steps this call executed (per member): a run resumed from
    a checkpoint at step ``s`` of ``S`` reports ``S - s``, a finished one ``0``.
    """

    graphdef: Any
    params: Any
    history: dict
    runtime_s: float
    state: Any = None  # the final TrainState (optimiser state and keys too), e.g. to continue
    steps_run: int = 0
    model_state: Any = None  # stacked non-parameter state [M, ...] (batch statistics, RNG streams)

    @property
    def variables(self) -> Any:
        """Every member's whole state ``[M, ...]``: ``params`` merged with ``model_state``.

        What :func:`predict_logits_members` and :func:`apply_model` take for a model with batch
        statistics; the same as ``params`` for a model whose only state is its parameters.
        """
        return merge_variables(self.params, self.model_state)

    def member(self, m: int = 0) -> nnx.Module:
        """The ``m``-th trained member as an NNX module (in eval mode)."""
        return nnx.merge(self.graphdef, jax.tree.map(lambda a: a[m], self.variables))

    @property
    def num_members(self) -> int:
        return int(jax.tree.leaves(self.params)[0].shape[0])


def split_params(model: nnx.Module) -> tuple[Any, Any]:
    """``(graphdef, params)`` of a model whose only state is ``nnx.Param``."""
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    if jax.tree.leaves(rest):
        raise ValueError("model: only nnx.Param state is supported here (this model has batch "
                         "statistics or RNG state)")
    return graphdef, params


def split_model(model: nnx.Module) -> tuple[Any, Any, Any]:
    """``(graphdef, params, model_state)``: the ``nnx.Param`` state and everything else.

    ``model_state`` holds batch statistics and RNG streams (empty for a model with parameters
    only). ``nnx.merge(graphdef, params, model_state)`` rebuilds the model.
    """
    return nnx.split(model, nnx.Param, ...)


def merge_variables(params: Any, model_state: Any) -> Any:
    """One state with the parameters and the other variables (``params`` when there are none)."""
    if model_state is None or not jax.tree.leaves(model_state):
        return params
    return nnx.merge_state(params, model_state)


def to_leaves(tree: Any) -> list[np.ndarray]:
    """The leaves of a state as numpy arrays, PRNG keys as their raw key data (for storage)."""
    return [np.asarray(jax.random.key_data(a) if is_prng_key(a) else a) for a in jax.tree.leaves(tree)]


def from_leaves(like: Any, leaves: list) -> Any:
    """The inverse of :func:`to_leaves`: ``leaves`` in the structure of ``like`` (arrays or
    ``ShapeDtypeStruct`` leaves, e.g. from ``nnx.eval_shape``), key data wrapped back as keys."""
    refs, treedef = jax.tree.flatten(like)
    if len(refs) != len(leaves):
        raise ValueError(f"leaves: {len(leaves)} arrays for a state of {len(refs)}")
    out = [jax.random.wrap_key_data(a) if is_prng_key(r) else jnp.asarray(a)
           for r, a in zip(refs, leaves, strict=True)]
    return jax.tree.unflatten(treedef, out)


def is_prng_key(leaf) -> bool:
    """Whether ``leaf`` (an array or ``ShapeDtypeStruct``) holds typed PRNG keys."""
    dtype = getattr(leaf, "dtype", None)
    return dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key)


@functools.cache
def takes_key(cls: type) -> bool:
    """Whether ``cls.__call__`` takes a ``key=`` (bayeskd's own models: it switches dropout on).

    Any other NNX model is called as ``model(x)``: its randomness comes from its own
    ``nnx.Rngs`` streams and its train/eval mode from ``model.train()`` / ``model.eval()``.
    """
    try:
        return "key" in inspect.signature(cls.__call__).parameters
    except (TypeError, ValueError):
        return False


def call_model(model: nnx.Module, x: jax.Array, key: jax.Array | None = None) -> jax.Array:
    """``model(x, key=key)`` for a model that takes a key, else ``model(x)``."""
    return model(x, key=key) if takes_key(type(model)) else model(x)


def apply_model(graphdef, params, x: jax.Array, *, key: jax.Array | None = None) -> jax.Array:
    """Logits ``[B, K]`` of the model ``(graphdef, params)``; a ``key`` switches on dropout.

    ``params`` is the model's ``nnx.Param`` state or its whole state (:attr:`FitResult.variables`
    for a model with batch statistics). Changes the call makes to the model's state (a batch
    statistic in train mode, an RNG count) are dropped; the trainer carries them itself.
    """
    return call_model(nnx.merge(graphdef, params), x, key)


@functools.partial(jax.jit, static_argnames=("graphdef",))
def apply_members(graphdef, params_M, x: jax.Array) -> jax.Array:
    """Logits ``[M, B, K]`` of stacked members ``params [M, ...]`` on one batch ``x [B, ...]``."""
    return jax.vmap(lambda p: apply_model(graphdef, p, x))(params_M)


def _check_rows(data: dict) -> int:
    """``x`` present, ``index`` free, every array with the same number ``N > 0`` of rows."""
    if "x" not in data:
        raise ValueError("data: needs an array 'x'")
    if "index" in data:
        raise ValueError("data['index']: is reserved; the trainer adds each example's row index")
    n = int(np.shape(data["x"])[0])
    if n == 0:
        raise ValueError("data: the training set is empty")
    for k, v in data.items():
        if np.shape(v)[0] != n:
            raise ValueError(f"data[{k!r}]: has {np.shape(v)[0]} rows, expected {n} like data['x']")
    return n


def _check_train_data(data: dict) -> int:
    """Check names, row counts and finiteness of the training arrays; returns ``N``."""
    if "x" not in data or "y" not in data:
        raise ValueError("data: needs arrays 'x' and 'y' (and optionally 'label_mask')")
    n = _check_rows(data)
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
    return n


def _check_classes(data: dict, num_classes: int) -> None:
    """Labels must lie in ``[0, K)`` for the model's ``K = num_classes`` (checked before training)."""
    y = np.asarray(data["y"])
    mask = np.asarray(data["label_mask"]) > 0 if "label_mask" in data else np.ones(y.shape, bool)
    labelled = y[mask]
    if labelled.size and (labelled.min() < 0 or labelled.max() >= num_classes):
        raise ValueError(f"data['y']: labels must lie in [0, {num_classes}) for a model with "
                         f"{num_classes} classes; found {int(labelled.min())}..{int(labelled.max())}")


def _check_prior(prior, n: int, num_classes: int, prior_axis: int | None, *,
                 augmented: bool = False, input_shape: tuple[int, ...] | None = None) -> None:
    """Priors that read per-example tables check them against ``N`` rows and ``K`` classes; a
    teacher that reads a second view needs ``augment``."""
    check = getattr(prior, "check_data", None)
    if check is not None:
        check(num_examples=n, num_classes=num_classes, stacked=prior_axis is not None,
              augmented=augmented, input_shape=input_shape)


def _check_augment(augment, data: dict) -> None:
    """``augment`` must be a hashable callable that keeps the shape and dtype of a batch."""
    if augment is None:
        return
    if not callable(augment):
        raise ValueError(f"augment: must be a callable (key, x) -> x, got {type(augment).__name__}")
    try:
        hash(augment)
    except TypeError:
        raise ValueError(f"augment: must be hashable (it is part of the compiled program), got "
                         f"{type(augment).__name__}") from None
    x = jax.ShapeDtypeStruct((2, *np.shape(data["x"])[1:]), jnp.float32)
    out = jax.eval_shape(augment, jax.random.key(0), x)
    if getattr(out, "shape", None) != x.shape or getattr(out, "dtype", None) != x.dtype:
        raise ValueError(f"augment: must return views of the batch's shape {x.shape} and dtype "
                         f"float32, got {getattr(out, 'shape', out)} "
                         f"{getattr(out, 'dtype', '')}")


def classification_objective(graphdef, params, batch: dict, prior, key: jax.Array | None):
    """The default objective of :func:`fit`: labels' NLL plus the prior (:func:`priors.objective`).

    Any ``objective=`` of :func:`fit` has this signature, ``(graphdef, params, batch, prior, key)
    -> scalar``; ``key`` is ``None`` for a model without dropout.
    """
    logits = apply_model(graphdef, params, batch["x"], key=key)
    nll = softmax_cross_entropy(logits, batch["y"])
    return objective(nll, prior, params, logits, batch)


def stateful_objective(graphdef, params, model_state, batch: dict, prior,
                       key: jax.Array | None) -> tuple[jax.Array, Any]:
    """:func:`classification_objective` of a model with batch statistics or RNG streams.

    The model ``merge(graphdef, params, model_state)`` (in train mode) is called once on the
    batch, as an eager NNX loop calls it; its updated state (new running statistics, advanced
    RNG counts) is returned beside the loss, for ``value_and_grad(..., has_aux=True)``.

    Returns:
      ``(loss, model_state')``.
    """
    # copy=True: fresh Variables of this trace (the carried ones belong to the scan's).
    model = nnx.merge(graphdef, params, model_state, copy=True)
    logits = call_model(model, batch["x"], key)
    nll = softmax_cross_entropy(logits, batch["y"])
    return objective(nll, prior, params, logits, batch), split_model(model)[2]


def chunk_draws(key: jax.Array, *, rows: int, batch_size: int, length: int, step_keys: bool,
                augment: bool) -> tuple[jax.Array, dict]:
    """The randomness of one chunk of ``length`` steps, drawn at once from the member's ``key``.

    ``key', k_batch, k_step = split(key, 3)``; the minibatch rows are
    ``randint(k_batch, [length, batch_size], 0, rows)`` (i.i.d. with replacement); with
    ``step_keys`` step ``t`` gets ``split(k_step, length)[t]`` (dropout, an objective's own
    draws); with ``augment`` it gets the two view keys ``split(fold_in(k_batch, 1), (length,
    2))[t]``, a stream apart from the rows, so an identity augmentation trains exactly like none.

    Returns:
      ``(key', xs)``: the member's next key and the per-step arrays the step scans over
      (``idx`` ``[length, batch_size]``, and ``key`` ``[length]``, ``views`` ``[length, 2]``
      when asked for).
    """
    key, k_batch, k_step = jax.random.split(key, 3)
    xs = {"idx": jax.random.randint(k_batch, (length, batch_size), 0, rows)}
    if step_keys:
        xs["key"] = jax.random.split(k_step, length)
    if augment:
        xs["views"] = jax.random.split(jax.random.fold_in(k_batch, 1), (length, 2))
    return key, xs


def _chunk_fn(graphdef, tx: optax.GradientTransformation, *, batch_size: int, length: int,
              stochastic: bool, augment: Callable | None = None,
              objective_fn: Callable | None = None, mesh=None) -> Callable:
    """``(state, data, prior) -> (state, losses [length])``: ``length`` steps of one member.

    Every random number of the chunk is drawn once, before the steps (:func:`chunk_draws`); a
    step only reads its row of those draws, so the compiled loop body holds no PRNG. A step
    gathers its minibatch ``data[idx_t]`` (``batch["index"] = idx_t``, the rows themselves),
    takes the gradient of the objective and applies the optimiser. With ``augment``, the step's
    inputs are replaced by ``augment(k1, x)`` and a second, independent view ``augment(k2, x)``
    goes to ``batch["x_alt"]`` (a teacher may read it; XLA drops it when nothing does).
    ``objective_fn`` replaces the classification objective (see :func:`run_chunk`).

    A checkpoint between chunks holds the member's key, so a resumed run draws the same chunks.
    A model with batch statistics or RNG streams (``state.model_state`` not empty) is called
    through :func:`stateful_objective`, and its state is carried from step to step.
    """
    step_keys = stochastic or objective_fn is not None

    def loss_fn(params, batch, prior, key):
        if objective_fn is None:
            return classification_objective(graphdef, params, batch, prior, key)
        return objective_fn(graphdef, params, batch, prior, key)

    def chunk(state, data, prior):
        rows = jax.tree.leaves(data)[0].shape[0]
        key, xs = chunk_draws(state.key, rows=rows, batch_size=batch_size, length=length,
                              step_keys=step_keys, augment=augment is not None)
        gathered = {k: a for k, a in data.items() if k != "index"}

        stateful = bool(jax.tree.leaves(state.model_state))

        def step(carry, draws):
            params, opt_state, model_state = carry
            idx = draws["idx"]
            batch = distributed.constrain_rows(
                {k: a[idx] for k, a in gathered.items()} | {"index": idx}, mesh)
            if augment is not None:
                x = batch["x"]
                batch["x"] = augment(draws["views"][0], x)
                batch["x_alt"] = augment(draws["views"][1], x)
            if stateful:
                (loss, model_state), grads = jax.value_and_grad(stateful_objective, argnums=1,
                                                                has_aux=True)(
                    graphdef, params, model_state, batch, prior, draws.get("key"))
            else:
                loss, grads = jax.value_and_grad(loss_fn)(params, batch, prior, draws.get("key"))
            updates, opt_state = tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state, model_state), loss

        carry = (state.params, state.opt_state, state.model_state)
        (params, opt_state, model_state), losses = jax.lax.scan(step, carry, xs)
        return TrainState(params, opt_state, key, state.step + length, model_state), losses

    return chunk


@functools.partial(jax.jit, static_argnames=("graphdef", "tx", "batch_size", "length",
                                             "stochastic", "prior_axis", "augment", "objective",
                                             "mesh"))
def run_chunk(state: TrainState, data: dict, prior, *, graphdef, tx: optax.GradientTransformation,
              batch_size: int, length: int, stochastic: bool, prior_axis: int | None,
              augment: Callable | None = None, objective: Callable | None = None,
              mesh=None) -> tuple[TrainState, jax.Array]:
    """``length`` optimiser steps of every member: the compiled program of :func:`fit`.

    Members are vmapped (``state`` leaves ``[M, ...]``); the prior is shared
    (``prior_axis=None``) or stacked ``[M]`` (``prior_axis=0``). The prior is an argument, not a
    constant, so one compilation serves every hyperparameter value of the same structure.
    ``augment`` (static, hashable) draws fresh views of every minibatch inside the step.
    ``objective`` (static, hashable; ``None`` for :func:`classification_objective`) is the loss
    of one step, ``(graphdef, params, batch, prior, key) -> scalar``, with a fresh ``key`` each
    step. ``mesh`` (static; the run's mesh or ``None``) keeps every minibatch's rows over its
    ``data`` axis (:func:`bayeskd.distributed.constrain_rows`). Returns the new state and the
    losses ``[M, length]``.
    """
    chunk = _chunk_fn(graphdef, tx, batch_size=batch_size, length=length, stochastic=stochastic,
                      augment=augment, objective_fn=objective, mesh=mesh)
    return jax.vmap(chunk, in_axes=(0, None, prior_axis))(state, data, prior)


@functools.partial(jax.jit, static_argnames=("model_fn", "tx", "num_members"),
                   compiler_options={"xla_backend_optimization_level": 0})
def _init_state(key: jax.Array, *, model_fn: Callable, tx: optax.GradientTransformation,
                num_members: int) -> TrainState:
    # Compiled without LLVM optimisation: it runs once, so compiling fast is what counts.
    member_keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(num_members))
    init_keys, run_keys = jax.vmap(lambda k: jax.random.split(k))(member_keys).transpose(1, 0)
    params, model_state = jax.vmap(lambda k: split_model(model_fn(k))[1:])(init_keys)
    return TrainState(params, jax.vmap(tx.init)(params), run_keys,
                      jnp.zeros((num_members,), jnp.int32), model_state)


@functools.partial(jax.jit, static_argnames=("tx",),
                   compiler_options={"xla_backend_optimization_level": 0})
def _state_from_params(params_M: Any, key: jax.Array, model_state_M: Any = None, *,
                       tx: optax.GradientTransformation):
    # One compiled program (not a dozen eagerly dispatched ones); it runs once, so compile fast.
    m = jax.tree.leaves(params_M)[0].shape[0]
    keys = jax.vmap(lambda i: jax.random.split(jax.random.fold_in(key, i))[1])(jnp.arange(m))
    return TrainState(params_M, jax.vmap(tx.init)(params_M), keys, jnp.zeros((m,), jnp.int32),
                      model_state_M)


def train_eval_graphdefs(model: nnx.Module) -> tuple[Any, Any, Any]:
    """``(train_graphdef, eval_graphdef, abstract_variables)`` of an (abstract) model.

    A model with batch statistics or RNG streams trains in NNX's train mode (``model.train()``:
    batch statistics from the batch, dropout on) and is evaluated in eval mode (running
    averages, dropout off); a model with parameters only has one graph.
    """
    graphdef, params, rest = split_model(model)
    if not jax.tree.leaves(rest):
        return graphdef, graphdef, params
    model.train()
    train = split_model(model)[0]
    model.eval()
    return train, split_model(model)[0], merge_variables(params, rest)


def batch_stats_graphdef(model: nnx.Module) -> Any:
    """The graph of :func:`recompute_batch_stats`: train-mode batch norm with momentum 0, no
    dropout (the statistics of the network that is evaluated). ``model`` may be abstract."""
    model = nnx.clone(model)
    model.train()
    for _, m in nnx.iter_graph(model):
        if isinstance(m, nnx.BatchNorm):
            m.momentum = 0.0
        elif isinstance(m, nnx.Dropout):
            m.deterministic = True
    return split_model(model)[0]


def recompute_batch_stats(graphdef, params, model_state, x: jax.Array) -> Any:
    r"""Batch statistics of weights ``params`` over the inputs ``x``: the BN update of SWAG.

    A weight vector drawn from a posterior has no running averages of its own. Maddox et al.
    (2019, Sec. 4) recompute them with one pass over the training data; here the pass is one
    call on all of ``x`` with ``graphdef = batch_stats_graphdef(model)`` (momentum 0), so every
    layer's running mean and variance become exactly its input's mean and (biased) variance
    over ``x``, layer after layer. Dropout is off, so RNG streams are left as given.

    Returns:
      the new ``model_state`` (no member axis; vmap or map it over draws).
    """
    model = nnx.merge(graphdef, params, model_state, copy=True)
    call_model(model, x)
    return split_model(model)[2]


@functools.partial(jax.jit, static_argnames=("graphdef",))
def with_batch_stats(graphdef, params_S: Any, model_state_M: Any, member_S: jax.Array,
                     x: jax.Array) -> Any:
    """Weight draws ``[S, ...]`` merged with batch statistics recomputed for each over ``x``.

    Draw ``s`` starts from the state of member ``member_S[s]`` (its RNG streams) and gets
    :func:`recompute_batch_stats` of its own weights; one draw at a time (``lax.map``), so one
    pass's activations are in memory. ``graphdef`` is :func:`batch_stats_graphdef`'s.
    """
    def one(args):
        m, params = args
        state = jax.tree.map(lambda a: a[m], model_state_M)
        return merge_variables(params, recompute_batch_stats(graphdef, params, state, x))

    return jax.lax.map(one, (member_S, params_S))


class CompiledRun:
    """The programs :func:`fit` runs, built once: a member initialiser and chunks of steps.

    Use it directly to time compilation and execution apart (``bayeskd bench``) or to drive
    training step by step; :func:`fit` uses exactly these programs.

    Args:
      model_fn: ``key -> nnx.Module`` (a hashable :class:`bayeskd.models.ModelFactory` lets equal
        runs share the compiled initialiser).
      data: training arrays ``x``, ``y`` and optionally ``label_mask`` (checked here, before any
        work); the trainer adds ``index`` (each row's position), which teacher tables read.
      prior: a prior of :mod:`bayeskd.priors` (stacked ``[M]`` with ``prior_axis=0``).
      optimizer: any ``optax.GradientTransformation`` (``config.make_optimizer()`` if ``None``).
      config: steps, batch size and chunk length (``eval_every``).
      num_members: ``M``.
      augment: ``(key, x [B, ...]) -> x' [B, ...]``, a hashable augmentation
        (:mod:`bayeskd.data.augment`) applied to every minibatch inside the step with its own
        key; a second independent view goes to ``batch["x_alt"]``.
      mesh: a :class:`jax.sharding.Mesh` with axes ``members`` and ``data``
        (:func:`bayeskd.distributed.make_mesh`), or ``None`` (one device, or the default mesh of
        :func:`bayeskd.distributed.use_mesh` where it divides ``M`` and the batch).
      objective: ``None`` (classification: ``x``, ``y`` and the prior) or a hashable
        ``(graphdef, params, batch, prior, key) -> scalar`` (e.g.
        :class:`bayeskd.training.lm.LMObjective`); then ``data`` needs only ``x`` and rows, and
        ``objective.check_data(data, prior)``, if defined, checks the rest before any work.

    Attributes:
      graphdef (eval mode), train_graphdef (train mode; the same graph for a model without
      batch statistics or RNG streams), stateful (the model has such state), num_classes
      (``None`` with an ``objective``), stochastic (dropout keys drawn for a model that takes
      ``key=``), data (device arrays), tx, mesh (the mesh in use, or ``None``).
    """

    def __init__(self, model_fn: Callable[[jax.Array], nnx.Module], data: dict, *, prior,
                 config: TrainConfig, optimizer: optax.GradientTransformation | None = None,
                 num_members: int = 1, prior_axis: int | None = None, mesh=None,
                 augment: Callable | None = None, objective: Callable | None = None):
        data = dict(data)
        n = _check_train_data(data) if objective is None else _check_rows(data)
        _check_augment(augment, data)
        if not isinstance(num_members, int | np.integer) or num_members < 1:
            raise ValueError(f"num_members: must be an integer >= 1, got {num_members!r}")
        self.mesh = distributed.resolve_mesh(mesh, num_members=int(num_members),
                                             batch_size=config.batch_size)
        if optimizer is not None and not isinstance(optimizer, optax.GradientTransformation):
            raise ValueError(f"optimizer: must be an optax.GradientTransformation, got "
                             f"{type(optimizer).__name__}")
        self.model_fn, self.config, self.prior, self.prior_axis = model_fn, config, prior, prior_axis
        self.augment = augment
        self.num_members, self.objective = int(num_members), objective
        self.tx = optimizer if optimizer is not None else config.make_optimizer()
        model = nnx.eval_shape(lambda: model_fn(jax.random.key(0)))
        self.train_graphdef, self.graphdef, abstract = train_eval_graphdefs(model)
        self.stateful = bool(jax.tree.leaves(split_model(model)[2]))
        if self.stateful and objective is not None:
            raise ValueError("objective: a custom objective does not carry a model's batch "
                             "statistics or RNG streams; use a model with nnx.Param state only")
        self.num_classes = None
        if objective is None:
            x0 = jax.ShapeDtypeStruct((1, *np.shape(data["x"])[1:]), jnp.float32)
            self.num_classes = int(jax.eval_shape(
                lambda p, x: apply_model(self.graphdef, p, x), abstract, x0).shape[-1])
            _check_classes(data, self.num_classes)
            _check_prior(prior, n, self.num_classes, prior_axis, augmented=augment is not None,
                         input_shape=tuple(np.shape(data["x"])[1:]))
        elif getattr(objective, "check_data", None) is not None:
            objective.check_data(data, prior)
        data.setdefault("label_mask", np.ones((n,), np.float32))
        data["index"] = np.arange(n, dtype=np.int32)
        # Only a model that takes key= draws dropout keys; any other keeps its own nnx.Rngs.
        self.stochastic = takes_key(type(model)) and bool(dropout_rates(model))
        _, self.data, self.prior = distributed.place_training(self.mesh, data=data, prior=prior,
                                                              prior_axis=prior_axis)

    def place(self, state: TrainState) -> TrainState:
        """``state`` with its member axis over the mesh's ``members`` axis (as is without a mesh)."""
        return distributed.place_training(self.mesh, state=state).state

    def init_state(self, key: jax.Array) -> TrainState:
        """Fresh parameters, optimiser state and keys of the ``M`` members (one compiled program).

        Member ``m`` initialises from ``split(fold_in(key, m))[0]`` and draws its minibatches
        from the other half of that split.
        """
        return self.place(_init_state(key, model_fn=self.model_fn, tx=self.tx,
                                      num_members=self.num_members))

    def state_from_params(self, params_M: Any, key: jax.Array) -> TrainState:
        """A fresh state that starts from given stacked parameters ``[M, ...]`` (e.g. a MAP).

        The optimiser state is initialised on them; the minibatch keys are those of
        :meth:`init_state` for the same ``key``. For a model with batch statistics or RNG
        streams, ``params_M`` may be the whole state (:attr:`FitResult.variables`); what it
        does not hold comes from :meth:`init_state`.
        """
        m = int(jax.tree.leaves(params_M)[0].shape[0])
        if m != self.num_members:
            raise ValueError(f"init_params: has {m} members along its leading axis, expected "
                             f"num_members = {self.num_members}")
        model_state = None
        if self.stateful:
            model_state = self.init_state(key).model_state
            if isinstance(params_M, nnx.State):
                params_M, given = nnx.split_state(params_M, nnx.Param, ...)
                model_state = nnx.merge_state(model_state, given)
        return self.place(_state_from_params(jax.tree.map(jnp.asarray, params_M), key,
                                             model_state, tx=self.tx))

    def variables(self, state: TrainState) -> Any:
        """The members' whole state ``[M, ...]`` (parameters and batch statistics) of ``state``."""
        return merge_variables(state.params, state.model_state)

    def _static(self, length: int) -> dict:
        return {"graphdef": self.train_graphdef, "tx": self.tx, "batch_size": self.config.batch_size,
                "length": int(length), "stochastic": self.stochastic, "prior_axis": self.prior_axis,
                "augment": self.augment, "objective": self.objective, "mesh": self.mesh}

    def lower(self, state: TrainState, length: int | None = None, prior=None):
        """The lowered chunk program (``.compile()`` it to time compilation alone)."""
        length = self.config.eval_every if length is None else length
        return run_chunk.lower(state, self.data, self.prior if prior is None else prior,
                               **self._static(length))

    def __call__(self, state: TrainState, length: int | None = None,
                 prior=None) -> tuple[TrainState, jax.Array]:
        """Run ``length`` (default ``eval_every``) steps; returns the state and losses ``[M, length]``."""
        length = self.config.eval_every if length is None else length
        return run_chunk(state, self.data, self.prior if prior is None else prior,
                         **self._static(length))


@functools.partial(jax.jit, static_argnames=("graphdef", "stochastic"))
def _predict_batches(params, xb, key, *, graphdef, stochastic: bool):
    def one(args):
        i, xbatch = args
        kk = jax.random.fold_in(key, i) if stochastic else None
        return apply_model(graphdef, params, xbatch, key=kk)

    return jax.lax.map(one, (jnp.arange(xb.shape[0]), xb))


def predict_logits(graphdef, params, x, *, batch_size: int = 2048, key=None) -> jax.Array:
    """Logits ``[N, K]`` of one model over ``x`` ``[N, ...]``, in batches (padded last batch)."""
    x = jnp.asarray(x, jnp.float32)
    n = x.shape[0]
    bs = min(batch_size, n)
    pad = (-n) % bs
    xp = jnp.concatenate([x, jnp.zeros((pad, *x.shape[1:]), x.dtype)]) if pad else x
    xb = xp.reshape(-1, bs, *x.shape[1:])
    out = _predict_batches(params, xb, key, graphdef=graphdef, stochastic=key is not None)
    return out.reshape(-1, out.shape[-1])[:n]


def predict_logits_members(graphdef, params, x, *, batch_size: int = 2048) -> jax.Array:
    """Logits ``[M, N, K]`` of stacked members ``params [M, ...]``."""
    m = jax.tree.leaves(params)[0].shape[0]
    return jnp.stack([predict_logits(graphdef, jax.tree.map(lambda a, i=i: a[i], params), x,
                                     batch_size=batch_size) for i in range(m)])


def init_members(model_fn: Callable[[jax.Array], nnx.Module], keys: jax.Array) -> tuple[Any, Any]:
    """Initialise ``M = len(keys)`` members; returns ``(graphdef, params [M, ...])``."""
    graphdef, _ = split_params(nnx.eval_shape(lambda: model_fn(keys[0])))
    params = jax.vmap(lambda k: split_params(model_fn(k))[1])(keys)
    return graphdef, params


def run_chunks(
    run: CompiledRun,
    state: TrainState,
    *,
    history: dict,
    last_finite: float = float("nan"),
    eval_data: tuple[Any, Any] | None = None,
    progress: bool | None = None,
    desc: str = "train",
    on_chunk: Callable[[int, TrainState], None] | None = None,
    checkpoint=None,
) -> tuple[TrainState, int]:
    """Run ``run`` from ``state`` to ``config.steps`` in chunks of ``eval_every`` steps.

    Between chunks: check every loss for NaN/inf (:class:`TrainingDiverged`), append to
    ``history`` (``step``, ``loss`` per member, ``test_accuracy`` with ``eval_data``), update a
    tqdm bar, call ``on_chunk(steps_done, state)`` and save a checkpoint.

    Returns:
      ``(state, steps_run)``: the final state and the optimiser steps this call executed.
    """
    config = run.config
    start = int(distributed.to_host(state.step).reshape(-1)[0])
    bar = tqdm(total=config.steps, initial=min(start, config.steps), desc=desc,
               delay=0 if progress else 3.0, disable=progress is False, leave=False,
               dynamic_ncols=True)
    done = start
    try:
        while done < config.steps:
            length = min(config.eval_every, config.steps - done)
            state, losses = run(state, length)
            losses = distributed.to_host(losses)  # [M, length], gathered from every process
            last_finite = _check_finite(losses, done, last_finite, run.prior, checkpoint)
            done += length
            history["step"].append(done)
            history["loss"].append(losses.mean(axis=1).tolist())
            if eval_data is not None:
                variables = run.variables(state)
                if jax.process_count() > 1:
                    variables = distributed.to_host(variables)
                acc = evaluate_accuracy(run.graphdef, variables, *eval_data)
                history["test_accuracy"].append(acc.tolist())
                bar.set_postfix(loss=f"{last_finite:.4f}", test_acc=f"{acc.mean():.4f}")
            else:
                bar.set_postfix(loss=f"{last_finite:.4f}")
            bar.update(length)
            if on_chunk is not None:
                on_chunk(done, state)
            if checkpoint is not None:
                saved = state if jax.process_count() == 1 else distributed.to_host(state)
                checkpoint.save(done, saved, history=history, last_loss=last_finite)
    finally:
        bar.close()
    return state, max(done - start, 0)


def _check_finite(losses: np.ndarray, done: int, last_finite: float, prior, checkpoint) -> float:
    """The last finite loss of member 0, or :class:`TrainingDiverged` naming the first bad step."""
    bad = ~np.isfinite(losses)
    if bad.any():
        m, s = np.argwhere(bad)[0]
        finite = losses[m, :s][np.isfinite(losses[m, :s])]
        last_finite = float(finite[-1]) if finite.size else last_finite
        kept = checkpoint.latest_step() if checkpoint is not None else None
        where = (f"; the last good checkpoint (step {kept}) is kept in {checkpoint.directory}"
                 if kept is not None else "")
        raise TrainingDiverged(
            f"loss became {losses[m, s]} at step {done + s + 1} (member {m}) under prior "
            f"{prior!r}; last finite loss {last_finite:.6g}{where}",
            step=int(done + s + 1), member=int(m), last_finite_loss=last_finite,
            checkpoint_step=kept,
        )
    return float(losses[0, -1])


def fit(
    model_fn: Callable[[jax.Array], nnx.Module],
    data: dict,
    *,
    prior=None,
    config: TrainConfig,
    key: jax.Array,
    optimizer: optax.GradientTransformation | None = None,
    num_members: int = 1,
    prior_axis: int | None = None,
    eval_data: tuple[Any, Any] | None = None,
    progress: bool | None = None,
    desc: str = "train",
    on_chunk: Callable[[int, TrainState], None] | None = None,
    init_params: Any = None,
    initial_state: TrainState | None = None,
    checkpoint=None,
    mesh=None,
    augment: Callable | None = None,
    objective: Callable | None = None,
) -> FitResult:
    """Train ``num_members`` independent models under ``prior`` in one compiled, vmapped run.

    Args:
      model_fn: ``key -> nnx.Module``; called under ``vmap`` to initialise every member.
      data: training arrays with a shared leading axis: ``x``, ``y`` and optionally
        ``label_mask`` (1 = labelled; default all ones). The trainer adds ``index``, the row of
        each example, which a teacher table (:class:`bayeskd.priors.TeacherPrior`) is read by.
      prior: a prior from :mod:`bayeskd.priors` (``None``: :class:`bayeskd.priors.NoPrior`,
        maximum likelihood). With ``prior_axis=0`` its leaves are stacked ``[M]`` and member
        ``m`` trains under prior ``m`` (a hyperparameter sweep).
      config: steps, batch size, chunk length (``eval_every``) and, unless ``optimizer`` is
        given, the optimiser.
      key: the run's PRNG key; member ``m`` uses ``fold_in(key, m)``.
      optimizer: any ``optax.GradientTransformation`` (SWAG moments, SGLD noise, ...); it
        replaces the optimiser that ``config`` names.
      num_members: ``M``; members differ in initialisation and minibatch order.
      eval_data: optional ``(x_test, y_test)`` to report test accuracy between chunks.
      progress: show a tqdm bar (``None``: shown only once a run has lasted 3 s).
      on_chunk: called as ``on_chunk(steps_done, state)`` after each chunk (snapshots of a
        sampler's chain, a hook of any kind).
      init_params: start from these stacked parameters ``[M, ...]`` (a pretrained MAP for SWAG or
        SGLD) with a fresh optimiser state, instead of initialising.
      initial_state: continue from this stacked state (parameters, optimiser state, keys, step).
      checkpoint: a :class:`bayeskd.checkpoint.TrainCheckpointer`: the run resumes from its
        latest checkpoint if there is one (bit-identical to an uninterrupted run, history
        included) and saves one after every chunk; on divergence the last good one is kept.
      mesh: a :class:`jax.sharding.Mesh` with axes ``members``, ``data`` (and ``vocab``) from
        :func:`bayeskd.distributed.make_mesh`: the state's member axis is split over
        ``members``, the data rows (and per-example teacher tables) over ``data``; the result
        equals the one-device result up to float reassociation. ``members`` must divide
        ``num_members`` and ``data`` the batch size. ``None``: one device (or the default mesh
        of :func:`bayeskd.distributed.use_mesh`, where it divides the run). With several
        processes the result's arrays are global: read them with
        :func:`bayeskd.distributed.to_host`.
      augment: an augmentation ``(key, x) -> x`` (:mod:`bayeskd.data.augment`; hashable, as it
        is part of the compiled program): every minibatch is replaced by a fresh view drawn with
        its own key inside the step (an invariance prior), and an independent second view is
        ``batch["x_alt"]`` (what a :class:`bayeskd.priors.TeacherPrior` with
        ``view="independent"`` shows its teacher).
      objective: the loss of one step, ``(graphdef, params, batch, prior, key) -> scalar``,
        hashable (it is a static argument of the compiled chunk); ``None`` is
        :func:`classification_objective`. A language model trains through
        :class:`bayeskd.training.lm.LMObjective` with ``data = {"x": tokens [N, L]}``.

    Returns:
      :class:`FitResult` with stacked params ``[M, ...]``, a ``history`` dict of per-chunk
      ``step``, ``loss`` (mean over the chunk, per member) and ``test_accuracy``, the final
      ``state`` and ``steps_run``, the optimiser steps this call executed.

    Raises:
      ValueError: bad data (empty, mismatched rows, NaN inputs, non-integer labels, labels outside
        ``[0, K)``, teacher tables whose rows or classes differ from the data's), before training.
      TrainingDiverged: the loss became NaN/inf; names the step, the prior and the last finite loss.
    """
    t0 = time.perf_counter()
    prior = NoPrior() if prior is None else prior
    run = CompiledRun(model_fn, data, prior=prior, config=config, optimizer=optimizer,
                      num_members=num_members, prior_axis=prior_axis, mesh=mesh,
                      augment=augment, objective=objective)
    if initial_state is not None and init_params is not None:
        raise ValueError("init_params: give init_params or initial_state, not both")
    if initial_state is not None:
        state = run.place(initial_state)
    elif init_params is not None:
        state = run.state_from_params(init_params, key)
    else:
        state = run.init_state(key)
    history: dict[str, list] = {"step": [], "loss": [], "test_accuracy": []}
    last_finite = float("nan")
    if checkpoint is not None:
        restored = checkpoint.restore(state if jax.process_count() == 1
                                      else distributed.to_host(state))
        if restored is not None:
            state, history, last_finite = restored.state, restored.history, restored.last_loss
            state = run.place(state)
    state, steps_run = run_chunks(run, state, history=history, last_finite=last_finite,
                                  eval_data=eval_data, progress=progress, desc=desc,
                                  on_chunk=on_chunk, checkpoint=checkpoint)
    return FitResult(run.graphdef, state.params, history, time.perf_counter() - t0, state,
                     steps_run, state.model_state)


def evaluate_accuracy(graphdef, params, x, y) -> np.ndarray:
    """Test accuracy ``[M]`` of stacked members."""
    logits = predict_logits_members(graphdef, params, x)
    return np.asarray(jnp.mean(jnp.argmax(logits, -1) == jnp.asarray(y)[None], axis=-1))

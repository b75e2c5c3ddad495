"""Run :func:`bayeskd.training.fit` with any optax transform and keep its final state and snapshots.

SWAG and SGLD are optax transforms (moment collection, Langevin noise) that ride inside the
compiled trainer. This glue hands the trainer the transform, optionally starts from given
parameters (e.g. a pretrained MAP), and records the full :class:`~bayeskd.training.TrainState`
after every chunk of ``every`` steps (the trainer's ``on_chunk`` hook), so samplers can thin their
chain on the host without a Python step loop.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from bayeskd.training import FitResult, TrainConfig, TrainState, fit


@dataclasses.dataclass(frozen=True)
class _TransformConfig(TrainConfig):
    """A :class:`TrainConfig` whose optimiser is a given optax transform."""

    transform: Any = None

    def make_optimizer(self) -> optax.GradientTransformation:
        return self.transform


def fit_transform(
    model_fn: Callable,
    data: dict,
    *,
    prior,
    transform: optax.GradientTransformation,
    steps: int,
    batch_size: int,
    every: int,
    key: jax.Array,
    num_members: int = 1,
    init_params: Any = None,
    on_snapshot: Callable[[int, TrainState], None] | None = None,
    progress: bool | None = None,
    desc: str = "train",
) -> tuple[FitResult, TrainState]:
    """Train under ``transform``; returns the result and the final stacked state.

    Args:
      init_params: optional stacked ``[M, ...]`` parameters to start from (``M = num_members``);
        the transform's state is initialised on them.
      on_snapshot: called as ``on_snapshot(steps_done, state)`` every ``every`` steps.
    """
    config = _TransformConfig(steps=steps, batch_size=batch_size, learning_rate=1.0,
                              eval_every=every, transform=transform)
    initial = None
    if init_params is not None:
        keys = jax.vmap(lambda i: jax.random.fold_in(key, 10_000 + i))(jnp.arange(num_members))
        initial = TrainState(init_params, jax.vmap(transform.init)(init_params), keys,
                             jnp.zeros((num_members,), jnp.int32))
    last: dict[str, TrainState] = {}

    def hook(done: int, state: TrainState) -> None:
        last["state"] = state
        if on_snapshot is not None:
            on_snapshot(done, state)

    res = fit(model_fn, data, prior=prior, config=config, key=key, num_members=num_members,
              on_chunk=hook, initial_state=initial, progress=progress, desc=desc)
    return res, last["state"]

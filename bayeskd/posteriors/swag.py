r"""SWAG: a Gaussian fitted to the SGD trajectory (Maddox et al. 2019).

Stochastic Weight Averaging-Gaussian (Maddox, Garipov, Izmailov, Vetrov & Wilson, "A Simple
Baseline for Bayesian Uncertainty in Deep Learning", NeurIPS 2019) runs SGD with a constant (high)
learning rate from a pretrained solution and collects, every ``collect_every`` steps, snapshots
:math:`\theta_1..\theta_T` of the weights:

.. math::
    \bar\theta = \frac1T\sum_i \theta_i, \qquad
    \overline{\theta^2} = \frac1T\sum_i \theta_i^2, \qquad
    \Sigma_{\mathrm{diag}} = \mathrm{diag}(\overline{\theta^2} - \bar\theta^2), \qquad
    \hat D = [\theta_i - \bar\theta_i]_{\text{last } K},

and approximates the posterior by
:math:`\mathcal N\big(\bar\theta,\ \tfrac12(\Sigma_{\mathrm{diag}} + \hat D\hat D^\top/(K-1))\big)`,
sampled as

.. math::
    \theta = \bar\theta + \sqrt{s}\,\Big(\sigma\odot z_1 + \frac{\hat D z_2}{\sqrt{K-1}}\Big),
    \qquad z_1\sim\mathcal N(0, I_P),\ z_2\sim\mathcal N(0, I_K),

with scale :math:`s = 1/2` (Maddox et al. eq. 1 and Alg. 1). SWAG-Diagonal drops :math:`\hat D` and
uses :math:`s = 1`. Moment collection is an optax transform (:func:`swag_moments`) chained after
the optimiser, so it runs inside the compiled trainer and ``vmap``\ s over members (MultiSWAG,
Wilson & Izmailov 2020).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from bayeskd.posteriors.base import Posterior
from bayeskd.training import TrainConfig, fit
from bayeskd.validate import check_num_samples, check_positive_float, check_positive_int

__all__ = ["SWAG", "SWAGState", "fit_swag", "swag_moments", "swag_sample"]


class SWAGState(NamedTuple):
    """Running SWAG moments.

    Attributes:
      step: transform updates seen (int32).
      count: snapshots collected (int32).
      mean: running mean :math:`\\bar\\theta` (a params pytree).
      sq_mean: running second moment :math:`\\overline{\\theta^2}`.
      deviations: the last ``rank`` deviations :math:`\\theta_i - \\bar\\theta_i`, a ring buffer
        whose leaves are ``[rank, ...]`` (``rank = 0``: diagonal SWAG, empty buffer).
    """

    step: jax.Array
    count: jax.Array
    mean: Any
    sq_mean: Any
    deviations: Any


def _check_rank(rank: Any) -> int:
    ok = isinstance(rank, int | np.integer) and not isinstance(rank, bool)
    if not ok or rank < 0 or rank == 1:
        raise ValueError(
            f"rank: low-rank SWAG needs rank >= 2 (or rank=0 for diagonal SWAG), got {rank!r}"
        )
    return int(rank)


def swag_moments(*, rank: int = 20, collect_every: int = 1, start_step: int = 0
                 ) -> optax.GradientTransformation:
    """An optax transform that collects SWAG moments of the parameters and passes updates through.

    Chain it *last*, after the optimiser: ``optax.chain(optax.sgd(lr), swag_moments(...))``. At
    every update it forms the new parameters ``params + updates``; on steps
    ``start_step, start_step + collect_every, ...`` it folds them into the running mean and second
    moment and writes their deviation from the new mean into the ring buffer.

    Args:
      rank: ``K`` deviations kept for the low-rank part (>= 2), or 0 for diagonal SWAG.
      collect_every: steps between snapshots (>= 1).
      start_step: first step that is collected (>= 0).
    """
    rank = _check_rank(rank)
    check_positive_int(collect_every, name="collect_every")
    if not isinstance(start_step, int | np.integer) or start_step < 0:
        raise ValueError(f"start_step: must be an integer >= 0, got {start_step!r}")

    def init(params) -> SWAGState:
        zeros = jax.tree.map(lambda p: jnp.zeros_like(p, jnp.float32), params)
        devs = jax.tree.map(lambda p: jnp.zeros((rank, *jnp.shape(p)), jnp.float32), params)
        return SWAGState(jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32), zeros, zeros, devs)

    def update(updates, state: SWAGState, params=None):
        if params is None:
            raise ValueError("params: swag_moments needs the current parameters")
        new = optax.apply_updates(params, updates)
        collect = (state.step >= start_step) & ((state.step - start_step) % collect_every == 0)
        w = 1.0 / (state.count.astype(jnp.float32) + 1.0)

        def fold(avg, x, power):
            return jnp.where(collect, (1.0 - w) * avg + w * jnp.asarray(x, jnp.float32) ** power, avg)

        mean = jax.tree.map(lambda m, x: fold(m, x, 1), state.mean, new)
        sq_mean = jax.tree.map(lambda m, x: fold(m, x, 2), state.sq_mean, new)
        devs = state.deviations
        if rank:
            slot = state.count % rank
            devs = jax.tree.map(
                lambda d, x, m: jnp.where(collect, d.at[slot].set(x - m), d), devs, new, mean)
        count = state.count + collect.astype(jnp.int32)
        return updates, SWAGState(state.step + 1, count, mean, sq_mean, devs)

    return optax.GradientTransformation(init, update)


def swag_sample(state: SWAGState, key: jax.Array, *, scale: float, diagonal: bool) -> Any:
    r"""One weight draw :math:`\bar\theta + \sqrt{s}(\sigma\odot z_1 + \hat D z_2/\sqrt{K-1})`.

    ``K = min(count, rank)`` columns of the ring buffer are used (unused slots are masked).
    """
    leaves, treedef = jax.tree.flatten(state.mean)
    sq = jax.tree.leaves(state.sq_mean)
    devs = jax.tree.leaves(state.deviations)
    k1, k2 = jax.random.split(key)
    keys = jax.random.split(k1, len(leaves))
    out = []
    rank = devs[0].shape[0] if devs else 0
    if not diagonal and rank:
        k_eff = jnp.minimum(state.count, rank)
        z2 = jax.random.normal(k2, (rank,)) * (jnp.arange(rank) < k_eff)
        denom = jnp.sqrt(jnp.maximum(k_eff - 1, 1).astype(jnp.float32))
    for i, (m, s2) in enumerate(zip(leaves, sq, strict=True)):
        sigma = jnp.sqrt(jnp.maximum(s2 - m**2, 0.0))
        delta = sigma * jax.random.normal(keys[i], m.shape)
        if not diagonal and rank:
            delta = delta + jnp.tensordot(z2, devs[i], axes=1) / denom
        out.append(m + jnp.sqrt(scale) * delta)
    return jax.tree.unflatten(treedef, out)


class SWAG(Posterior):
    """The SWAG posterior (or MultiSWAG: one Gaussian per member, draws spread over members).

    Args:
      graphdef: the network's NNX graph definition.
      state: a :class:`SWAGState` whose leaves carry a leading member axis ``[M, ...]`` (as
        returned by :func:`fit_swag`).
      diagonal: drop the low-rank part (SWAG-Diagonal).
      scale: the sampling scale ``s``; default 0.5 (low-rank) or 1.0 (diagonal), as in Maddox et al.
      num_samples: default number of draws of :meth:`predictive`.
      batch_stats: for a network with batch norm, ``(stats_graphdef, model_state [M, ...],
        x)``: every drawn weight vector gets its own batch statistics over the inputs ``x``
        (:func:`bayeskd.training.recompute_batch_stats`, the BN update of Maddox et al.),
        starting from its member's state; ``graphdef`` is then the eval-mode graph.
    """

    def __init__(self, graphdef, state: SWAGState, *, diagonal: bool = False,
                 scale: float | None = None, num_samples: int = 30, name: str | None = None,
                 batch_stats: tuple | None = None):
        counts = np.atleast_1d(np.asarray(state.count))
        rank = jax.tree.leaves(state.deviations)[0].shape[1] if jax.tree.leaves(state.deviations) else 0
        if counts.min() < 1:
            raise ValueError("state: SWAG collected no snapshots (num_samples 0); train longer "
                             "or lower collect_every")
        if not diagonal:
            if rank < 2:
                raise ValueError(f"rank: low-rank SWAG needs rank >= 2, the state holds {rank}")
            if min(counts.min(), rank) < 2:
                raise ValueError("state: low-rank SWAG needs at least 2 snapshots, collected "
                                 f"{int(counts.min())}")
        self.graphdef, self.state, self.diagonal = graphdef, state, bool(diagonal)
        self.batch_stats = batch_stats
        self.scale = check_positive_float((1.0 if diagonal else 0.5) if scale is None else scale,
                                     name="scale")
        self.num_samples = check_num_samples(num_samples)
        self.num_members = len(counts)
        self.name = name or ("swag_diag" if diagonal else "swag")
        self._draw = jax.jit(self._draw_impl, static_argnums=1)

    def _draw_impl(self, key, n):
        def one(s, k):
            st = jax.tree.map(lambda a: a[s % self.num_members], self.state)
            return swag_sample(st, k, scale=self.scale, diagonal=self.diagonal)

        return jax.vmap(one)(jnp.arange(n), jax.random.split(key, n))

    def sample_params(self, key: jax.Array, num_samples: int | None = None):
        """``S`` stacked weight draws ``[S, ...]`` (member ``s mod M`` for draw ``s``)."""
        return self._draw(key, self._resolve(num_samples))

    def sample_variables(self, key: jax.Array, num_samples: int | None = None):
        """``S`` draws ``[S, ...]`` of the whole state the network is evaluated with: the
        weights of :meth:`sample_params`, and for a batch-norm network the batch statistics
        recomputed for each of them."""
        params = self.sample_params(key, num_samples)
        if self.batch_stats is None:
            return params
        from bayeskd.training import with_batch_stats

        stats_graphdef, model_state, x = self.batch_stats
        member = jnp.arange(jax.tree.leaves(params)[0].shape[0]) % self.num_members
        return with_batch_stats(stats_graphdef, params, model_state, member,
                                jnp.asarray(x, jnp.float32))

    def sample_logits(self, x, *, key, num_samples=None):
        from bayeskd.training import apply_members

        variables = self.sample_variables(key, num_samples)
        return apply_members(self.graphdef, variables, jnp.asarray(x, jnp.float32))



def fit_swag(
    model_fn: Callable,
    data: dict,
    *,
    prior,
    init_params: Any,
    key: jax.Array,
    steps: int,
    learning_rate: float,
    batch_size: int,
    rank: int = 20,
    collect_every: int = 1,
    momentum: float = 0.9,
    diagonal: bool = False,
    num_samples: int = 30,
    progress: bool | None = None,
) -> SWAG:
    """Run constant-learning-rate SGD from ``init_params`` and collect SWAG moments.

    Args:
      init_params: stacked pretrained parameters ``[M, ...]`` (e.g. ``fit_map(...).params``, or
        ``.variables`` for a batch-norm network); one SWAG Gaussian is fitted per member. The
        Gaussian is over the ``nnx.Param`` state; a batch-norm network's statistics are
        recomputed over ``data["x"]`` for every draw (Maddox et al. 2019, Sec. 4).
      steps: SGD steps of the SWAG phase (snapshots: ``steps / collect_every``).
      learning_rate: the constant SWA learning rate (> 0).
      rank: low-rank ``K`` (>= 2); 0 gives diagonal SWAG.
    """
    check_positive_float(learning_rate, name="learning_rate")
    rank = _check_rank(rank)
    if diagonal:
        rank = 0
    elif rank == 0:
        raise ValueError("rank: low-rank SWAG needs rank >= 2; pass diagonal=True for SWAG-Diagonal")
    tx = optax.chain(optax.sgd(learning_rate, momentum=momentum or None),
                     swag_moments(rank=rank, collect_every=collect_every))
    m = int(jax.tree.leaves(init_params)[0].shape[0])
    res = fit(model_fn, data, prior=prior, optimizer=tx, key=key, num_members=m,
              config=TrainConfig(steps=steps, batch_size=batch_size, eval_every=steps),
              init_params=init_params, progress=progress, desc="swag")
    batch_stats = None
    if jax.tree.leaves(res.model_state):  # batch norm: statistics recomputed per draw
        from flax import nnx

        from bayeskd.training import batch_stats_graphdef

        graph = batch_stats_graphdef(nnx.eval_shape(lambda: model_fn(jax.random.key(0))))
        batch_stats = (graph, res.model_state, data["x"])
    return SWAG(res.graphdef, res.state.opt_state[1], diagonal=diagonal, num_samples=num_samples,
                batch_stats=batch_stats)

r"""One predictive interface for every posterior, and offline distillation from it.

A posterior over the weights :math:`q(\theta)` approximating :math:`p(\theta\mid\mathcal D)` is
used only through its predictive distribution:

.. math::
    p(y\mid x, \mathcal D) = \mathbb E_{\theta\sim p(\theta\mid\mathcal D)}\,p(y\mid x,\theta)
    \approx \frac1S \sum_{s=1}^S \mathrm{softmax}\,f_{\theta_s}(x),
    \qquad \theta_s \sim q(\theta).

Every posterior in :mod:`bayeskd.posteriors` is a :class:`Posterior` with

- ``sample_logits(x, *, key, num_samples) -> [S, B, K]``,
- ``sample_probs(x, *, key, num_samples) -> [S, B, K]`` (softmax of the above),
- ``predictive(x, *, key, num_samples=None) -> [B, K]``, the mean *in probability space*,
- ``uncertainty(x, *, key) -> {total, data, knowledge}``, each ``[B]``.

**Contract.** The same ``key`` draws the same weights :math:`\theta_{1..S}` whatever ``x`` is, so a
predictive computed in chunks (:func:`offline_predictive`) equals the one computed in one call.
(MC dropout is the exception by nature: its masks are drawn per example.)

A student distills from any posterior *offline*: the predictive over the transfer set is computed
once, in chunks, with ``vmap`` over samples, and the student fits it (:func:`distill`). Many
teachers distill into many students in **one** compiled, vmapped run: each student reads its own
row of a stacked table of teacher log-probabilities (one :class:`bayeskd.priors.TeacherPrior`
per teacher, stacked, ``prior_axis=0`` in :func:`bayeskd.training.fit`).
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from bayeskd.metrics import uncertainty_decomposition
from bayeskd.priors import TeacherPrior, stack_priors
from bayeskd.training import TrainConfig, apply_members, fit
from bayeskd.validate import (
    check_num_samples,
    check_positive_int,
    check_temperature,
    check_unit_interval,
)

__all__ = [
    "ParamSamples",
    "Posterior",
    "Predictions",
    "check_num_samples",
    "distill",
    "offline_predictive",
    "teacher_log_probs",
]






class Posterior(abc.ABC):
    """A distribution over a network's weights, used through its predictive distribution.

    Subclasses implement :meth:`sample_logits`; ``num_samples`` is the default number of draws of
    :meth:`predictive` and :meth:`sample_probs`.
    """

    name: str = "posterior"
    num_samples: int = 1

    @abc.abstractmethod
    def sample_logits(
        self, x: ArrayLike, *, key: jax.Array, num_samples: int | None = None
    ) -> Float[Array, "samples batch classes"]:
        """Logits ``[S, B, K]`` of ``S`` weight draws on inputs ``x [B, ...]``."""

    def sample_probs(
        self, x: ArrayLike, *, key: jax.Array, num_samples: int | None = None
    ) -> Float[Array, "samples batch classes"]:
        """Per-sample predictive probabilities ``[S, B, K]``."""
        return jax.nn.softmax(self.sample_logits(x, key=key, num_samples=num_samples), axis=-1)

    def predictive(
        self, x: ArrayLike, *, key: jax.Array, num_samples: int | None = None
    ) -> Float[Array, "batch classes"]:
        r"""The Monte Carlo posterior predictive ``[B, K]``: :math:`\frac1S\sum_s p(y\mid x,\theta_s)`."""
        return jnp.mean(self.sample_probs(x, key=key, num_samples=num_samples), axis=0)

    def uncertainty(
        self, x: ArrayLike, *, key: jax.Array, num_samples: int | None = None
    ) -> dict[str, Float[Array, " batch"]]:
        """``total``, ``data`` and ``knowledge`` uncertainty ``[B]`` (nats) of the sampled
        predictions (:func:`bayeskd.metrics.uncertainty_decomposition`); a posterior with closed
        forms overrides it."""
        return uncertainty_decomposition(self.sample_probs(x, key=key, num_samples=num_samples))

    def _resolve(self, num_samples: int | None) -> int:
        return check_num_samples(self.num_samples if num_samples is None else num_samples)


class ParamSamples(Posterior):
    r"""An empirical posterior: ``S`` stacked weight samples with equal weight.

    .. math:: q(\theta) = \frac1S \sum_{s=1}^S \delta(\theta - \theta_s)

    MAP (``S = 1``), deep ensembles (Lakshminarayanan et al. 2017), SG-MCMC and NUTS draws are
    all of this form. ``sample_logits`` with ``num_samples=None`` (or ``S``) uses every sample in
    order; a smaller ``num_samples`` uses a random subset without replacement chosen by ``key``.

    Args:
      graphdef: the NNX graph definition of the network.
      params: stacked parameters, every leaf ``[S, ...]`` (for a batch-norm network its whole
        state, batch statistics included).
      name: a label for tables.
      chains: optional number of chains ``C``: samples are ordered chain-major ``[C * D]`` (for
        R-hat of the predictive).
    """

    def __init__(self, graphdef, params, *, name: str = "samples", chains: int = 1):
        leaves = jax.tree.leaves(params)
        if not leaves:
            raise ValueError("params: the posterior has no parameters")
        s = int(leaves[0].shape[0])
        check_num_samples(s, name="params")
        if s % chains:
            raise ValueError(f"chains: {chains} does not divide the {s} samples")
        self.graphdef, self.params, self.name = graphdef, params, name
        self.num_samples, self.chains = s, int(chains)

    @classmethod
    def from_fit(cls, result, *, name: str = "ensemble") -> ParamSamples:
        """All members of a :class:`bayeskd.training.FitResult` as an equally weighted posterior
        (with their batch statistics, for a network that has them)."""
        return cls(result.graphdef, result.variables, name=name)

    def member(self, m: int) -> ParamSamples:
        """The single sample ``m`` as a one-point posterior (e.g. MAP from an ensemble)."""
        return ParamSamples(self.graphdef, jax.tree.map(lambda a: a[m : m + 1], self.params),
                            name=self.name)

    def sample_logits(self, x, *, key, num_samples=None):
        n = self._resolve(num_samples)
        params = self.params
        if n > self.num_samples:
            raise ValueError(
                f"num_samples: this posterior holds {self.num_samples} samples, asked for {n}"
            )
        if n < self.num_samples:
            idx = jax.random.choice(key, self.num_samples, (n,), replace=False)
            params = jax.tree.map(lambda a: a[idx], params)
        return apply_members(self.graphdef, params, jnp.asarray(x, jnp.float32))


class Predictions(NamedTuple):
    """An offline predictive: ``probs [N, K]`` and, when kept, ``sample_probs [S, N, K]``."""

    probs: np.ndarray
    sample_probs: np.ndarray | None


def offline_predictive(
    posterior: Posterior,
    x: ArrayLike,
    *,
    key: jax.Array,
    num_samples: int | None = None,
    chunk_size: int = 1024,
    keep_samples: bool = False,
) -> Predictions:
    """The predictive over a whole input set, computed once in chunks of ``chunk_size`` inputs.

    Every chunk uses the same ``key``, so every chunk sees the same weight samples and the result
    equals one call on all of ``x`` (without holding ``[S, N, K]`` logits in memory unless
    ``keep_samples``). Every chunk is padded to ``chunk_size`` rows, so one compiled program
    serves input sets of any size.

    Returns:
      :class:`Predictions` with float32 numpy arrays.
    """
    check_positive_int(chunk_size, name="chunk_size")
    x = np.asarray(x, np.float32)
    if len(x) == 0:
        raise ValueError("x: no inputs to predict on")
    means, samples = [], []
    for lo in range(0, len(x), chunk_size):
        xb = x[lo : lo + chunk_size]
        n = len(xb)
        if n < chunk_size:
            xb = np.concatenate([xb, np.zeros((chunk_size - n, *x.shape[1:]), np.float32)])
        probs_SBK = posterior.sample_probs(xb, key=key, num_samples=num_samples)[:, :n]
        means.append(np.asarray(jnp.mean(probs_SBK, axis=0)))
        if keep_samples:
            samples.append(np.asarray(probs_SBK))
    return Predictions(np.concatenate(means), np.concatenate(samples, axis=1) if keep_samples else None)


def teacher_log_probs(posterior: Posterior, x: ArrayLike, *, key: jax.Array,
                      num_samples: int | None = None, chunk_size: int = 1024) -> np.ndarray:
    """``log`` of the offline predictive ``[N, K]`` (clamped at 1e-12): the distillation targets."""
    probs = offline_predictive(posterior, x, key=key, num_samples=num_samples,
                               chunk_size=chunk_size).probs
    return np.log(np.maximum(probs, 1e-12)).astype(np.float32)


def distill(
    model_fn: Callable,
    x: ArrayLike,
    teacher_logp: Float[ArrayLike, "*teachers n classes"],
    *,
    config: TrainConfig,
    key: jax.Array,
    y: ArrayLike | None = None,
    alpha: float = 1.0,
    temperature: float = 1.0,
    progress: bool | None = None,
    desc: str = "distill",
):
    r"""Train one student per teacher on a transfer set, all in one compiled, vmapped run.

    Student :math:`m` minimises
    :math:`(1-\alpha)\,\mathrm{CE}(y, p_\theta) + \alpha T^2 \mathrm{KL}(p_{t_m}^{(T)}\|p_\theta^{(T)})`
    over ``x`` (labels only where ``y`` is given; ``alpha=1`` needs none).

    Args:
      model_fn: ``key -> nnx.Module`` for the student.
      x: transfer inputs ``[N, ...]``.
      teacher_logp: teacher log-probabilities ``[N, K]`` or a stack ``[M, N, K]`` (from
        :func:`teacher_log_probs`).
      config: the student's optimisation settings.
      key: the run's key (student ``m`` uses ``fold_in(key, m)``).
      y: optional labels ``[N]`` (needed when ``alpha < 1``).

    Returns:
      a :class:`bayeskd.training.FitResult` with ``M`` members, member ``m`` distilled from
      teacher ``m``.
    """
    check_unit_interval(alpha, name="alpha")
    check_temperature(temperature)
    x = np.asarray(x, np.float32)
    table = np.asarray(teacher_logp, np.float32)
    if table.ndim == 2:
        table = table[None]
    if table.ndim != 3 or table.shape[1] != len(x):
        raise ValueError(f"teacher_logp: must have shape [M, {len(x)}, K], got {np.shape(teacher_logp)}")
    if y is None and alpha < 1.0:
        raise ValueError(f"y: labels are needed when alpha < 1 (alpha={alpha})")
    n = len(x)
    data = {"x": x,
            "y": np.zeros(n, np.int32) if y is None else np.asarray(y, np.int32),
            "label_mask": np.full(n, 0.0 if y is None else 1.0, np.float32)}
    prior = stack_priors(TeacherPrior(table=t, alpha=float(alpha), temperature=float(temperature))
                         for t in table)
    return fit(model_fn, data, prior=prior, config=config, key=key, num_members=table.shape[0],
               prior_axis=0, progress=progress, desc=desc)

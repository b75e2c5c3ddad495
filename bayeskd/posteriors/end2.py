r"""Ensemble distribution distillation (EnD²): a Dirichlet student of any posterior teacher.

A posterior teacher gives, at every input, ``S`` sampled predictive distributions
:math:`\pi_{1..S}(x)` (:meth:`bayeskd.posteriors.Posterior.sample_probs`). Distilling only their
mean (EnD, :func:`bayeskd.posteriors.distill`) keeps the total uncertainty and loses how much the
samples *disagree*, the knowledge (epistemic) part. EnD² (Malinin, Mlodozeniec & Gales 2020,
"Ensemble Distribution Distillation", ICLR) keeps it: the student is a *prior network* whose
outputs are the concentrations of a Dirichlet over the simplex,

.. math::
    \alpha(x) = \exp z_w(x),\qquad \alpha_0 = \textstyle\sum_k \alpha_k,\qquad
    \pi \sim \mathrm{Dir}(\alpha(x)),

trained by the likelihood of the teacher's samples,

.. math::
    \mathcal L(w) = -\frac1{NS}\sum_{i,s}\log\mathrm{Dir}\big(\tilde\pi_s(x_i)\,;\,\alpha(x_i)\big),
    \quad
    \log\mathrm{Dir}(\pi;\alpha) = \log\Gamma(\alpha_0) - \sum_k\log\Gamma(\alpha_k)
      + \sum_k(\alpha_k - 1)\log\pi_k,

where :math:`\tilde\pi_s = (1-\epsilon)\pi_s + \epsilon/K` keeps the log finite. **Temperature
annealing** (Malinin et al. §4): early in training the samples are pulled toward their mean,
:math:`\tilde\pi_s^{(T)} = \bar\pi + (\tilde\pi_s - \bar\pi)/T`, with :math:`T` decaying linearly
from ``anneal_temperature`` to 1 over the first ``anneal_fraction`` of the steps, so the student
first learns the mean (as EnD does) and then the spread.

The uncertainties of a Dirichlet are closed forms (Malinin & Gales 2018):

.. math::
    \underbrace{H\big[\mathbb E\pi\big]}_{\text{total}}
    = \underbrace{\mathbb E\,H[\pi]}_{\text{data}}
    + \underbrace{I(y;\pi)}_{\text{knowledge}},\qquad
    \mathbb E\pi = \frac{\alpha}{\alpha_0},\qquad
    \mathbb E\,H[\pi] = -\sum_k\frac{\alpha_k}{\alpha_0}
      \big(\psi(\alpha_k + 1) - \psi(\alpha_0 + 1)\big).

The student is itself a :class:`~bayeskd.posteriors.Posterior`: ``sample_probs`` draws
:math:`\pi\sim\mathrm{Dir}(\alpha(x))`, so everything that reads a posterior (metrics, maps,
further distillation) reads it. Unlike weight posteriors its draws are per input (as MC dropout's),
so the same ``key`` on different batches draws different :math:`\pi`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, ArrayLike, Float

from bayeskd.posteriors.base import Posterior, offline_predictive
from bayeskd.training import apply_model, init_members
from bayeskd.validate import (
    check_num_samples,
    check_positive_float,
    check_positive_int,
    check_unit_interval,
)

__all__ = [
    "DirichletStudent",
    "dirichlet_nll",
    "dirichlet_uncertainty",
    "distill_dirichlet",
    "fit_dirichlet_student",
]

MAX_LOG_CONCENTRATION = 15.0  # alpha <= e^15: beyond it lgamma differences lose float32 precision


def dirichlet_nll(
    log_alpha_BK: Float[ArrayLike, "batch classes"],
    probs_SBK: Float[ArrayLike, "samples batch classes"],
) -> Float[Array, " batch"]:
    r"""Negative Dirichlet log-density of ``S`` sampled distributions, averaged over samples.

    .. math::
        -\frac1S\sum_s\Big[\log\Gamma(\alpha_0) - \sum_k\log\Gamma(\alpha_k)
        + \sum_k(\alpha_k-1)\log\pi_{s,k}\Big]

    Args:
      log_alpha_BK: log-concentrations ``[B, K]``.
      probs_SBK: points of the open simplex ``[S, B, K]`` (no zeros).

    Returns:
      ``[B]`` nats per example.

    Example:
      >>> import jax.numpy as jnp
      >>> nll = dirichlet_nll(jnp.zeros((1, 3)), jnp.full((1, 1, 3), 1 / 3))  # Dir(1,1,1) = 2
      >>> round(float(nll[0]), 4)
      -0.6931
    """
    log_alpha = jnp.asarray(log_alpha_BK)
    alpha = jnp.exp(log_alpha)
    norm = jax.scipy.special.gammaln(jnp.sum(alpha, -1)) - jnp.sum(jax.scipy.special.gammaln(alpha), -1)
    mean_log_pi = jnp.mean(jnp.log(jnp.asarray(probs_SBK)), axis=0)
    return -(norm + jnp.sum((alpha - 1.0) * mean_log_pi, -1))


def dirichlet_uncertainty(
    alpha_BK: Float[ArrayLike, "batch classes"],
) -> dict[str, Float[Array, " batch"]]:
    r"""Total, data and knowledge uncertainty of ``Dir(alpha)`` in nats, each ``[B]``.

    ``total`` :math:`= H[\alpha/\alpha_0]`, ``data`` :math:`= \mathbb E_{\pi}H[\pi]
    = -\sum_k\frac{\alpha_k}{\alpha_0}(\psi(\alpha_k+1)-\psi(\alpha_0+1))`, ``knowledge`` = total
    − data, the mutual information between the label and :math:`\pi` (>= 0).

    Example:
      >>> import jax.numpy as jnp
      >>> u = dirichlet_uncertainty(jnp.array([[1.0, 1.0]]))  # uniform on [0, 1]: E H = 1/2
      >>> [round(float(u[k][0]), 4) for k in ("total", "data", "knowledge")]
      [0.6931, 0.5, 0.1931]
    """
    alpha = jnp.asarray(alpha_BK)
    a0 = jnp.sum(alpha, -1, keepdims=True)
    mean = alpha / a0
    total = jnp.sum(jax.scipy.special.entr(mean), -1)
    data = -jnp.sum(mean * (jax.scipy.special.digamma(alpha + 1.0)
                            - jax.scipy.special.digamma(a0 + 1.0)), -1)
    return {"total": total, "data": data, "knowledge": jnp.maximum(total - data, 0.0)}


@functools.partial(jax.jit, static_argnames=("graphdef",))
def _log_alpha(graphdef, params, x):
    return jnp.clip(apply_model(graphdef, params, x), -MAX_LOG_CONCENTRATION, MAX_LOG_CONCENTRATION)


class DirichletStudent(Posterior):
    r"""A prior network ``x -> Dir(exp z_w(x))`` read through the predictive interface.

    ``predictive`` is the exact mean :math:`\alpha/\alpha_0` (no sampling); ``sample_probs`` draws
    ``num_samples`` Dirichlet samples per input; :meth:`uncertainty` gives the closed forms of
    :func:`dirichlet_uncertainty`.
    """

    name = "end2"

    def __init__(self, graphdef, params, *, num_samples: int = 100, name: str = "end2"):
        self.graphdef, self.params, self.name = graphdef, params, name
        self.num_samples = check_num_samples(num_samples)

    def concentrations(self, x: ArrayLike) -> Float[Array, "batch classes"]:
        """:math:`\\alpha(x)` ``[B, K]``."""
        return jnp.exp(_log_alpha(self.graphdef, self.params, jnp.asarray(x, jnp.float32)))

    def sample_logits(self, x, *, key, num_samples=None):
        n = self._resolve(num_samples)
        alpha = self.concentrations(x)
        pi = jax.random.dirichlet(key, alpha, shape=(n, *alpha.shape[:-1]))
        return jnp.log(jnp.maximum(pi, 1e-30))

    def predictive(self, x, *, key=None, num_samples=None):
        """The exact predictive :math:`\\alpha/\\alpha_0` ``[B, K]`` (``key`` is not used)."""
        alpha = self.concentrations(x)
        return alpha / jnp.sum(alpha, -1, keepdims=True)

    def uncertainty(self, x: ArrayLike, *, key=None, num_samples=None
                    ) -> dict[str, Float[Array, " batch"]]:
        """``total``, ``data`` and ``knowledge`` uncertainty ``[B]`` (nats) at inputs ``x``, in
        closed form (``key`` and ``num_samples`` are not used)."""
        return dirichlet_uncertainty(self.concentrations(x))


def _check_teacher_samples(probs_SNK: np.ndarray, n: int) -> None:
    if probs_SNK.ndim != 3 or probs_SNK.shape[1] != n:
        raise ValueError(f"probs_SNK: must have shape [S, {n}, K], got {probs_SNK.shape}")
    if probs_SNK.shape[-1] < 2:
        raise ValueError("probs_SNK: a Dirichlet student needs at least 2 classes, got "
                         f"{probs_SNK.shape[-1]}")
    if probs_SNK.shape[0] < 2:
        raise ValueError("probs_SNK: the spread of the teacher needs at least 2 samples, got "
                         f"{probs_SNK.shape[0]}")
    if not np.all(np.isfinite(probs_SNK)) or np.any(probs_SNK < 0):
        raise ValueError("probs_SNK: must be finite probabilities >= 0")


def fit_dirichlet_student(
    model_fn: Callable,
    x: ArrayLike,
    probs_SNK: Float[ArrayLike, "samples n classes"],
    *,
    key: jax.Array,
    steps: int = 3000,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    anneal_temperature: float = 10.0,
    anneal_fraction: float = 0.5,
    smoothing: float = 1e-4,
    num_samples: int = 100,
) -> DirichletStudent:
    r"""Fit a Dirichlet student to ``S`` sampled teacher predictions per input (EnD²).

    Minimises the annealed :func:`dirichlet_nll` (see the module docstring) with Adam, a cosine
    learning-rate decay and minibatches of ``batch_size`` inputs (all ``S`` samples of each), in
    one compiled ``lax.scan``.

    Args:
      model_fn: ``key -> nnx.Module`` with ``K`` outputs, read as log-concentrations.
      x: transfer inputs ``[N, ...]`` (training inputs, plus any auxiliary inputs).
      probs_SNK: the teacher's sampled predictions ``[S, N, K]``, ``S >= 2``, ``K >= 2``.
      key: initialisation and minibatch key.
      anneal_temperature: :math:`T_0 \ge 1` at the first step (1: no annealing).
      anneal_fraction: the fraction of ``steps`` over which :math:`T` decays to 1, in [0, 1].
      smoothing: :math:`\epsilon` in [0, 1) mixed with the uniform distribution.
      num_samples: default draws of the returned student's ``sample_probs``.
    """
    x = np.asarray(x, np.float32)
    probs = np.asarray(probs_SNK, np.float32)
    _check_teacher_samples(probs, len(x))
    check_positive_int(steps, name="steps")
    check_positive_int(batch_size, name="batch_size")
    check_positive_float(learning_rate, name="learning_rate")
    if not float(anneal_temperature) >= 1.0:
        raise ValueError(f"anneal_temperature: must be a number >= 1, got {anneal_temperature!r}")
    check_unit_interval(anneal_fraction, name="anneal_fraction")
    if not 0.0 <= float(smoothing) < 1.0:
        raise ValueError(f"smoothing: must lie in [0, 1), got {smoothing!r}")
    k = probs.shape[-1]
    probs = (1.0 - smoothing) * probs + smoothing / k
    if smoothing == 0.0 and np.any(probs <= 0):
        raise ValueError("smoothing: the teacher gives probability 0 somewhere; use smoothing > 0")
    graphdef, params = init_members(model_fn, jax.random.fold_in(key, 0)[None])
    params = jax.tree.map(lambda a: a[0], params)
    params = _train(graphdef, params, jnp.asarray(x), jnp.asarray(probs), jax.random.fold_in(key, 1),
                    steps=steps, batch_size=min(batch_size, len(x)),
                    learning_rate=float(learning_rate), t0=float(anneal_temperature),
                    anneal_steps=float(anneal_fraction) * steps)
    if not all(bool(jnp.all(jnp.isfinite(a))) for a in jax.tree.leaves(params)):
        raise ValueError(f"learning_rate: the Dirichlet student diverged (learning_rate="
                         f"{learning_rate}); lower it")
    return DirichletStudent(graphdef, params, num_samples=num_samples)


@functools.partial(jax.jit, static_argnames=("graphdef", "steps", "batch_size", "learning_rate",
                                             "t0", "anneal_steps"))
def _train(graphdef, params, x_N, probs_SNK, key, *, steps, batch_size, learning_rate, t0,
           anneal_steps):
    tx = optax.adam(optax.cosine_decay_schedule(learning_rate, steps))
    mean_NK = jnp.mean(probs_SNK, axis=0)

    def loss(p, xb, pb_SBK, mb_BK, temp):
        targets = mb_BK + (pb_SBK - mb_BK) / temp
        log_alpha = jnp.clip(apply_model(graphdef, p, xb), -MAX_LOG_CONCENTRATION,
                             MAX_LOG_CONCENTRATION)
        return jnp.mean(dirichlet_nll(log_alpha, targets))

    def step(carry, i):
        p, s = carry
        idx = jax.random.randint(jax.random.fold_in(key, i), (batch_size,), 0, x_N.shape[0])
        frac = jnp.clip(i / jnp.maximum(anneal_steps, 1.0), 0.0, 1.0)
        temp = jnp.where(anneal_steps > 0, t0 + (1.0 - t0) * frac, 1.0)
        g = jax.grad(loss)(p, x_N[idx], probs_SNK[:, idx], mean_NK[idx], temp)
        u, s = tx.update(g, s, p)
        return (optax.apply_updates(p, u), s), None

    (params, _), _ = jax.lax.scan(step, (params, tx.init(params)), jnp.arange(steps))
    return params


def distill_dirichlet(
    posterior: Posterior,
    model_fn: Callable,
    x: ArrayLike,
    *,
    key: jax.Array,
    num_samples: int | None = None,
    **fit_kwargs,
) -> DirichletStudent:
    """EnD² from any posterior teacher: its ``num_samples`` sampled predictions on ``x`` (one
    :func:`~bayeskd.posteriors.offline_predictive` pass, every chunk the same weight draws),
    fitted by :func:`fit_dirichlet_student` (``fit_kwargs``: ``steps``, ``learning_rate``, ...).
    """
    preds = offline_predictive(posterior, x, key=jax.random.fold_in(key, 0),
                               num_samples=num_samples, keep_samples=True)
    return fit_dirichlet_student(model_fn, x, preds.sample_probs, key=jax.random.fold_in(key, 1),
                                 **fit_kwargs)

r"""Multinomial logistic regression, fitted two ways: many members by full-batch Adam in one
vmapped run (:func:`fit_softmax`), or one convex objective to machine precision in float64 by
exact-Hessian trust-region Newton (:func:`newton_minimize`); and the quadratic feature map of the
2-D synthetic problems (:class:`QuadraticFeatures`), whose softmax family contains the Bayes
posterior of a Gaussian mixture with class-specific covariances.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from scipy.optimize import minimize

from bayeskd.data.privileged import generalised_targets, privileged_table

__all__ = ["PRIOR_VARIANCE", "QuadraticFeatures", "fit_softmax", "generalised_distillation",
           "linear_accuracy", "newton_minimize"]

PRIOR_VARIANCE = 10.0


class QuadraticFeatures:
    r"""Quadratic features :math:`[x_1, x_2, x_1^2, x_2^2, x_1x_2]` of 2-D inputs, standardised
    by the mean and std of a reference sample ``x_ref [N, 2]`` (fixed constants afterwards).

    Example:
      >>> f = QuadraticFeatures(np.array([[0.0, 0.0], [2.0, 2.0]]))
      >>> f(np.array([[1.0, 1.0]])).tolist()
      [[0.0, 0.0, -0.5, -0.5, -0.5]]
    """

    def __init__(self, x_ref: np.ndarray):
        raw = self._raw(x_ref)
        self.mean, self.std = raw.mean(0), raw.std(0)

    @staticmethod
    def _raw(x):
        return np.concatenate([x, x**2, x[:, :1] * x[:, 1:2]], axis=1)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """``[N, 2] -> [N, 5]`` float32."""
        return ((self._raw(x) - self.mean) / self.std).astype(np.float32)


def fit_softmax(phi_MND, q_MNK, w_MN, *, steps: int, prior_variance: float = PRIOR_VARIANCE):
    r"""Full-batch MAP fits of ``M`` multinomial logistic models in one vmapped, compiled run.

    .. math::
        \min_{W, b}\ \frac{\sum_i w_i\,\mathrm{CE}\big(q_i, \mathrm{softmax}(\phi_i W + b)\big)}
        {\sum_i w_i} + \frac{\|W\|^2}{2\sigma^2 N},\qquad N = \textstyle\sum_i w_i,

    by Adam (learning rate 0.1, cosine decay over ``steps``) from zero weights; ``w`` masks
    padding and ``q`` is any target distribution (one-hot labels or soft targets).

    Args:
      phi_MND: features ``[M, N, D]``; q_MNK: targets ``[M, N, K]``; w_MN: weights ``[M, N]``.

    Returns:
      ``(W [M, D, K], b [M, K])``.
    """
    d, k = phi_MND.shape[-1], q_MNK.shape[-1]
    tx = optax.adam(optax.cosine_decay_schedule(0.1, steps))

    def loss(params, phi, q, w):
        W, b = params
        logp = jax.nn.log_softmax(phi @ W + b, axis=-1)
        n = jnp.sum(w)
        ce = -jnp.sum(w * jnp.sum(q * logp, -1)) / n
        return ce + jnp.sum(W**2) / (2 * prior_variance * n)

    def one(phi, q, w):
        params = (jnp.zeros((d, k)), jnp.zeros((k,)))

        def step(carry, _):
            p, s = carry
            g = jax.grad(loss)(p, phi, q, w)
            u, s = tx.update(g, s, p)
            return (optax.apply_updates(p, u), s), None

        (params, _), _ = jax.lax.scan(step, (params, tx.init(params)), length=steps)
        return params

    return jax.jit(jax.vmap(one))(jnp.asarray(phi_MND), jnp.asarray(q_MNK), jnp.asarray(w_MN))


def linear_accuracy(W_DK, b_K, x_ND, y_N) -> float:
    """Accuracy of the linear classifier ``argmax(x W + b)`` on ``(x, y)``."""
    return float(np.mean((np.asarray(x_ND) @ W_DK + b_K).argmax(-1) == y_N))


def generalised_distillation(sets, arms, *, steps: int) -> dict[str, np.ndarray]:
    r"""Generalised distillation (Lopez-Paz et al. 2016) of ``M`` binary problems by
    :func:`fit_softmax`: per problem a teacher on the privileged inputs and the labels, then one
    student on the regular inputs per ``(imitation, temperature)`` in ``arms``, fitted to
    :func:`~bayeskd.data.privileged.generalised_targets` of the teacher's
    :func:`~bayeskd.data.privileged.privileged_table` (two vmapped runs in all).

    Args:
      sets: ``M`` splits ``(train, val, test)``, each ``(x [N, D], x_star [N, D], y [N])``
        (:func:`bayeskd.data.privileged.synthetic_sets`); every train split of one size.

    Returns:
      accuracies: ``teacher`` ``[M]`` (test, on ``x_star``); ``val`` and ``test`` ``[M, A]`` of
      the students (on ``x``).
    """
    x, x_star, y = (np.stack([tr[j] for tr, _, _ in sets]) for j in range(3))
    m, n = y.shape
    Wt, bt = (np.asarray(a) for a in fit_softmax(x_star, np.eye(2, dtype=np.float32)[y],
                                                 np.ones((m, n), np.float32), steps=steps))
    z = np.einsum("mnd,mdk->mnk", x_star, Wt) + bt[:, None]
    q = np.stack([generalised_targets(y[i], privileged_table(z[i], x_star[i], temperature=t),
                                      imitation=lam) for i in range(m) for lam, t in arms])
    Ws, bs = (np.asarray(a) for a in fit_softmax(np.repeat(x, len(arms), axis=0), q,
                                                 np.ones(q.shape[:2], np.float32), steps=steps))
    acc = np.array([[linear_accuracy(Ws[i * len(arms) + j], bs[i * len(arms) + j], *split[::2])
                     for j in range(len(arms))] for i, (_, *splits) in enumerate(sets)
                    for split in splits]).reshape(m, 2, len(arms))
    return {"teacher": np.array([linear_accuracy(Wt[i], bt[i], *test[1:])
                                 for i, (_, _, test) in enumerate(sets)]),
            "val": acc[:, 0], "test": acc[:, 1]}


@functools.partial(jax.jit, static_argnums=(0, 3))
def _value(fn, theta, data, options):
    return fn(theta, *data, **dict(options))


@functools.partial(jax.jit, static_argnums=(0, 3))
def _grad(fn, theta, data, options):
    return jax.grad(fn)(theta, *data, **dict(options))


@functools.partial(jax.jit, static_argnums=(0, 3))
def _hessian(fn, theta, data, options):
    return jax.hessian(fn)(theta, *data, **dict(options))


def newton_minimize(fn: Callable, data: tuple, dim: int, *, gtol: float = 1e-12,
                    maxiter: int = 500, **options) -> np.ndarray:
    r"""The minimiser ``[dim]`` of the smooth convex ``fn(theta, *data, **options)`` from
    :math:`\theta = 0`, by exact-Hessian trust-region Newton (scipy ``trust-exact``) until the
    gradient's norm is below ``gtol``.

    ``options`` are static (hashable hyperparameters): value, gradient and Hessian compile once
    per ``(fn, options)`` and data shape. Run it under ``jax.enable_x64(True)`` with float64
    ``data`` for answers to machine precision.

    Example:
      >>> import jax.numpy as jnp
      >>> f = lambda th, a, *, c: jnp.sum((th - a) ** 2) + c * jnp.sum(th ** 4)
      >>> newton_minimize(f, (jnp.array([1.0, -2.0]),), 2, c=0.0).round(6).tolist()
      [1.0, -2.0]
    """
    opts = tuple(sorted(options.items()))
    res = minimize(lambda v: float(_value(fn, v, data, opts)), np.zeros(dim),
                   jac=lambda v: np.asarray(_grad(fn, v, data, opts)),
                   hess=lambda v: np.asarray(_hessian(fn, v, data, opts)),
                   method="trust-exact", options={"gtol": gtol, "maxiter": maxiter})
    return np.asarray(res.x)

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

__all__ = ["PRIOR_VARIANCE", "QuadraticFeatures", "fit_softmax", "newton_minimize"]

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

r"""Multinomial logistic regression solved exactly: one convex objective to machine precision
in float64 by exact-Hessian trust-region Newton (:func:`newton_minimize`), and generalised
distillation of linear students (:func:`generalised_distillation`, each fit by
:func:`bayeskd.training.softmax_regression.fit_softmax_regression`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import numpy as np

from bayeskd.data.privileged import generalised_targets, privileged_table
from bayeskd.training.softmax_regression import fit_softmax_regression

__all__ = ["generalised_distillation", "linear_accuracy", "newton_minimize"]


def linear_accuracy(W_DK, b_K, x_ND, y_N) -> float:
    """Accuracy of the linear classifier ``argmax(x W + b)`` on ``(x, y)``."""
    return float(np.mean((np.asarray(x_ND) @ W_DK + b_K).argmax(-1) == y_N))


def generalised_distillation(sets, arms, *, steps: int) -> dict[str, np.ndarray]:
    r"""Generalised distillation (Lopez-Paz et al. 2016) of ``M`` binary problems by
    :func:`~bayeskd.training.softmax_regression.fit_softmax_regression`: per problem a teacher on the privileged inputs and the labels, then one
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
    Wt, bt = (np.asarray(a) for a in fit_softmax_regression(
        x_star, np.eye(2, dtype=np.float32)[y], np.ones((m, n), np.float32), steps=steps))
    z = np.einsum("mnd,mdk->mnk", x_star, Wt) + bt[:, None]
    q = np.stack([generalised_targets(y[i], privileged_table(z[i], x_star[i], temperature=t),
                                      imitation=lam) for i in range(m) for lam, t in arms])
    Ws, bs = (np.asarray(a) for a in fit_softmax_regression(
        np.repeat(x, len(arms), axis=0), q, np.ones(q.shape[:2], np.float32), steps=steps))
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
    from scipy.optimize import minimize  # SciPy loads when a solver first runs

    opts = tuple(sorted(options.items()))
    res = minimize(lambda v: float(_value(fn, v, data, opts)), np.zeros(dim),
                   jac=lambda v: np.asarray(_grad(fn, v, data, opts)),
                   hess=lambda v: np.asarray(_hessian(fn, v, data, opts)),
                   method="trust-exact", options={"gtol": gtol, "maxiter": maxiter})
    return np.asarray(res.x)

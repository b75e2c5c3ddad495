r"""Multinomial logistic regression on fixed features, fit to convergence: many fits in one
compiled, vmapped run.

A student whose family contains the Bayes posterior of a Gaussian mixture with class-specific
covariances (logits quadratic in :math:`x`) isolates what the *targets* do from what
optimisation and capacity do (Menon et al. 2021). :class:`QuadraticFeatures` is that family's
feature map; :func:`fit_softmax_regression` the full-batch MAP fit.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, ArrayLike, Float

__all__ = ["PRIOR_VARIANCE", "QuadraticFeatures", "fit_softmax_regression", "pad_sets",
           "quadratic_features"]

#: The default prior variance of the weights, :math:`\sigma^2`.
PRIOR_VARIANCE = 10.0


def quadratic_features(x: np.ndarray) -> np.ndarray:
    r"""``[N, D]`` inputs to ``[N, 2D + D(D-1)/2]`` features: :math:`x_i`, then :math:`x_i^2`,
    then :math:`x_i x_j` for :math:`i < j` (for 2-D: ``[x1, x2, x1², x2², x1 x2]``).

    >>> quadratic_features(np.array([[2.0, 3.0]])).tolist()
    [[2.0, 3.0, 4.0, 9.0, 6.0]]
    """
    pairs = [x[:, i:i + 1] * x[:, j:j + 1] for i, j in itertools.combinations(range(x.shape[1]), 2)]
    return np.concatenate([x, x**2, *pairs], axis=1)


@dataclasses.dataclass(frozen=True)
class QuadraticFeatures:
    """:func:`quadratic_features` standardised by the mean and std of a reference sample
    (fixed constants, so every fit sees the same map). Build with :meth:`fit`."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, x_ref: np.ndarray) -> QuadraticFeatures:
        raw = quadratic_features(x_ref)
        return cls(raw.mean(0), raw.std(0))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return ((quadratic_features(x) - self.mean) / self.std).astype(np.float32)


def pad_sets(sets: list[tuple[np.ndarray, ...]]) -> tuple[np.ndarray, ...]:
    """Training sets of different sizes as float32 arrays ``[M, max n, ...]`` (zero rows
    appended) and their mask ``[M, max n]`` (1 on real rows, the ``w`` of
    :func:`fit_softmax_regression`): ``sets[m]`` is a tuple of arrays ``[n_m, ...]``.

    >>> x, q, w = pad_sets([(np.ones((1, 2)), np.ones((1, 3))), (np.ones((2, 2)), np.ones((2, 3)))])
    >>> x.shape, q.shape, w.tolist()
    ((2, 2, 2), (2, 2, 3), [[1.0, 0.0], [1.0, 1.0]])
    """
    n_max = max(len(arrays[0]) for arrays in sets)
    out = [np.zeros((len(sets), n_max, *a.shape[1:]), np.float32) for a in sets[0]]
    mask = np.zeros((len(sets), n_max), np.float32)
    for m, arrays in enumerate(sets):
        mask[m, :len(arrays[0])] = 1.0
        for o, a in zip(out, arrays, strict=True):
            o[m, :len(a)] = a
    return (*out, mask)


def fit_softmax_regression(
    phi_MND: Float[ArrayLike, "members rows features"],
    q_MNK: Float[ArrayLike, "members rows classes"],
    w_MN: Float[ArrayLike, "members rows"],
    *,
    steps: int,
    prior_variance: float = PRIOR_VARIANCE,
    learning_rate: float = 0.1,
) -> tuple[Float[Array, "members features classes"], Float[Array, "members classes"]]:
    r"""Full-batch MAP fits of ``M`` multinomial logistic models, one per member, in one run.

    Member ``m`` minimises

    .. math::
        \frac{\sum_i w_i \,\mathrm{CE}\big(q_i, \mathrm{softmax}(\phi_i W + b)\big)}{\sum_i w_i}
        + \frac{\|W\|^2}{2 \sigma^2 \sum_i w_i}

    (a Gaussian prior of variance :math:`\sigma^2` on the weights, none on the bias; ``w``
    masks padding rows, so members with different row counts share one array) by ``steps``
    steps of Adam from zero, the learning rate decaying from ``learning_rate`` by a cosine.
    Soft targets ``q`` are any distributions over the classes (one-hot labels included).

    Returns:
      ``(W [M, D, K], b [M, K])``.
    """
    return _fit(jnp.asarray(phi_MND), jnp.asarray(q_MNK), jnp.asarray(w_MN), steps=steps,
                prior_variance=float(prior_variance), learning_rate=float(learning_rate))


@functools.partial(jax.jit, static_argnames=("steps", "prior_variance", "learning_rate"))
def _fit(phi_MND, q_MNK, w_MN, *, steps, prior_variance, learning_rate):
    d, k = phi_MND.shape[-1], q_MNK.shape[-1]
    tx = optax.adam(optax.cosine_decay_schedule(learning_rate, steps))

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
            u, s = tx.update(jax.grad(loss)(p, phi, q, w), s, p)
            return (optax.apply_updates(p, u), s), None

        (params, _), _ = jax.lax.scan(step, (params, tx.init(params)), length=steps)
        return params

    return jax.vmap(one)(phi_MND, q_MNK, w_MN)

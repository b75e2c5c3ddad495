r"""Full-batch Langevin dynamics in Hessian-whitened coordinates, for small smooth posteriors.

To sample :math:`p(\theta)\propto\exp(-N\,u(\theta))` (``u`` the potential per example) near a
mode :math:`\hat\theta`, write :math:`\theta = \hat\theta + Lz` with :math:`LL^\top = H^{-1}`,
:math:`H = N\nabla^2u(\hat\theta)`. The map is constant and linear, so the target is unchanged,
while the potential in :math:`z` is close to :math:`\|z\|^2/2` and one step size mixes every
direction. The chain is the library's :func:`bayeskd.posteriors.sgld` on the exact gradient
(unadjusted Langevin: the step adds a small bias), ``chains`` chains started at the mode.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from bayeskd.posteriors.sgld import sgld

__all__ = ["whitened_langevin"]


def whitened_langevin(potential: Callable, theta_D: jax.Array, data: tuple, *, num_data: int,
                      step_size: float, burn_in: int, samples: int, thin: int,
                      keys: jax.Array) -> jax.Array:
    r"""Samples ``[C, samples, D]`` of :math:`\exp(-N\,u(\theta))` from ``C = len(keys)`` chains.

    Args:
      potential: ``u(theta, *data) -> []``, the negative log density per example.
      theta_D: the mode ``[D]`` where the Hessian is taken and every chain starts.
      data: the arguments after ``theta`` of ``potential``.
      num_data: ``N``; step_size: the SGLD step; burn_in: steps before the first draw;
      samples: draws kept per chain, one every ``thin`` steps.
      keys: one key per chain ``[C]``.

    Pure and traceable: ``jax.vmap`` it over several modes and data sets, then ``jax.jit``.
    """
    hess = num_data * jax.hessian(potential)(theta_D, *data)
    chol = jnp.linalg.cholesky(jnp.linalg.inv(hess))

    def chain(key):
        tx = sgld(step_size, num_data=num_data, key=key)
        u = lambda z: potential(theta_D + chol @ z, *data)  # noqa: E731

        def step(carry, _):
            z, st = carry
            upd, st = tx.update(jax.grad(u)(z), st, z)
            return (optax.apply_updates(z, upd), st), None

        def keep(carry, _):
            carry, _ = jax.lax.scan(step, carry, length=thin)
            return carry, theta_D + chol @ carry[0]

        z0 = jnp.zeros_like(theta_D)
        carry, _ = jax.lax.scan(step, (z0, tx.init(z0)), length=burn_in)
        return jax.lax.scan(keep, carry, length=samples)[1]

    return jax.vmap(chain)(keys)

r"""A unimodal student fitted to a bimodal teacher under a divergence: where the mass goes.

The teacher (:func:`bimodal_teacher`) is a distribution over ``V`` tokens with two discretised
Gaussian bumps,

.. math::
    p_v \propto w_a\, e^{-(v - c_a)^2 / 2 s^2} + w_b\, e^{-(v - c_b)^2 / 2 s^2} + \epsilon,
    \quad c_a = V/4,\ c_b = 3V/4,\ s = V/16,

(:math:`w_a = 0.6`, :math:`w_b = 0.4`, :math:`\epsilon = 10^{-6}` by default). The student can
only be unimodal (:func:`gaussian_logits`): :math:`q_v \propto e^{-(v/V - \mu)^2 / 2\sigma^2}`
with parameters :math:`\theta = (\mu, \log\sigma)` in units of ``V`` (both of order one for any
``V``). :func:`fit_unimodal` minimises ``divergence(teacher, student)`` of
:func:`bayeskd.losses.divergence` over :math:`\theta` by Adam from a random mean;
:func:`region_masses` reports the student's mass on each mode (within :math:`\pm 2s` of its
centre), in the valley between them, and its entropy.

Forward KL is mode-covering (its minimiser over a Gaussian family matches the teacher's mean and
variance), reverse KL mode-seeking (Minka 2005; MiniLLM, Gu et al. 2024, Fig. 2).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, ArrayLike, Float

from bayeskd.losses.divergences import divergence

__all__ = ["bimodal_teacher", "fit_unimodal", "gaussian_logits", "region_masses"]


def bimodal_teacher(vocab_size: int, *, weights: tuple[float, float] = (0.6, 0.4),
                    floor: float = 1e-6) -> tuple[Float[Array, " V"], dict[str, np.ndarray]]:
    """Teacher log-probabilities ``[V]`` and the token masks ``[V]`` of its regions
    (``mode_a``, ``mode_b``: within two widths of each centre; ``valley``: the rest).

    Example:
      >>> logp, regions = bimodal_teacher(64)
      >>> round(float(jnp.exp(logp).sum()), 5), int(regions["mode_a"].sum())
      (1.0, 17)
    """
    v = jnp.arange(vocab_size, dtype=jnp.float32)
    width = vocab_size / 16
    c1, c2 = vocab_size / 4, 3 * vocab_size / 4
    p = (weights[0] * jnp.exp(-0.5 * ((v - c1) / width) ** 2)
         + weights[1] * jnp.exp(-0.5 * ((v - c2) / width) ** 2) + floor)
    tokens = np.arange(vocab_size)
    regions = {"mode_a": np.abs(tokens - c1) <= 2 * width,
               "mode_b": np.abs(tokens - c2) <= 2 * width}
    regions["valley"] = ~(regions["mode_a"] | regions["mode_b"])
    return jnp.log(p / p.sum()), regions


def gaussian_logits(theta: Float[ArrayLike, " 2"], vocab_size: int) -> Float[Array, " V"]:
    r"""Logits ``[V]`` of the discretised Gaussian student,
    :math:`-\tfrac12 ((v/V - \theta_0) / e^{\theta_1})^2`."""
    v = jnp.arange(vocab_size, dtype=jnp.float32) / vocab_size
    return -0.5 * ((v - theta[0]) / jnp.exp(theta[1])) ** 2


def fit_unimodal(teacher_logp: Float[ArrayLike, " V"], *, name: str, beta: float = 0.5,
                 key: jax.Array, steps: int, learning_rate: float = 0.02,
                 init_log_sigma: float = float(np.log(1 / 8))) -> Float[Array, " 2"]:
    r""":math:`\theta = (\mu, \log\sigma)` (units of ``V``) minimising
    ``divergence(teacher_logp, gaussian_logits(theta), name=name, beta=beta)``: ``steps`` Adam
    steps from :math:`\mu_0 \sim U(0.1, 0.9)` (drawn from ``key``) and
    :math:`\log\sigma_0` = ``init_log_sigma``.

    Args:
      teacher_logp: the teacher's log-probabilities ``[V]``.
      name, beta: the divergence (:data:`bayeskd.losses.DIVERGENCES`) and its JSD weight.
      key: the starting mean's randomness.
      steps: Adam steps (learning rate ``learning_rate``).
    """
    teacher_logp = jnp.asarray(teacher_logp)
    vocab = teacher_logp.shape[0]
    mu0 = jax.random.uniform(key, (), minval=0.1, maxval=0.9)
    theta = jnp.stack([mu0, jnp.asarray(init_log_sigma, jnp.float32)])
    tx = optax.adam(learning_rate)

    def loss(t):
        return divergence(teacher_logp, gaussian_logits(t, vocab), name=name, beta=beta)

    def step(carry, _):
        t, s = carry
        u, s = tx.update(jax.grad(loss)(t), s, t)
        return (optax.apply_updates(t, u), s), None

    (theta, _), _ = jax.lax.scan(step, (theta, tx.init(theta)), length=steps)
    return theta


def region_masses(theta: Float[ArrayLike, " 2"], regions: dict[str, np.ndarray]) -> dict:
    """The fitted student in token units and its mass on each region: ``mu``, ``sigma``,
    ``mass_mode_a``, ``mass_mode_b``, ``mass_major_mode`` (the larger), ``mass_valley`` and its
    ``entropy`` (nats), as floats."""
    vocab = len(regions["valley"])
    q = np.asarray(jax.nn.softmax(gaussian_logits(jnp.asarray(theta), vocab)), np.float64)
    a, b = float(q[regions["mode_a"]].sum()), float(q[regions["mode_b"]].sum())
    return {"mu": float(theta[0]) * vocab, "sigma": float(np.exp(theta[1])) * vocab,
            "mass_mode_a": a, "mass_mode_b": b, "mass_major_mode": max(a, b),
            "mass_valley": float(q[regions["valley"]].sum()),
            "entropy": float(-(q * np.log(q + 1e-30)).sum())}

"""Divergences between a teacher and a student, on logits, one value per example.

All functions take logits (or log-probabilities: they are shift invariant), work through
``log_softmax`` so they stay finite for logits up to about ``1e4`` in magnitude and temperatures from
``0.05`` to ``100``, and return one value per example without reduction.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike
from jaxtyping import Array, Float, Int

from bayeskd.validate import check_temperature


def as_float(x: ArrayLike) -> jax.Array:
    """``x`` as a floating array of at least float32 precision (float64 stays float64)."""
    x = jnp.asarray(x)
    return x.astype(jnp.promote_types(x.dtype, jnp.float32))






def _check_pair(teacher_logits, student_logits) -> None:
    ts, ss = jnp.shape(teacher_logits), jnp.shape(student_logits)
    if ts != ss:
        raise ValueError(
            f"teacher_logits: shape {ts} must equal student_logits shape {ss} "
            "(same batch and the same number of classes)"
        )


def softmax_cross_entropy(
    logits: Float[ArrayLike, "*batch classes"], labels: Int[ArrayLike, "*batch"]
) -> Float[Array, "*batch"]:
    r"""Cross-entropy of integer labels under ``softmax(logits)``.

    .. math::
        \ell(z, y) = -\log \mathrm{softmax}(z)_y = \log\sum_k e^{z_k} - z_y

    Example:
      >>> float(softmax_cross_entropy(jnp.array([0.0, 0.0]), jnp.array(1)))  # doctest: +ELLIPSIS
      0.693...
    """
    logp = jax.nn.log_softmax(as_float(logits), axis=-1)
    return -jnp.take_along_axis(logp, jnp.asarray(labels)[..., None], axis=-1)[..., 0]


def soft_cross_entropy(
    logits: Float[ArrayLike, "*batch classes"], target_probs: Float[ArrayLike, "*batch classes"]
) -> Float[Array, "*batch"]:
    r"""Cross-entropy of a soft target distribution under ``softmax(logits)``.

    .. math::
        \ell(z, q) = -\sum_k q_k \log \mathrm{softmax}(z)_k
    """
    logp = jax.nn.log_softmax(as_float(logits), axis=-1)
    return -jnp.sum(jnp.asarray(target_probs) * logp, axis=-1)


def kl_divergence(
    teacher_logits: Float[ArrayLike, "*batch classes"],
    student_logits: Float[ArrayLike, "*batch classes"],
    *,
    temperature: float = 1.0,
) -> Float[Array, "*batch"]:
    r"""Forward KL from the tempered teacher to the tempered student, times :math:`T^2`.

    The distillation term of Hinton, Vinyals & Dean (2015). With
    :math:`p^{(T)} = \mathrm{softmax}(z / T)`,

    .. math::
        D(z_t, z_s) = T^2 \, \mathrm{KL}\big(p_t^{(T)} \,\|\, p_s^{(T)}\big)
                    = T^2 \sum_k p^{(T)}_{t,k} \big(\log p^{(T)}_{t,k} - \log p^{(T)}_{s,k}\big).

    The :math:`T^2` factor keeps the gradient's scale roughly independent of ``T`` (Hinton et al.
    2015, §2). Teacher classes of probability zero contribute zero, never ``0 * inf``.

    Args:
      teacher_logits: ``[..., K]`` logits or log-probabilities of the teacher.
      student_logits: ``[..., K]`` logits of the student.
      temperature: ``T > 0``.

    Returns:
      ``[...]`` one non-negative value per example.

    Example:
      >>> z = jnp.array([[1.0, 2.0, 3.0]])
      >>> float(kl_divergence(z, z + 5.0, temperature=2.0))
      0.0
    """
    check_temperature(temperature)
    _check_pair(teacher_logits, student_logits)
    t_logp = jax.nn.log_softmax(as_float(teacher_logits) / temperature, axis=-1)
    s_logp = jax.nn.log_softmax(as_float(student_logits) / temperature, axis=-1)
    t_p = jnp.exp(t_logp)
    kl = jnp.sum(jnp.where(t_p > 0, t_p * (t_logp - s_logp), 0.0), axis=-1)
    return temperature**2 * jnp.maximum(kl, 0.0)


def reverse_kl_divergence(
    teacher_logits: Float[ArrayLike, "*batch classes"],
    student_logits: Float[ArrayLike, "*batch classes"],
    *,
    temperature: float = 1.0,
) -> Float[Array, "*batch"]:
    r"""Reverse (mode-seeking) KL from the student to the teacher, times :math:`T^2`.

    .. math::
        D(z_t, z_s) = T^2 \, \mathrm{KL}\big(p_s^{(T)} \,\|\, p_t^{(T)}\big)

    Used for on-policy LLM distillation (Gu et al. 2024, MiniLLM).
    """
    return kl_divergence(student_logits, teacher_logits, temperature=temperature)


def tempered_log_probs(
    logits: Float[ArrayLike, "*batch classes"], *, temperature: float = 1.0
) -> Float[Array, "*batch classes"]:
    r"""``log softmax(z / T)``: the tempered distribution, :math:`p^{(T)} \propto p^{1/T}`."""
    check_temperature(temperature)
    return jax.nn.log_softmax(as_float(logits) / temperature, axis=-1)


def log_mean_probs(member_logits: Float[ArrayLike, "*batch members classes"]) -> Float[Array, "*batch classes"]:
    r"""Log of the members' mean probability: the predictive of an ensemble or posterior sample.

    .. math::
        \log \bar p_k = \log \frac1M \sum_m \mathrm{softmax}(z_m)_k
        = \mathrm{logsumexp}_m\, \log\mathrm{softmax}(z_m)_k - \log M

    Averaging happens in probability space, as the posterior predictive
    :math:`\mathbb{E}_{\theta}[p(y\mid x,\theta)]` asks, not in logit space.
    """
    logp = jax.nn.log_softmax(as_float(member_logits), axis=-1)
    m = logp.shape[-2]
    return jax.nn.logsumexp(logp, axis=-2) - jnp.log(m)


DIVERGENCES = ("forward_kl", "reverse_kl")


def divergence(
    teacher_logits: Float[ArrayLike, "*batch classes"],
    student_logits: Float[ArrayLike, "*batch classes"],
    *,
    name: str = "forward_kl",
    temperature: float = 1.0,
) -> Float[Array, "*batch"]:
    """The divergence ``name`` of :data:`DIVERGENCES`, one value per example."""
    fn = {"forward_kl": kl_divergence, "reverse_kl": reverse_kl_divergence}[name]
    return fn(teacher_logits, student_logits, temperature=temperature)

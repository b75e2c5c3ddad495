r"""Divergences between a teacher and a student, on logits, one value per example.

All functions take logits (or log-probabilities: they are shift invariant), work through
``log_softmax`` so they stay finite for logits up to about ``1e4`` in magnitude and temperatures from
``0.05`` to ``100``, and return one value per example without reduction.

**The divergence table.** :data:`TABLE` holds every teacher-student divergence once: its value and
its closed-form gradient with respect to the tempered student logits :math:`s = z_s / T`, both as
functions of the tempered log-probabilities ``(logp_t, logp_s, params)``. :func:`divergence` reads
the value (and is differentiated by autodiff); :func:`divergence_value_and_grad` reads both, and is
what the chunked kernel (:mod:`bayeskd.losses.fused`) uses, so no formula is written twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike
from jaxtyping import Array, Float, Int

from bayeskd.validate import check_choice, check_temperature, check_unit_interval


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


# --------------------------------------------------------------------------------------------------
# The table: value and closed-form gradient of each divergence, on tempered log-probabilities.
# Below, q = p_t (teacher), p = p_s (student), both tempered, and every gradient is with respect to
# the tempered student logits s, for which d p_k / d s_j = p_k (delta_kj - p_j).
# --------------------------------------------------------------------------------------------------


class DivergenceParams(NamedTuple):
    """Hyperparameters some divergences read: ``beta`` (JSD) and ``lam`` (skew KLs).

    ``axis_name`` names a mesh axis over which the classes are split (inside ``shard_map``):
    every sum over classes is then completed with ``psum`` over it (:func:`class_sum`).
    """

    beta: float | Array = 0.5
    lam: float | Array = 0.1
    axis_name: str | None = None


def class_sum(x: Array, axis_name: str | None = None, *, keepdims: bool = False) -> Array:
    r""":math:`\sum_k x_k` over the last axis; with ``axis_name`` the classes are split over that
    mesh axis and the partial sums are added with ``psum``."""
    s = jnp.sum(x, axis=-1, keepdims=keepdims)
    return s if axis_name is None else jax.lax.psum(s, axis_name)


def log_softmax(z: Array, axis_name: str | None = None) -> Array:
    r"""``log softmax(z)`` over the last axis; with ``axis_name`` the classes are split over that
    mesh axis: :math:`z - m - \log \sum_k e^{z_k - m}` with the global maximum ``m`` (``pmax``)
    and the global sum (``psum``)."""
    if axis_name is None:
        return jax.nn.log_softmax(z, axis=-1)
    m = jax.lax.stop_gradient(jax.lax.pmax(jnp.max(z, axis=-1, keepdims=True), axis_name))
    return z - m - jnp.log(class_sum(jnp.exp(z - m), axis_name, keepdims=True))


class DivergenceEntry(NamedTuple):
    """One row of :data:`TABLE`.

    Attributes:
      value: ``(logp_t [..., K], logp_s [..., K], params) -> [...]``, the divergence of the tempered
        distributions (before any :math:`T^2`).
      grad: same arguments ``-> [..., K]``, the closed-form derivative of ``value`` with respect to
        the tempered student logits :math:`s = z_s / T`.
      t2: whether :func:`divergence` multiplies the value by :math:`T^2` (the KL family, Hinton et
        al. 2015) or leaves it as is (total variation, a bounded distance).
    """

    value: Callable[[Array, Array, DivergenceParams], Array]
    grad: Callable[[Array, Array, DivergenceParams], Array]
    t2: bool


def _kl(logp_a: Array, logp_b: Array, axis_name: str | None = None) -> Array:
    r""":math:`\mathrm{KL}(a\|b) = \sum_k a_k (\log a_k - \log b_k)`; classes with :math:`a_k = 0`
    contribute zero, never ``0 * inf``."""
    p_a = jnp.exp(logp_a)
    return class_sum(jnp.where(p_a > 0, p_a * (logp_a - logp_b), 0.0), axis_name)


def _log_mix(logp_a: Array, logp_b: Array, w) -> Array:
    r""":math:`\log(w\, a + (1 - w)\, b)` in log space; finite at ``w = 0`` and ``w = 1``."""
    return jnp.logaddexp(jnp.log(w) + logp_a, jnp.log1p(-w) + logp_b)


def _through_softmax(p: Array, g: Array, axis_name: str | None = None) -> Array:
    r"""Chain rule through :math:`p = \mathrm{softmax}(s)`: :math:`p \odot (g - \sum_k p_k g_k)`
    for :math:`g = \partial f / \partial p`."""
    return p * (g - class_sum(p * g, axis_name, keepdims=True))


def _forward_kl_grad(logp_t, logp_s, params):
    del params
    return jnp.exp(logp_s) - jnp.exp(logp_t)  # p - q


def _reverse_kl_grad(logp_t, logp_s, params):
    # p (a - KL(p||q)), a = log p/q
    return _through_softmax(jnp.exp(logp_s), logp_s - logp_t, params.axis_name)


def _jsd_value(logp_t, logp_s, params):
    beta = params.beta
    logm = _log_mix(logp_t, logp_s, beta)
    ax = params.axis_name
    return beta * _kl(logp_t, logm, ax) + (1.0 - beta) * _kl(logp_s, logm, ax)


def _jsd_grad(logp_t, logp_s, params):
    # d/dp [beta KL(q||m) + (1-beta) KL(p||m)] = (1-beta) (log p - log m) + const.
    beta = params.beta
    logm = _log_mix(logp_t, logp_s, beta)
    return (1.0 - beta) * _through_softmax(jnp.exp(logp_s), logp_s - logm, params.axis_name)


def _skew_kl_value(logp_t, logp_s, params):
    return _kl(logp_t, _log_mix(logp_t, logp_s, params.lam), params.axis_name)


def _skew_kl_grad(logp_t, logp_s, params):
    # d/dp_k KL(q||m) = -(1-lam) q_k / m_k; through the softmax: (1-lam) (p sum_j r_j - r), with
    # r = p q / m formed in log space (bounded by q / (1-lam), so no 0 * inf where p underflows).
    lam = params.lam
    r = jnp.exp(logp_s + logp_t - _log_mix(logp_t, logp_s, lam))
    return (1.0 - lam) * (jnp.exp(logp_s) * class_sum(r, params.axis_name, keepdims=True) - r)


def _skew_reverse_kl_value(logp_t, logp_s, params):
    return _kl(logp_s, _log_mix(logp_s, logp_t, params.lam), params.axis_name)


def _skew_reverse_kl_grad(logp_t, logp_s, params):
    # d/dp_k KL(p||m) = log p_k - log m_k - lam p_k / m_k + 1, m = lam p + (1-lam) q.
    lam = params.lam
    logm = _log_mix(logp_s, logp_t, lam)
    return _through_softmax(jnp.exp(logp_s), logp_s - logm - lam * jnp.exp(logp_s - logm),
                            params.axis_name)


def _tvd_value(logp_t, logp_s, params):  # the same p - q as the gradient
    return 0.5 * class_sum(jnp.abs(jnp.exp(logp_s) - jnp.exp(logp_t)), params.axis_name)


def _tvd_grad(logp_t, logp_s, params):
    p = jnp.exp(logp_s)
    return _through_softmax(p, 0.5 * jnp.sign(p - jnp.exp(logp_t)), params.axis_name)


#: name -> (value, closed-form gradient w.r.t. the tempered student logits, T^2-scaled?).
TABLE: dict[str, DivergenceEntry] = {
    "forward_kl": DivergenceEntry(lambda lt, ls, p: _kl(lt, ls, p.axis_name), _forward_kl_grad, True),
    "reverse_kl": DivergenceEntry(lambda lt, ls, p: _kl(ls, lt, p.axis_name), _reverse_kl_grad, True),
    "jsd": DivergenceEntry(_jsd_value, _jsd_grad, True),
    "skew_kl": DivergenceEntry(_skew_kl_value, _skew_kl_grad, True),
    "tvd": DivergenceEntry(_tvd_value, _tvd_grad, False),
    "skew_reverse_kl": DivergenceEntry(_skew_reverse_kl_value, _skew_reverse_kl_grad, True),
}

#: The names :func:`divergence` accepts, in :data:`TABLE` order.
DIVERGENCES: tuple[str, ...] = tuple(TABLE)


def _checked(name, teacher_logits, student_logits, temperature, beta, lam) -> None:
    check_choice(name, DIVERGENCES, name="name")
    check_temperature(temperature)
    check_unit_interval(beta, name="beta", open_ends=True)
    check_unit_interval(lam, name="lam")
    _check_pair(teacher_logits, student_logits)


def _tempered(teacher_logits, student_logits, temperature,
              axis_name: str | None = None) -> tuple[Array, Array]:
    logp_t = log_softmax(as_float(teacher_logits) / temperature, axis_name)
    logp_s = log_softmax(as_float(student_logits) / temperature, axis_name)
    return logp_t, logp_s


def divergence(
    teacher_logits: Float[ArrayLike, "*batch classes"],
    student_logits: Float[ArrayLike, "*batch classes"],
    *,
    name: str = "forward_kl",
    temperature: float = 1.0,
    beta: float = 0.5,
    lam: float = 0.1,
) -> Float[Array, "*batch"]:
    r"""A divergence of the tempered student from the tempered teacher, one value per example.

    With :math:`q = \mathrm{softmax}(z_t / T)` (teacher) and :math:`p = \mathrm{softmax}(z_s / T)`
    (student), ``name`` selects

    .. math::
        \text{forward\_kl} &= T^2\, \mathrm{KL}(q \,\|\, p), \qquad
        \text{reverse\_kl} = T^2\, \mathrm{KL}(p \,\|\, q), \\
        \text{jsd} &= T^2 \big[\beta\, \mathrm{KL}(q \,\|\, m_\beta)
            + (1 - \beta)\, \mathrm{KL}(p \,\|\, m_\beta)\big],
            \quad m_\beta = \beta q + (1 - \beta) p, \\
        \text{skew\_kl} &= T^2\, \mathrm{KL}\big(q \,\|\, \lambda q + (1 - \lambda) p\big), \qquad
        \text{skew\_reverse\_kl} = T^2\, \mathrm{KL}\big(p \,\|\, \lambda p + (1 - \lambda) q\big), \\
        \text{tvd} &= \tfrac12 \textstyle\sum_k |q_k - p_k| \quad (\text{no } T^2).

    Forward KL is Hinton, Vinyals & Dean (2015), whose :math:`T^2` keeps the gradient's scale
    roughly independent of ``T``; reverse KL is MiniLLM's (Gu et al. 2024); the generalised JSD
    follows GKD (Agarwal et al. 2024) and trl, with the limits
    :math:`\text{jsd}/\beta \to \text{forward\_kl}` as :math:`\beta \to 0` and
    :math:`\text{jsd}/(1 - \beta) \to \text{reverse\_kl}` as :math:`\beta \to 1` (at the endpoints
    themselves it is zero, so ``beta`` must lie in the open interval); the skew KLs are DistiLLM's
    (Ko et al. 2024): ``lam = 0`` gives the plain KL, ``lam = 1`` gives zero, and for
    ``lam > 0`` the value is at most :math:`T^2 \log(1/\lambda)` however far apart ``p`` and ``q``
    are.

    The value comes from :data:`TABLE`; ``jax.grad`` of it is ordinary autodiff, which the tests
    check against the table's closed-form gradient (:func:`divergence_value_and_grad`). Values
    are clipped at zero (rounding can make them ``-1e-9``). Every entry is shift invariant in
    each argument's logits.

    Args:
      teacher_logits: ``[..., K]`` logits or log-probabilities of the teacher.
      student_logits: ``[..., K]`` logits of the student.
      name: one of :data:`DIVERGENCES` (static).
      temperature: :math:`T > 0`.
      beta: :math:`\beta \in (0, 1)`, read by ``"jsd"`` only.
      lam: :math:`\lambda \in [0, 1]`, read by the skew KLs only (DistiLLM's default 0.1).

    Returns:
      ``[...]`` one non-negative value per example.

    Raises:
      ValueError: before any work, for an unknown ``name``, a bad ``temperature``, ``beta`` or
        ``lam``, or logits of different shapes.

    Example:
      >>> zt, zs = jnp.log(jnp.array([0.5, 0.5])), jnp.log(jnp.array([0.25, 0.75]))
      >>> round(float(divergence(zt, zs, name="tvd")), 6)
      0.25
      >>> float(divergence(zt, zs, name="skew_kl", lam=1.0))
      0.0
    """
    _checked(name, teacher_logits, student_logits, temperature, beta, lam)
    logp_t, logp_s = _tempered(teacher_logits, student_logits, temperature)
    entry = TABLE[name]
    value = jnp.maximum(entry.value(logp_t, logp_s, DivergenceParams(beta, lam)), 0.0)
    return temperature**2 * value if entry.t2 else value


def divergence_value_and_grad(
    teacher_logits: Float[ArrayLike, "*batch classes"],
    student_logits: Float[ArrayLike, "*batch classes"],
    *,
    name: str = "forward_kl",
    temperature: float = 1.0,
    beta: float = 0.5,
    lam: float = 0.1,
    axis_name: str | None = None,
) -> tuple[Float[Array, "*batch"], Float[Array, "*batch classes"]]:
    r""":func:`divergence` and its closed-form gradient with respect to ``student_logits``.

    With :math:`s = z_s / T` and the table's :math:`\partial D / \partial s` (``TABLE[name].grad``),

    .. math::
        \frac{\partial}{\partial z_s}\, c\, D = \frac{c}{T}\, \frac{\partial D}{\partial s},
        \qquad c = T^2 \text{ (KL family) or } 1 \text{ (tvd)},

    e.g. :math:`T (p - q)` for forward KL. The gradient is written out, not taken by autodiff, so
    a caller can form it in the forward pass (the chunked kernel does); it equals
    ``jax.grad`` of :func:`divergence` summed over examples. Arguments and checks as in
    :func:`divergence`; ``axis_name`` (inside ``shard_map``) says the classes are split over that
    mesh axis: the value is then complete on every device and the gradient is the local slice.

    Returns:
      ``(value [...], d value / d student_logits [..., K])``.

    Example:
      >>> zt, zs = jnp.array([0.0, 1.0]), jnp.array([1.0, 0.0])
      >>> v, g = divergence_value_and_grad(zt, zs, temperature=2.0)
      >>> bool(jnp.allclose(g, 2.0 * (jax.nn.softmax(zs / 2) - jax.nn.softmax(zt / 2))))
      True
    """
    _checked(name, teacher_logits, student_logits, temperature, beta, lam)
    logp_t, logp_s = _tempered(teacher_logits, student_logits, temperature, axis_name)
    entry, params = TABLE[name], DivergenceParams(beta, lam, axis_name)
    value = jnp.maximum(entry.value(logp_t, logp_s, params), 0.0)
    scale = temperature**2 if entry.t2 else 1.0
    return scale * value, (scale / temperature) * entry.grad(logp_t, logp_s, params)


def kl_divergence(
    teacher_logits: Float[ArrayLike, "*batch classes"],
    student_logits: Float[ArrayLike, "*batch classes"],
    *,
    temperature: float = 1.0,
) -> Float[Array, "*batch"]:
    r"""Forward KL from the tempered teacher to the tempered student, times :math:`T^2`.

    The distillation term of Hinton, Vinyals & Dean (2015): :func:`divergence` with
    ``name="forward_kl"``. With :math:`p^{(T)} = \mathrm{softmax}(z / T)`,

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
      >>> float(kl_divergence(z, z + 5.0, temperature=2.0)[0])
      0.0
    """
    return divergence(teacher_logits, student_logits, name="forward_kl", temperature=temperature)


def reverse_kl_divergence(
    teacher_logits: Float[ArrayLike, "*batch classes"],
    student_logits: Float[ArrayLike, "*batch classes"],
    *,
    temperature: float = 1.0,
) -> Float[Array, "*batch"]:
    r"""Reverse (mode-seeking) KL from the student to the teacher, times :math:`T^2`.

    .. math::
        D(z_t, z_s) = T^2 \, \mathrm{KL}\big(p_s^{(T)} \,\|\, p_t^{(T)}\big)

    Used for on-policy LLM distillation (Gu et al. 2024, MiniLLM): :func:`divergence` with
    ``name="reverse_kl"``.
    """
    return divergence(teacher_logits, student_logits, name="reverse_kl", temperature=temperature)


def tempered_log_probs(
    logits: Float[ArrayLike, "*batch classes"], *, temperature: float = 1.0
) -> Float[Array, "*batch classes"]:
    r"""``log softmax(z / T)``: the tempered distribution, :math:`p^{(T)} \propto p^{1/T}`."""
    check_temperature(temperature)
    return jax.nn.log_softmax(as_float(logits) / temperature, axis=-1)


def log_mean_probs(member_logits: Float[ArrayLike, "*batch members classes"], *,
                   member_scores: Float[ArrayLike, "*batch members"] | None = None,
                   ) -> Float[Array, "*batch classes"]:
    r"""Log of the members' mean probability: the predictive of an ensemble or posterior sample.

    .. math::
        \log \bar p_k = \log \frac1M \sum_m \mathrm{softmax}(z_m)_k
        = \mathrm{logsumexp}_m\, \log\mathrm{softmax}(z_m)_k - \log M

    Averaging happens in probability space, as the posterior predictive
    :math:`\mathbb{E}_{\theta}[p(y\mid x,\theta)]` asks, not in logit space. With
    ``member_scores`` :math:`s` the mean is weighted by :math:`w = \mathrm{softmax}(s)`,
    :math:`\log \sum_m w_m\, \mathrm{softmax}(z_m)_k`: a mixture whose weights are a posterior
    over the members (RAG's marginal over retrieved documents, Lewis et al. 2020).
    """
    logp = jax.nn.log_softmax(as_float(member_logits), axis=-1)
    m = logp.shape[-2]
    if member_scores is None:
        return jax.nn.logsumexp(logp, axis=-2) - jnp.log(m)
    log_w = jax.nn.log_softmax(as_float(member_scores), axis=-1)
    return jax.nn.logsumexp(logp + log_w[..., None], axis=-2)


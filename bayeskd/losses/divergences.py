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
    r"""``log softmax(z)`` over the last axis, :math:`z - m - \log \sum_k e^{z_k - m}` with the
    maximum ``m``; with ``axis_name`` the classes are split over that mesh axis and ``m`` and the
    sum are global (``pmax``, ``psum``).

    Classes with :math:`z_k = -\infty` (masked) get :math:`-\infty`; a row masked everywhere
    gets :math:`-\infty` everywhere (an empty distribution) rather than ``NaN``, and its
    gradient is zero: the maximum is replaced by 0 and the empty sum by 1 before ``log``.
    """
    m = jnp.max(z, axis=-1, keepdims=True)
    if axis_name is not None:
        m = jax.lax.pmax(m, axis_name)
    m = jax.lax.stop_gradient(jnp.where(m > -jnp.inf, m, 0.0))
    total = class_sum(jnp.exp(z - m), axis_name, keepdims=True)
    return z - m - jnp.log(jnp.where(total > 0, total, 1.0))


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
    contribute zero, never ``0 * inf`` or ``-inf - (-inf)``, in the value and in its autodiff
    gradient (the difference is masked before the product); :math:`b_k = 0 < a_k` gives
    :math:`+\infty`."""
    p_a = jnp.exp(logp_a)
    diff = jnp.where(p_a > 0, logp_a - logp_b, 0.0)
    return class_sum(p_a * diff, axis_name)


def _log_mix(logp_a: Array, logp_b: Array, w) -> Array:
    r""":math:`\log(w\, a + (1 - w)\, b)` in log space; finite at ``w = 0`` and ``w = 1``.

    Where both terms are :math:`-\infty` (a class masked on both sides) it is :math:`-\infty`
    with zero gradient (``logaddexp``'s own derivative is ``NaN`` there).
    """
    x, y = jnp.log(w) + logp_a, jnp.log1p(-w) + logp_b
    dead = (x == -jnp.inf) & (y == -jnp.inf)
    mix = jnp.logaddexp(jnp.where(dead, 0.0, x), jnp.where(dead, 0.0, y))
    return jnp.where(dead, -jnp.inf, mix)


def _through_softmax(p: Array, g: Array, axis_name: str | None = None) -> Array:
    r"""Chain rule through :math:`p = \mathrm{softmax}(s)`: :math:`p \odot (g - \sum_k p_k g_k)`
    for :math:`g = \partial f / \partial p`. Classes with :math:`p_k = 0` drop out of the sum and
    get zero, whatever ``g`` is there (``g`` is often a ``-inf - (-inf)`` on a masked class)."""
    g = jnp.where(p > 0, g, 0.0)
    return p * (g - class_sum(p * g, axis_name, keepdims=True))


def _forward_kl_grad(logp_t, logp_s, params):
    del params
    return jnp.exp(logp_s) - jnp.exp(logp_t)  # p - q


def _reverse_kl_grad(logp_t, logp_s, params):
    # p (a - KL(p||q)), a = log p/q
    return _through_softmax(jnp.exp(logp_s), logp_s - logp_t, params.axis_name)


def _at_ends(beta, interior, at_zero, at_one) -> Array:
    """``at_zero()`` where ``beta == 0``, ``at_one()`` where ``beta == 1``, else ``interior()``.

    A static ``beta`` (the kernel's, and every plain call) evaluates one branch; a traced one (a
    sweep under ``vmap``) evaluates all three and selects.
    """
    if not isinstance(beta, jax.core.Tracer):
        b = float(beta)
        return at_zero() if b == 0.0 else at_one() if b == 1.0 else interior()
    return jnp.where(beta == 0.0, at_zero(), jnp.where(beta == 1.0, at_one(), interior()))


def _forward_kl_value(logp_t, logp_s, params):
    return _kl(logp_t, logp_s, params.axis_name)


def _reverse_kl_value(logp_t, logp_s, params):
    return _kl(logp_s, logp_t, params.axis_name)


def _jsd_interior(logp_t, logp_s, params):
    beta = params.beta
    logm = _log_mix(logp_t, logp_s, beta)
    ax = params.axis_name
    return beta * _kl(logp_t, logm, ax) + (1.0 - beta) * _kl(logp_s, logm, ax)


def _jsd_interior_grad(logp_t, logp_s, params):
    # d/dp [beta KL(q||m) + (1-beta) KL(p||m)] = (1-beta) (log p - log m) + const.
    beta = params.beta
    logm = _log_mix(logp_t, logp_s, beta)
    return (1.0 - beta) * _through_softmax(jnp.exp(logp_s), logp_s - logm, params.axis_name)


def _jsd_value(logp_t, logp_s, params):
    args = (logp_t, logp_s, params)
    return _at_ends(params.beta, lambda: _jsd_interior(*args), lambda: _forward_kl_value(*args),
                    lambda: _reverse_kl_value(*args))


def _jsd_grad(logp_t, logp_s, params):
    args = (logp_t, logp_s, params)
    return _at_ends(params.beta, lambda: _jsd_interior_grad(*args),
                    lambda: _forward_kl_grad(*args), lambda: _reverse_kl_grad(*args))


def _skew_kl_value(logp_t, logp_s, params):
    return _kl(logp_t, _log_mix(logp_t, logp_s, params.lam), params.axis_name)


def _skew_kl_grad(logp_t, logp_s, params):
    # d/dp_k KL(q||m) = -(1-lam) q_k / m_k; through the softmax: (1-lam) (p sum_j r_j - r), with
    # r = p q / m formed in log space (bounded by q / (1-lam), so no 0 * inf where p underflows);
    # r = 0 where p or q is 0 (no -inf - (-inf) on a masked class).
    lam = params.lam
    live = (logp_s > -jnp.inf) & (logp_t > -jnp.inf)
    log_r = jnp.where(live, logp_s + logp_t - _log_mix(logp_t, logp_s, lam), -jnp.inf)
    r = jnp.exp(log_r)
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
    "forward_kl": DivergenceEntry(_forward_kl_value, _forward_kl_grad, True),
    "reverse_kl": DivergenceEntry(_reverse_kl_value, _reverse_kl_grad, True),
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
    check_unit_interval(beta, name="beta")
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
    :math:`\text{jsd}/(1 - \beta) \to \text{reverse\_kl}` as :math:`\beta \to 1`; at the
    endpoints themselves, as trl and Liger define them, it *is* the KL exactly:

    .. math::
        \text{jsd}\big|_{\beta = 0} = \text{forward\_kl}, \qquad
        \text{jsd}\big|_{\beta = 1} = \text{reverse\_kl}

    (the mixture formula itself would give zero there, so the value jumps at the ends); the skew
    KLs are DistiLLM's
    (Ko et al. 2024): ``lam = 0`` gives the plain KL, ``lam = 1`` gives zero, and for
    ``lam > 0`` the value is at most :math:`T^2 \log(1/\lambda)` however far apart ``p`` and ``q``
    are.

    **Masked classes.** A class whose logit is :math:`-\infty` for both teacher and student (a
    vocabulary padded to a multiple of 128, banned tokens, constrained decoding) takes no part:
    every value and gradient stays finite, the gradient there is exactly zero, and a row masked
    everywhere gives zero. Where only one side is :math:`-\infty` on the other's support the
    divergence may truly be infinite and is then ``+inf``, never ``NaN``: forward KL (and jsd at
    :math:`\beta = 0`, skew_kl at :math:`\lambda = 0`) when the student is :math:`-\infty` where
    the teacher has mass; reverse KL (jsd at :math:`\beta = 1`, skew_reverse_kl at
    :math:`\lambda = 0`) when the teacher is :math:`-\infty` where the student has mass. The
    mixtures (jsd inside, skew KLs with :math:`\lambda > 0`) and tvd stay finite.

    **Precision.** Inputs of any floating dtype (bfloat16, float16) are promoted to at least
    float32 before ``log_softmax``, so low-precision logits lose only their own rounding.

    The value comes from :data:`TABLE`; ``jax.grad`` of it is ordinary autodiff, which the tests
    check against the table's closed-form gradient (:func:`divergence_value_and_grad`). Values
    are clipped at zero (rounding can make them ``-1e-9``). Every entry is shift invariant in
    each argument's logits.

    Args:
      teacher_logits: ``[..., K]`` logits or log-probabilities of the teacher.
      student_logits: ``[..., K]`` logits of the student.
      name: one of :data:`DIVERGENCES` (static).
      temperature: :math:`T > 0`.
      beta: :math:`\beta \in [0, 1]`, read by ``"jsd"`` only (0: forward KL, 1: reverse KL).
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

      trl's golden case: both JSD endpoints give :math:`0.8 \ln 9`.

      >>> zs, zt = jnp.log(jnp.array([0.1, 0.9])), jnp.log(jnp.array([0.9, 0.1]))
      >>> [round(float(divergence(zt, zs, name="jsd", beta=b)), 5) for b in (0.0, 1.0)]
      [1.75778, 1.75778]
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


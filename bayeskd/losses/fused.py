r"""Chunked, fused linear-head distillation loss for large vocabularies.

Distilling a language model means comparing two distributions over a vocabulary of
``V`` tokens at each of ``N`` positions. Written plainly, that materialises the student
logits ``h_S @ W_S`` and the teacher logits ``h_T @ W_T`` (each ``[N, V]``), and reverse
mode autodiff keeps them, plus several same-sized intermediates, alive until the backward
pass. For ``N = 2048`` and ``V = 65536`` one such array is 512 MiB in float32.

:func:`fused_linear_distillation` never builds a full ``[N, V]`` array. It walks over
blocks of ``chunk_size`` tokens with :func:`jax.lax.scan`; for each block it forms the
block's logits, the per-token loss *and*, in the same pass, the closed-form gradient of
the loss with respect to the student logits. That gradient is immediately contracted
into the gradient for the block's hidden states (kept, ``[chunk, H]``) and added into a
running gradient for the student head (``[H, V]``), after which the block's logits are
dropped. The backward pass only multiplies the stored gradients by the incoming
cotangent. This is the idea behind Liger-Kernel's fused linear cross entropy (Hsu et
al., 2024), here in pure XLA (no Pallas, no Triton), so it runs on CPU, GPU and TPU, and
extended to the distillation divergences below.

:func:`naive_linear_distillation` is the plain reference with the same signature.
"""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, ArrayLike, Float, Int

__all__ = ["DIVERGENCES", "REDUCTIONS", "fused_linear_distillation", "naive_linear_distillation"]

DIVERGENCES = ("forward_kl", "reverse_kl", "jsd", "tvd")
REDUCTIONS = ("mean", "sum")


class _Config(NamedTuple):
    """Static (hashable) settings, checked in Python before tracing."""

    divergence: str
    temperature: float
    beta: float
    label_weight: float
    chunk_size: int
    reduction: str


# --------------------------------------------------------------------------------------
# Argument checks (trace time, plain Python).
# --------------------------------------------------------------------------------------


def _static_float(name: str, value) -> float:
    try:
        return float(value)
    except (TypeError, jax.errors.ConcretizationTypeError) as err:
        raise ValueError(
            f"{name}: must be a static Python number (it selects the compiled kernel), "
            f"got {type(value).__name__}"
        ) from err


def _validate(
    h_student,
    w_student,
    h_teacher,
    w_teacher,
    labels,
    *,
    divergence,
    temperature,
    beta,
    label_weight,
    chunk_size,
    reduction,
) -> _Config:
    if divergence not in DIVERGENCES:
        raise ValueError(f"divergence: must be one of {DIVERGENCES}, got {divergence!r}")
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction: must be one of {REDUCTIONS}, got {reduction!r}")
    temperature = _static_float("temperature", temperature)
    if not (math.isfinite(temperature) and temperature > 0.0):
        raise ValueError(f"temperature: must be a finite number > 0, got {temperature!r}")
    beta = _static_float("beta", beta)
    if not (0.0 < beta < 1.0):
        raise ValueError(f"beta: must lie in the open interval (0, 1), got {beta!r}")
    label_weight = _static_float("label_weight", label_weight)
    if not (0.0 <= label_weight <= 1.0):
        raise ValueError(f"label_weight: must lie in [0, 1], got {label_weight!r}")
    if (
        isinstance(chunk_size, bool)
        or not isinstance(chunk_size, numbers.Integral)
        or chunk_size <= 0
    ):
        raise ValueError(f"chunk_size: must be a positive int, got {chunk_size!r}")
    chunk_size = int(chunk_size)

    names = ("h_student", "w_student", "h_teacher", "w_teacher")
    arrays = (h_student, w_student, h_teacher, w_teacher)
    for name, x in zip(names, arrays, strict=True):
        if jnp.ndim(x) != 2:
            raise ValueError(f"{name}: must be 2-D, got shape {jnp.shape(x)}")
        if not jnp.issubdtype(jnp.result_type(x), jnp.floating):
            raise ValueError(f"{name}: must be floating point, got {jnp.result_type(x)}")
    (n, hs), (hs_w, v), (n_t, ht), (ht_w, v_t) = (jnp.shape(x) for x in arrays)
    if hs != hs_w:
        raise ValueError(
            f"w_student: shape [H, V]={(hs_w, v)} must match h_student [N, H]={(n, hs)} in H"
        )
    if ht != ht_w:
        raise ValueError(
            f"w_teacher: shape [Ht, V]={(ht_w, v_t)} must match h_teacher [N, Ht]={(n_t, ht)} in Ht"
        )
    if n != n_t:
        raise ValueError(f"h_teacher: must have the same N as h_student, got {n_t} and {n}")
    if v != v_t:
        raise ValueError(f"w_teacher: must have the same V as w_student, got {v_t} and {v}")
    if n == 0 or v == 0:
        raise ValueError(f"h_student, w_student: N and V must be positive, got N={n}, V={v}")

    if label_weight > 0.0 and labels is None:
        raise ValueError(
            "labels: required when label_weight > 0 (pass labels, or label_weight=0.0)"
        )
    if labels is not None:
        if jnp.shape(labels) != (n,):
            raise ValueError(f"labels: must have shape [N]=({n},), got {jnp.shape(labels)}")
        if not jnp.issubdtype(jnp.result_type(labels), jnp.integer):
            raise ValueError(f"labels: must be integer class ids, got {jnp.result_type(labels)}")

    return _Config(divergence, temperature, beta, label_weight, chunk_size, reduction)


# --------------------------------------------------------------------------------------
# Per-token divergences and their gradients w.r.t. the student logits.
# --------------------------------------------------------------------------------------


def _kl_family_scale(cfg: _Config) -> float:
    """Hinton's T^2 for the KL-type divergences; total variation is left unscaled."""
    return 1.0 if cfg.divergence == "tvd" else cfg.temperature**2


def _divergence(logp_t_BV: Array, logp_s_BV: Array, cfg: _Config) -> Array:
    """Per-token divergence (before the T^2 factor) from tempered log-probabilities."""
    p_t_BV = jnp.exp(logp_t_BV)
    p_s_BV = jnp.exp(logp_s_BV)
    if cfg.divergence == "forward_kl":
        return jnp.sum(p_t_BV * (logp_t_BV - logp_s_BV), axis=-1)
    if cfg.divergence == "reverse_kl":
        return jnp.sum(p_s_BV * (logp_s_BV - logp_t_BV), axis=-1)
    if cfg.divergence == "jsd":
        logm_BV = _log_mixture(logp_t_BV, logp_s_BV, cfg.beta)
        kl_tm_B = jnp.sum(p_t_BV * (logp_t_BV - logm_BV), axis=-1)
        kl_sm_B = jnp.sum(p_s_BV * (logp_s_BV - logm_BV), axis=-1)
        return cfg.beta * kl_tm_B + (1.0 - cfg.beta) * kl_sm_B
    return 0.5 * jnp.sum(jnp.abs(p_t_BV - p_s_BV), axis=-1)


def _log_mixture(logp_t_BV: Array, logp_s_BV: Array, beta: float) -> Array:
    """log(beta p_T + (1 - beta) p_S), computed in log space."""
    return jnp.logaddexp(math.log(beta) + logp_t_BV, math.log1p(-beta) + logp_s_BV)


def _loss_and_dlogits(
    zs_BV: Array, zt_BV: Array, labels_B: Array | None, cfg: _Config, *, with_grad: bool
) -> tuple[Array, Array | None]:
    r"""Per-token loss [B] and (optionally) d loss / d student logits [B, V], float32.

    With :math:`s = z^S / T`, :math:`\partial \ell / \partial z^S = \frac1T \partial D /
    \partial s + \lambda(\mathrm{softmax}(z^S) - e_y)`. Writing
    :math:`\bar a = \sum_v p^S_v a_v`, the softmax Jacobian turns a gradient :math:`g`
    w.r.t. :math:`p^S` into :math:`p^S \odot (g - \bar g)`, so

    .. math::
        \partial D_{\mathrm{forward\_kl}} / \partial s &= T^2 (p^S - p^T), \\
        \partial D_{\mathrm{reverse\_kl}} / \partial s &= T^2\, p^S \odot (a - \bar a),
            \quad a = \log p^S - \log p^T \quad (\bar a = \mathrm{KL}(p^S \| p^T)), \\
        \partial D_{\mathrm{jsd}} / \partial s &= T^2 (1 - \beta)\, p^S \odot (a - \bar a),
            \quad a = \log p^S - \log m \quad (\bar a = \mathrm{KL}(p^S \| m)), \\
        \partial D_{\mathrm{tvd}} / \partial s &= p^S \odot (g - \bar g),
            \quad g = \tfrac12 \operatorname{sign}(p^S - p^T).

    The JSD line uses :math:`D_{\mathrm{jsd}} / T^2 = H(m) - \beta H(p^T) - (1 - \beta)
    H(p^S)`, whose derivative w.r.t. :math:`p^S` is :math:`(1 - \beta)(\log p^S - \log m)`
    up to a constant that the softmax Jacobian removes.
    """
    inv_t = 1.0 / cfg.temperature
    logp_s_BV = jax.nn.log_softmax(zs_BV * inv_t, axis=-1)
    logp_t_BV = jax.nn.log_softmax(zt_BV * inv_t, axis=-1)
    p_s_BV = jnp.exp(logp_s_BV)
    scale = _kl_family_scale(cfg)

    if cfg.divergence == "forward_kl":
        p_t_BV = jnp.exp(logp_t_BV)
        div_B = jnp.sum(p_t_BV * (logp_t_BV - logp_s_BV), axis=-1)
        dds_BV = p_s_BV - p_t_BV if with_grad else None
    elif cfg.divergence == "reverse_kl":
        a_BV = logp_s_BV - logp_t_BV
        div_B = jnp.sum(p_s_BV * a_BV, axis=-1)
        dds_BV = p_s_BV * (a_BV - div_B[:, None]) if with_grad else None
    elif cfg.divergence == "jsd":
        p_t_BV = jnp.exp(logp_t_BV)
        logm_BV = _log_mixture(logp_t_BV, logp_s_BV, cfg.beta)
        a_BV = logp_s_BV - logm_BV
        kl_sm_B = jnp.sum(p_s_BV * a_BV, axis=-1)
        kl_tm_B = jnp.sum(p_t_BV * (logp_t_BV - logm_BV), axis=-1)
        div_B = cfg.beta * kl_tm_B + (1.0 - cfg.beta) * kl_sm_B
        dds_BV = (1.0 - cfg.beta) * p_s_BV * (a_BV - kl_sm_B[:, None]) if with_grad else None
    else:  # tvd
        diff_BV = p_s_BV - jnp.exp(logp_t_BV)
        div_B = 0.5 * jnp.sum(jnp.abs(diff_BV), axis=-1)
        if with_grad:
            g_BV = 0.5 * jnp.sign(diff_BV)
            dds_BV = p_s_BV * (g_BV - jnp.sum(p_s_BV * g_BV, axis=-1, keepdims=True))
        else:
            dds_BV = None

    w = cfg.label_weight
    loss_B = (1.0 - w) * scale * div_B
    dz_BV = (1.0 - w) * scale * inv_t * dds_BV if with_grad else None
    if w > 0.0:
        logp1_BV = logp_s_BV if cfg.temperature == 1.0 else jax.nn.log_softmax(zs_BV, axis=-1)
        ce_B = -jnp.take_along_axis(logp1_BV, labels_B[:, None], axis=-1)[:, 0]
        loss_B = loss_B + w * ce_B
        if with_grad:
            onehot_BV = jax.nn.one_hot(labels_B, zs_BV.shape[-1], dtype=jnp.float32)
            dz_BV = dz_BV + w * (jnp.exp(logp1_BV) - onehot_BV)
    return loss_B, dz_BV


# --------------------------------------------------------------------------------------
# The chunked kernel.
# --------------------------------------------------------------------------------------


def _dot_f32(a: Array, b: Array, contract: tuple[int, int]) -> Array:
    return lax.dot_general(
        a, b, ((([contract[0]]), ([contract[1]])), ((), ())), preferred_element_type=jnp.float32
    )


def _chunked(cfg: _Config, h_s, w_s, h_t, w_t, labels, *, with_grad: bool):
    """Scan over token chunks; returns (loss, dh_s [N, H] f32, dw_s [H, V] f32)."""
    n, hid = h_s.shape
    vocab = w_s.shape[1]
    chunk = min(cfg.chunk_size, n)
    n_chunks = -(-n // chunk)
    pad = n_chunks * chunk - n
    norm = 1.0 / n if cfg.reduction == "mean" else 1.0

    def split(x):
        x = jnp.pad(x, ((0, pad),) + ((0, 0),) * (x.ndim - 1))
        return x.reshape((n_chunks, chunk) + x.shape[1:])

    xs = (
        jnp.arange(n_chunks),
        split(h_s),
        split(h_t),
        None if labels is None else split(labels),
    )

    def body(carry, x):
        loss_acc, dw_HV = carry
        idx, hs_CH, ht_CH, labels_C = x
        valid_C = idx * chunk + jnp.arange(chunk) < n
        zs_CV = _dot_f32(hs_CH, w_s, (1, 0))
        zt_CV = _dot_f32(ht_CH, w_t, (1, 0))
        loss_C, dz_CV = _loss_and_dlogits(zs_CV, zt_CV, labels_C, cfg, with_grad=with_grad)
        loss_acc = loss_acc + jnp.sum(jnp.where(valid_C, loss_C, 0.0))
        if not with_grad:
            return (loss_acc, dw_HV), None
        dz_CV = jnp.where(valid_C[:, None], dz_CV * norm, 0.0).astype(w_s.dtype)
        dh_CH = _dot_f32(dz_CV, w_s, (1, 1))  # [C, V] x [H, V] -> [C, H]
        dw_HV = dw_HV + _dot_f32(hs_CH, dz_CV, (0, 0))  # [C, H] x [C, V] -> [H, V]
        return (loss_acc, dw_HV), dh_CH

    init_dw = jnp.zeros((hid, vocab) if with_grad else (0, 0), jnp.float32)
    (loss, dw_HV), dh = lax.scan(body, (jnp.zeros((), jnp.float32), init_dw), xs)
    loss = loss * norm
    if not with_grad:
        return loss, None, None
    return loss, dh.reshape(n_chunks * chunk, hid)[:n], dw_HV


def _fused_primal(cfg, h_s, w_s, h_t, w_t, labels):
    return _chunked(cfg, h_s, w_s, h_t, w_t, labels, with_grad=False)[0]


def _fused_fwd(cfg, h_s, w_s, h_t, w_t, labels):
    loss, dh_NH, dw_HV = _chunked(cfg, h_s, w_s, h_t, w_t, labels, with_grad=True)
    # Residuals are the finished gradients, stored in the inputs' dtypes.
    return loss, (dh_NH.astype(h_s.dtype), dw_HV.astype(w_s.dtype))


def _fused_bwd(cfg, res, g):
    del cfg
    dh_NH, dw_HV = res
    # None = symbolic zero cotangent: the teacher and labels are not differentiated.
    return (g * dh_NH).astype(dh_NH.dtype), (g * dw_HV).astype(dw_HV.dtype), None, None, None


_fused = jax.custom_vjp(_fused_primal, nondiff_argnums=(0,))
_fused.defvjp(_fused_fwd, _fused_bwd)


def fused_linear_distillation(
    h_student: Float[ArrayLike, "n h"],
    w_student: Float[ArrayLike, "h v"],
    h_teacher: Float[ArrayLike, "n ht"],
    w_teacher: Float[ArrayLike, "ht v"],
    *,
    divergence: str = "forward_kl",
    temperature: float = 1.0,
    beta: float = 0.5,
    labels: Int[ArrayLike, " n"] | None = None,
    label_weight: float = 0.0,
    chunk_size: int = 256,
    reduction: str = "mean",
) -> Float[Array, ""]:
    r"""Distillation loss through two linear heads, without materialising [N, V] logits.

    With student logits :math:`z^S = h^S W^S`, teacher logits :math:`z^T = h^T W^T` and
    tempered distributions :math:`p^S_n = \mathrm{softmax}(z^S_n / T)`,
    :math:`p^T_n = \mathrm{softmax}(z^T_n / T)`, the per-token loss is

    .. math::
        \ell_n = (1 - \lambda)\, D(p^T_n, p^S_n)
                 - \lambda \log \mathrm{softmax}(z^S_n)_{y_n},

    where :math:`\lambda` is ``label_weight`` (the cross-entropy term uses the student
    logits at temperature 1 and is only present when ``label_weight > 0``), and
    :math:`D` is chosen by ``divergence``:

    .. math::
        D_{\mathrm{forward\_kl}} &= T^2\, \mathrm{KL}(p^T \,\|\, p^S), \qquad
        D_{\mathrm{reverse\_kl}} = T^2\, \mathrm{KL}(p^S \,\|\, p^T), \\
        D_{\mathrm{jsd}} &= T^2 \left[\beta\, \mathrm{KL}(p^T \,\|\, m)
                 + (1 - \beta)\, \mathrm{KL}(p^S \,\|\, m)\right],
                 \quad m = \beta p^T + (1 - \beta) p^S, \\
        D_{\mathrm{tvd}} &= \tfrac12 \textstyle\sum_v |p^T_v - p^S_v|
                 \quad \text{(no } T^2 \text{ factor).}

    The :math:`T^2` factor (Hinton et al., 2015) keeps the gradient scale of the KL-type
    terms roughly independent of :math:`T`. The generalised Jensen-Shannon divergence
    follows Agarwal et al. (2024); its limits are

    .. math::
        \lim_{\beta\to 0} \frac{D_{\mathrm{jsd}}}{\beta} = D_{\mathrm{forward\_kl}},
        \qquad
        \lim_{\beta\to 1} \frac{D_{\mathrm{jsd}}}{1-\beta} = D_{\mathrm{reverse\_kl}},

    because as :math:`\beta \to 0`, :math:`m \to p^S` and
    :math:`\mathrm{KL}(p^S\|m) = O(\beta^2)`, and symmetrically for :math:`\beta \to 1`.
    The returned value is :math:`\frac1N\sum_n \ell_n` (``reduction="mean"``) or
    :math:`\sum_n \ell_n` (``"sum"``).

    **How it is computed.** Tokens are processed ``chunk_size`` at a time in a
    :func:`jax.lax.scan` (the last chunk is zero-padded and masked). For each chunk the
    forward pass forms both chunks of logits (float32 accumulation), the loss, and the
    closed-form :math:`\partial \ell / \partial z^S` (e.g. :math:`T (p^S - p^T)` for
    forward KL), which it contracts at once into :math:`\partial/\partial h^S` for the
    chunk and adds into :math:`\partial/\partial W^S`. Only these two gradients are kept
    for the backward pass, which multiplies them by the cotangent. At most one chunk of
    logits (``[chunk_size, V]``, a few float32 buffers) is live at any time. For a
    bfloat16 head the chunk's logit gradient is rounded to bfloat16 before the two
    matmuls (which accumulate in float32), as autodiff through a bfloat16 matmul does;
    the returned gradients have the inputs' dtypes. This is
    the gradient-in-forward idea of Liger-Kernel's fused linear cross entropy (Hsu et
    al., 2024), written in plain XLA.

    **Gradients.** The teacher is a fixed target: ``h_teacher`` and ``w_teacher`` get
    zero gradients (as if wrapped in :func:`jax.lax.stop_gradient`), and ``labels`` get
    none. Only reverse-mode differentiation is supported (``jax.grad``,
    ``jax.value_and_grad``, ``jax.vjp``); ``jax.jvp`` is not, as for any
    :func:`jax.custom_vjp`. Calling the function without differentiating it runs a
    cheaper loss-only scan.

    Args:
      h_student: student hidden states, shape ``[N, H]``, float32 or bfloat16.
      w_student: student output head, shape ``[H, V]``.
      h_teacher: teacher hidden states, shape ``[N, Ht]``.
      w_teacher: teacher output head, shape ``[Ht, V]``.
      divergence: one of ``"forward_kl"``, ``"reverse_kl"``, ``"jsd"``, ``"tvd"``.
      temperature: :math:`T > 0`, finite, static.
      beta: :math:`\beta \in (0, 1)` for ``"jsd"`` (ignored otherwise), static.
      labels: optional integer targets in ``[0, V)``, shape ``[N]``.
      label_weight: :math:`\lambda \in [0, 1]`; if positive, ``labels`` are required.
        With ``labels`` given and ``label_weight=0`` the labels are ignored.
      chunk_size: tokens per chunk (> 0), clipped to ``N``. Peak memory grows linearly
        with it (about ``3 * chunk_size * V`` float32 values plus the ``[H, V]`` gradient);
        on CPU the speed is flat from 64 to 1024, so the default 256 keeps the temporary
        memory of a forward+backward step at about 10% of the naive one for
        ``N=2048, V=65536``.
      reduction: ``"mean"`` (over the N tokens) or ``"sum"``.

    Returns:
      A float32 scalar.

    Raises:
      ValueError: at trace time, for an unknown ``divergence`` or ``reduction``, a bad
        ``temperature``, ``beta``, ``label_weight`` or ``chunk_size``, missing labels,
        or inconsistent shapes.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from bayeskd.losses.fused import fused_linear_distillation
      >>> k1, k2, k3, k4 = jax.random.split(jax.random.key(0), 4)
      >>> h_s, h_t = jax.random.normal(k1, (5, 4)), jax.random.normal(k2, (5, 3))
      >>> w_s, w_t = jax.random.normal(k3, (4, 11)), jax.random.normal(k4, (3, 11))
      >>> loss, (g_h, g_w) = jax.value_and_grad(
      ...     lambda h, w: fused_linear_distillation(h, w, h_t, w_t, chunk_size=2),
      ...     argnums=(0, 1))(h_s, w_s)
      >>> loss.dtype, g_h.shape, g_w.shape
      (dtype('float32'), (5, 4), (4, 11))

    References:
      Hinton, Vinyals and Dean, `Distilling the Knowledge in a Neural Network
      <https://arxiv.org/abs/1503.02531>`_, 2015.

      Agarwal et al., `On-Policy Distillation of Language Models: Learning from
      Self-Generated Mistakes <https://arxiv.org/abs/2306.13649>`_ (GKD), ICLR 2024.

      Hsu et al., `Liger Kernel: Efficient Triton Kernels for LLM Training
      <https://arxiv.org/abs/2410.10989>`_, 2024.
    """
    cfg = _validate(
        h_student,
        w_student,
        h_teacher,
        w_teacher,
        labels,
        divergence=divergence,
        temperature=temperature,
        beta=beta,
        label_weight=label_weight,
        chunk_size=chunk_size,
        reduction=reduction,
    )
    if cfg.label_weight == 0.0:
        labels = None  # unused: keep it out of the kernel
    h_s, w_s, h_t, w_t = (jnp.asarray(x) for x in (h_student, w_student, h_teacher, w_teacher))
    labels = None if labels is None else jnp.asarray(labels, jnp.int32)
    return _fused(cfg, h_s, w_s, h_t, w_t, labels)


def naive_linear_distillation(
    h_student: Float[ArrayLike, "n h"],
    w_student: Float[ArrayLike, "h v"],
    h_teacher: Float[ArrayLike, "n ht"],
    w_teacher: Float[ArrayLike, "ht v"],
    *,
    divergence: str = "forward_kl",
    temperature: float = 1.0,
    beta: float = 0.5,
    labels: Int[ArrayLike, " n"] | None = None,
    label_weight: float = 0.0,
    chunk_size: int = 256,
    reduction: str = "mean",
) -> Float[Array, ""]:
    r"""Reference for :func:`fused_linear_distillation` that materialises full logits.

    Same mathematics, arguments, checks and stop-gradient on the teacher; ``chunk_size``
    is validated and ignored. Gradients come from ordinary autodiff through the
    ``[N, V]`` logits, so memory grows as :math:`O(NV)`. Meant for tests and benchmarks.

    Args:
      h_student: ``[N, H]``. w_student: ``[H, V]``. h_teacher: ``[N, Ht]``.
      w_teacher: ``[Ht, V]``. The keyword arguments are as in
        :func:`fused_linear_distillation`.

    Returns:
      A float32 scalar.
    """
    cfg = _validate(
        h_student,
        w_student,
        h_teacher,
        w_teacher,
        labels,
        divergence=divergence,
        temperature=temperature,
        beta=beta,
        label_weight=label_weight,
        chunk_size=chunk_size,
        reduction=reduction,
    )
    zs_NV = _dot_f32(jnp.asarray(h_student), jnp.asarray(w_student), (1, 0))
    zt_NV = lax.stop_gradient(_dot_f32(jnp.asarray(h_teacher), jnp.asarray(w_teacher), (1, 0)))
    logp_s_NV = jax.nn.log_softmax(zs_NV / cfg.temperature, axis=-1)
    logp_t_NV = jax.nn.log_softmax(zt_NV / cfg.temperature, axis=-1)
    w = cfg.label_weight
    loss_N = (1.0 - w) * _kl_family_scale(cfg) * _divergence(logp_t_NV, logp_s_NV, cfg)
    if w > 0.0:
        logp1_NV = jax.nn.log_softmax(zs_NV, axis=-1)
        labels_N = jnp.asarray(labels, jnp.int32)
        loss_N = loss_N - w * jnp.take_along_axis(logp1_NV, labels_N[:, None], axis=-1)[:, 0]
    return jnp.mean(loss_N) if cfg.reduction == "mean" else jnp.sum(loss_N)

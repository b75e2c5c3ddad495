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
extended to every divergence of :data:`bayeskd.losses.divergences.TABLE`, whose
closed-form gradients it uses.

``implementation="naive"`` is the plain reference: it materialises the logits, calls
:func:`~bayeskd.losses.divergences.divergence` and lets autodiff find the gradient, so the
tests can compare the two paths.

``implementation="vocab_sharded"`` is the chunked kernel with both heads split by columns over
the ``vocab`` axis of a :func:`bayeskd.distributed.make_mesh` mesh (``mesh=``, ``axis=``):
device ``i`` of ``D`` holds classes ``[i V/D, (i+1) V/D)`` and runs the same scan on its slice
(:func:`jax.shard_map`). Everything a divergence needs beyond the slice is a sum over classes,
so per chunk of tokens each device sends ``O(chunk)`` numbers, never logits:

.. math::
    \log \sum_{k=1}^{V} e^{z_k} = m + \log \sum_{i=1}^{D} \sum_{k \in \text{slice } i}
        e^{z_k - m}, \qquad m = \max_i \max_{k \in \text{slice } i} z_k \ (\texttt{pmax}),

and every :math:`\sum_k` of the divergence table (the KL sums, the softmax chain rule
:math:`p \odot (g - \sum_k p_k g_k)`) is a ``psum`` of partial sums
(:func:`bayeskd.losses.divergences.class_sum`). The gradient for ``W_S`` stays on its slice;
the gradient for the hidden states, :math:`\sum_i \partial\ell/\partial z_{\text{slice } i}\,
W_{S,\text{slice } i}^\top`, is one ``psum`` at the end.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from jaxtyping import Array, ArrayLike, Bool, Float, Int

from bayeskd.losses.divergences import (
    DIVERGENCES,
    class_sum,
    divergence,
    divergence_value_and_grad,
    log_softmax,
    softmax_cross_entropy,
)
from bayeskd.validate import (
    check_choice,
    check_positive_int,
    check_temperature,
    check_unit_interval,
)

__all__ = ["DIVERGENCES", "IMPLEMENTATIONS", "REDUCTIONS", "fused_linear_distillation"]

IMPLEMENTATIONS = ("chunked", "naive", "vocab_sharded")
REDUCTIONS = ("mean", "sum")


class _Config(NamedTuple):
    """Static (hashable) settings, checked in Python before tracing."""

    divergence: str
    temperature: float
    beta: float
    lam: float
    label_weight: float
    chunk_size: int
    reduction: str
    axis_name: str | None = None  # the mesh axis the vocabulary is split over (inside shard_map)


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


def _validate(h_student, w_student, h_teacher, w_teacher, labels, **settings) -> _Config:
    check_choice(settings["divergence"], DIVERGENCES, name="divergence")
    check_choice(settings["reduction"], REDUCTIONS, name="reduction")
    floats = {k: _static_float(k, settings[k]) for k in ("temperature", "beta", "lam", "label_weight")}
    check_temperature(floats["temperature"])
    check_unit_interval(floats["beta"], name="beta")
    check_unit_interval(floats["lam"], name="lam")
    check_unit_interval(floats["label_weight"], name="label_weight")
    chunk_size = check_positive_int(settings["chunk_size"], name="chunk_size")

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

    where = settings["where"]
    if where is not None:
        if jnp.shape(where) not in ((v,), (n, v)):
            raise ValueError(f"where: must have shape [V]=({v},) or [N, V]=({n}, {v}), got "
                             f"{jnp.shape(where)}")
        if jnp.result_type(where) != jnp.bool_:
            raise ValueError(f"where: must be boolean, got {jnp.result_type(where)}")
    if floats["label_weight"] > 0.0 and labels is None:
        raise ValueError(
            "labels: required when label_weight > 0 (pass labels, or label_weight=0.0)"
        )
    if labels is not None:
        if jnp.shape(labels) != (n,):
            raise ValueError(f"labels: must have shape [N]=({n},), got {jnp.shape(labels)}")
        if not jnp.issubdtype(jnp.result_type(labels), jnp.integer):
            raise ValueError(f"labels: must be integer class ids, got {jnp.result_type(labels)}")

    return _Config(
        divergence=settings["divergence"],
        chunk_size=chunk_size,
        reduction=settings["reduction"],
        **floats,
    )


# --------------------------------------------------------------------------------------
# Per-token loss and its gradient w.r.t. the student logits, from the divergence table.
# --------------------------------------------------------------------------------------


def _loss_and_dlogits(
    zs_BV: Array, zt_BV: Array, labels_B: Array | None, cfg: _Config, *, with_grad: bool
) -> tuple[Array, Array | None]:
    r"""Per-token loss [B] and (optionally) d loss / d student logits [B, V], float32.

    :math:`\ell = (1 - \lambda) D + \lambda\, \mathrm{CE}`, so
    :math:`\partial \ell / \partial z^S = (1 - \lambda)\, \partial D / \partial z^S +
    \lambda (\mathrm{softmax}(z^S) - e_y)`, with :math:`\partial D / \partial z^S` the
    table's closed form (:func:`~bayeskd.losses.divergences.divergence_value_and_grad`).
    Without ``with_grad`` only :func:`~bayeskd.losses.divergences.divergence` and
    :func:`~bayeskd.losses.divergences.softmax_cross_entropy` run, both differentiable by
    autodiff: the naive path differentiates exactly this.
    """
    kw = dict(name=cfg.divergence, temperature=cfg.temperature, beta=cfg.beta, lam=cfg.lam)
    if cfg.axis_name is not None:  # a vocabulary slice: sums over classes completed by psum
        return _sliced_loss_and_dlogits(zs_BV, zt_BV, labels_B, cfg, kw)
    if with_grad:
        div_B, ddiv_BV = divergence_value_and_grad(zt_BV, zs_BV, **kw)
    else:
        div_B, ddiv_BV = divergence(zt_BV, zs_BV, **kw), None
    w = cfg.label_weight
    loss_B = (1.0 - w) * div_B
    dz_BV = (1.0 - w) * ddiv_BV if with_grad else None
    if w > 0.0:
        loss_B = loss_B + w * softmax_cross_entropy(zs_BV, labels_B)
        if with_grad:
            onehot_BV = jax.nn.one_hot(labels_B, zs_BV.shape[-1], dtype=jnp.float32)
            dz_BV = dz_BV + w * (jnp.exp(jax.nn.log_softmax(zs_BV, axis=-1)) - onehot_BV)
    return loss_B, dz_BV


def _sliced_loss_and_dlogits(zs_BV, zt_BV, labels_B, cfg: _Config, kw: dict):
    r""":func:`_loss_and_dlogits` on this device's slice of the vocabulary (always with the gradient).

    The logits are ``[B, V / D]`` columns ``[i V/D, (i+1) V/D)`` of device ``i`` on mesh axis
    ``cfg.axis_name``; the log-sum-exp and every class sum are completed across the axis, so the
    loss is the full one on every device and the gradient is this slice's columns.
    """
    ax = cfg.axis_name
    div_B, ddiv_BV = divergence_value_and_grad(zt_BV, zs_BV, axis_name=ax, **kw)
    w = cfg.label_weight
    loss_B, dz_BV = (1.0 - w) * div_B, (1.0 - w) * ddiv_BV
    if w > 0.0:
        logp_BV = log_softmax(zs_BV, ax)
        first = lax.axis_index(ax) * zs_BV.shape[-1]
        onehot_BV = jax.nn.one_hot(labels_B - first, zs_BV.shape[-1], dtype=jnp.float32)
        loss_B = loss_B - w * class_sum(onehot_BV * logp_BV, ax)
        dz_BV = dz_BV + w * (jnp.exp(logp_BV) - onehot_BV)
    return loss_B, dz_BV


# --------------------------------------------------------------------------------------
# The chunked kernel.
# --------------------------------------------------------------------------------------


def _dot_f32(a: Array, b: Array, contract: tuple[int, int]) -> Array:
    return lax.dot_general(
        a, b, ((([contract[0]]), ([contract[1]])), ((), ())), preferred_element_type=jnp.float32
    )


def _chunked(cfg: _Config, h_s, w_s, h_t, w_t, labels, where=None, *, with_grad: bool):
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

    per_row = where is not None and where.ndim == 2
    xs = (
        jnp.arange(n_chunks),
        split(h_s),
        split(h_t),
        None if labels is None else split(labels),
        split(where) if per_row else None,
    )

    def body(carry, x):
        loss_acc, dw_HV = carry
        idx, hs_CH, ht_CH, labels_C, where_CV = x
        valid_C = idx * chunk + jnp.arange(chunk) < n
        zs_CV = _dot_f32(hs_CH, w_s, (1, 0))
        zt_CV = _dot_f32(ht_CH, w_t, (1, 0))
        if where is not None:  # masked classes: -inf for both sides
            keep = where_CV if per_row else where[None]
            zs_CV, zt_CV = (jnp.where(keep, z, -jnp.inf) for z in (zs_CV, zt_CV))
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


def _fused_primal(cfg, h_s, w_s, h_t, w_t, labels, where):
    return _chunked(cfg, h_s, w_s, h_t, w_t, labels, where, with_grad=False)[0]


def _fused_fwd(cfg, h_s, w_s, h_t, w_t, labels, where):
    loss, dh_NH, dw_HV = _chunked(cfg, h_s, w_s, h_t, w_t, labels, where, with_grad=True)
    # Residuals are the finished gradients, stored in the inputs' dtypes.
    return loss, (dh_NH.astype(h_s.dtype), dw_HV.astype(w_s.dtype))


def _fused_bwd(cfg, res, g):
    del cfg
    dh_NH, dw_HV = res
    # None = symbolic zero cotangent: the teacher, labels and mask are not differentiated.
    return ((g * dh_NH).astype(dh_NH.dtype), (g * dw_HV).astype(dw_HV.dtype),
            None, None, None, None)


_fused = jax.custom_vjp(_fused_primal, nondiff_argnums=(0,))
_fused.defvjp(_fused_fwd, _fused_bwd)


def _naive(cfg: _Config, h_s, w_s, h_t, w_t, labels, where):
    """The reference: full [N, V] logits, the table's value, gradients by autodiff."""
    zs_NV = _dot_f32(h_s, w_s, (1, 0))
    zt_NV = lax.stop_gradient(_dot_f32(h_t, w_t, (1, 0)))
    if where is not None:
        zs_NV, zt_NV = (jnp.where(where, z, -jnp.inf) for z in (zs_NV, zt_NV))
    loss_N, _ = _loss_and_dlogits(zs_NV, zt_NV, labels, cfg, with_grad=False)
    return jnp.mean(loss_N) if cfg.reduction == "mean" else jnp.sum(loss_N)


# --------------------------------------------------------------------------------------
# The chunked kernel on vocabulary slices over a mesh axis (implementation="vocab_sharded").
# --------------------------------------------------------------------------------------


def _sharded_run(cfg: _Config, mesh: Mesh, h_s, w_s, h_t, w_t, labels, where):
    """Each device's vocabulary slice through :func:`_chunked`; ``dh`` summed over the axis.

    Returns ``(loss, dh [N, H] f32, dw [H, V] f32)``, ``dw`` split by columns over the axis.
    """
    col = P(None, cfg.axis_name)

    def local(h_s, w_s, h_t, w_t, extra):
        loss, dh_NH, dw_HV = _chunked(cfg, h_s, w_s, h_t, w_t, extra.get("labels"),
                                      extra.get("where"), with_grad=True)
        return loss, lax.psum(dh_NH, cfg.axis_name), dw_HV

    extra, extra_specs = {}, {}
    if labels is not None:
        extra["labels"], extra_specs["labels"] = labels, P()
    if where is not None:  # columns split like the heads
        extra["where"] = where
        extra_specs["where"] = P(cfg.axis_name) if where.ndim == 1 else col
    args, specs = (h_s, w_s, h_t, w_t, extra), (P(), col, P(), col, extra_specs)
    mapped = jax.shard_map(local, mesh=mesh, in_specs=specs, out_specs=(P(), P(), col),
                           check_vma=False)
    return mapped(*args)


def _sharded_primal(cfg, mesh, h_s, w_s, h_t, w_t, labels, where):
    return _sharded_run(cfg, mesh, h_s, w_s, h_t, w_t, labels, where)[0]


def _sharded_fwd(cfg, mesh, h_s, w_s, h_t, w_t, labels, where):
    loss, dh_NH, dw_HV = _sharded_run(cfg, mesh, h_s, w_s, h_t, w_t, labels, where)
    return loss, (dh_NH.astype(h_s.dtype), dw_HV.astype(w_s.dtype))


def _sharded_bwd(cfg, mesh, res, g):
    del mesh
    return _fused_bwd(cfg, res, g)


_sharded = jax.custom_vjp(_sharded_primal, nondiff_argnums=(0, 1))
_sharded.defvjp(_sharded_fwd, _sharded_bwd)


def _check_mesh(implementation: str, mesh, axis: str, vocab: int) -> None:
    """``mesh`` and ``axis`` only with ``"vocab_sharded"``, where ``axis`` must divide ``V``."""
    if implementation != "vocab_sharded":
        if mesh is not None:
            raise ValueError(f"mesh: only implementation='vocab_sharded' takes a mesh, got "
                             f"implementation={implementation!r} with a mesh")
        return
    if not isinstance(mesh, Mesh):
        raise ValueError(f"mesh: implementation='vocab_sharded' needs a jax.sharding.Mesh, got "
                         f"{type(mesh).__name__}")
    check_choice(axis, tuple(mesh.axis_names), name="axis")
    if vocab % mesh.shape[axis]:
        raise ValueError(f"axis: the {mesh.shape[axis]} devices of mesh axis {axis!r} must "
                         f"divide the vocabulary, got V={vocab}")


def fused_linear_distillation(
    h_student: Float[ArrayLike, "n h"],
    w_student: Float[ArrayLike, "h v"],
    h_teacher: Float[ArrayLike, "n ht"],
    w_teacher: Float[ArrayLike, "ht v"],
    *,
    divergence: str = "forward_kl",
    temperature: float = 1.0,
    beta: float = 0.5,
    lam: float = 0.1,
    labels: Int[ArrayLike, " n"] | None = None,
    label_weight: float = 0.0,
    where: Bool[ArrayLike, " v"] | Bool[ArrayLike, "n v"] | None = None,
    chunk_size: int = 256,
    reduction: str = "mean",
    implementation: str = "chunked",
    mesh: Mesh | None = None,
    axis: str = "vocab",
) -> Float[Array, ""]:
    r"""Distillation loss through two linear heads, without materialising [N, V] logits.

    With student logits :math:`z^S = h^S W^S`, teacher logits :math:`z^T = h^T W^T` and
    tempered distributions :math:`p^S_n = \mathrm{softmax}(z^S_n / T)`,
    :math:`p^T_n = \mathrm{softmax}(z^T_n / T)`, the per-token loss is

    .. math::
        \ell_n = (1 - \lambda)\, D(z^T_n, z^S_n)
                 - \lambda \log \mathrm{softmax}(z^S_n)_{y_n},

    where :math:`\lambda` is ``label_weight`` (the cross-entropy term uses the student
    logits at temperature 1 and is only present when ``label_weight > 0``), and
    :math:`D` is :func:`~bayeskd.losses.divergences.divergence` with ``name=divergence``:

    .. math::
        D_{\mathrm{forward\_kl}} &= T^2\, \mathrm{KL}(p^T \,\|\, p^S), \qquad
        D_{\mathrm{reverse\_kl}} = T^2\, \mathrm{KL}(p^S \,\|\, p^T), \\
        D_{\mathrm{jsd}} &= T^2 \left[\beta\, \mathrm{KL}(p^T \,\|\, m)
                 + (1 - \beta)\, \mathrm{KL}(p^S \,\|\, m)\right],
                 \quad m = \beta p^T + (1 - \beta) p^S, \\
        D_{\mathrm{skew\_kl}} &= T^2\, \mathrm{KL}\big(p^T \,\|\, \mu p^T + (1 - \mu) p^S\big),
                 \qquad \mu = \texttt{lam}, \\
        D_{\mathrm{skew\_reverse\_kl}} &= T^2\, \mathrm{KL}\big(p^S \,\|\, \mu p^S + (1 - \mu) p^T\big), \\
        D_{\mathrm{tvd}} &= \tfrac12 \textstyle\sum_v |p^T_v - p^S_v|
                 \quad \text{(no } T^2 \text{ factor).}

    The generalised JSD (Agarwal et al., 2024) has the limits
    :math:`D_{\mathrm{jsd}}/\beta \to D_{\mathrm{forward\_kl}}` as :math:`\beta \to 0` and
    :math:`D_{\mathrm{jsd}}/(1-\beta) \to D_{\mathrm{reverse\_kl}}` as :math:`\beta \to 1`,
    and at the endpoints it is those KLs exactly (trl's and Liger's definition);
    the skew KLs are DistiLLM's (Ko et al., 2024). The returned value is
    :math:`\frac1N\sum_n \ell_n` (``reduction="mean"``) or :math:`\sum_n \ell_n` (``"sum"``).

    **How it is computed** (``implementation="chunked"``). Tokens are processed
    ``chunk_size`` at a time in a :func:`jax.lax.scan` (the last chunk is zero-padded and
    masked). For each chunk the forward pass forms both chunks of logits (float32
    accumulation), the loss, and the closed-form :math:`\partial \ell / \partial z^S` from
    the divergence table (e.g. :math:`T (p^S - p^T)` for forward KL), which it contracts at
    once into :math:`\partial/\partial h^S` for the chunk and adds into
    :math:`\partial/\partial W^S`. Only these two gradients are kept for the backward pass,
    which multiplies them by the cotangent. At most one chunk of logits
    (``[chunk_size, V]``, a few float32 buffers) is live at any time. For a bfloat16 head
    the chunk's logit gradient is rounded to bfloat16 before the two matmuls (which
    accumulate in float32), as autodiff through a bfloat16 matmul does; the returned
    gradients have the inputs' dtypes. This is the gradient-in-forward idea of
    Liger-Kernel's fused linear cross entropy (Hsu et al., 2024), written in plain XLA.

    ``implementation="naive"`` materialises the ``[N, V]`` logits, evaluates the same
    per-token loss and leaves the gradient to autodiff (memory :math:`O(NV)`; ``chunk_size``
    is checked and ignored). It is the independent reference for tests and benchmarks.

    ``implementation="vocab_sharded"`` runs the chunked kernel with ``w_student`` and
    ``w_teacher`` split by columns over mesh axis ``axis`` of ``mesh`` (placed there if they
    are not already); the hidden states and labels are replicated. Each device holds ``1/D``
    of both heads and of the head's gradient and at most ``chunk_size x V/D`` logits; the
    collectives carry ``O(chunk_size)`` statistics per chunk (module docstring) and one
    ``[N, H]`` sum for the hidden states' gradient. The value is replicated, the head's
    gradient split like the head; both equal the chunked ones up to float reassociation.

    **Gradients.** The teacher is a fixed target: ``h_teacher`` and ``w_teacher`` get
    zero gradients (as if wrapped in :func:`jax.lax.stop_gradient`), and ``labels`` get
    none. The chunked path supports reverse-mode differentiation only (``jax.grad``,
    ``jax.value_and_grad``, ``jax.vjp``); ``jax.jvp`` is not, as for any
    :func:`jax.custom_vjp`. Calling it without differentiating runs a cheaper loss-only
    scan.

    Args:
      h_student: student hidden states, shape ``[N, H]``, float32 or bfloat16.
      w_student: student output head, shape ``[H, V]``.
      h_teacher: teacher hidden states, shape ``[N, Ht]``.
      w_teacher: teacher output head, shape ``[Ht, V]``.
      divergence: one of :data:`~bayeskd.losses.divergences.DIVERGENCES`.
      temperature: :math:`T > 0`, finite, static.
      beta: :math:`\beta \in [0, 1]` for ``"jsd"`` (ignored otherwise), static; 0 is forward
        KL and 1 reverse KL exactly, as in trl and Liger.
      lam: :math:`\mu \in [0, 1]` for the skew KLs (ignored otherwise), static.
      labels: optional integer targets in ``[0, V)``, shape ``[N]``.
      label_weight: :math:`\lambda \in [0, 1]`; if positive, ``labels`` are required.
        With ``labels`` given and ``label_weight=0`` the labels are ignored.
      where: optional boolean mask of the classes that take part, shape ``[V]`` (a vocabulary
        padded to a multiple of 128, banned tokens) or ``[N, V]`` (constrained decoding, one
        mask per token); elsewhere both teacher and student logits are :math:`-\infty`. Masked
        classes get exactly zero gradient; a token masked everywhere contributes zero. A label
        on a masked class makes the cross-entropy ``+inf``.
      chunk_size: tokens per chunk (> 0), clipped to ``N``. Peak memory grows linearly
        with it (about ``3 * chunk_size * V`` float32 values plus the ``[H, V]`` gradient);
        on CPU the speed is flat from 64 to 1024, so the default 256 keeps the temporary
        memory of a forward+backward step at about 10% of the naive one for
        ``N=2048, V=65536``.
      reduction: ``"mean"`` (over the N tokens) or ``"sum"``.
      implementation: ``"chunked"`` (the kernel), ``"naive"`` (the reference) or
        ``"vocab_sharded"`` (the kernel on vocabulary slices over ``mesh``).
      mesh: a :class:`jax.sharding.Mesh` with axis ``axis``
        (:func:`bayeskd.distributed.make_mesh` ``(vocab=D)``); only, and required, with
        ``implementation="vocab_sharded"``.
      axis: the mesh axis the vocabulary is split over; its size must divide ``V``.

    Returns:
      A float32 scalar.

    Raises:
      ValueError: at trace time, for an unknown ``divergence``, ``reduction`` or
        ``implementation``, a bad ``temperature``, ``beta``, ``lam``, ``label_weight`` or
        ``chunk_size``, missing labels, inconsistent shapes, a ``where`` that is not boolean
        ``[V]`` or ``[N, V]``, a ``mesh`` without
        ``"vocab_sharded"`` (or that implementation without one), an ``axis`` the mesh does
        not have or whose size does not divide ``V``.

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

      The same loss with the heads split over the ``vocab`` axis of a mesh:

      >>> from bayeskd.distributed import make_mesh
      >>> sharded = fused_linear_distillation(h_s, w_s, h_t, w_t, chunk_size=2,
      ...                                     implementation="vocab_sharded", mesh=make_mesh(1))
      >>> bool(jnp.allclose(sharded, loss))
      True

    References:
      Hinton, Vinyals and Dean, `Distilling the Knowledge in a Neural Network
      <https://arxiv.org/abs/1503.02531>`_, 2015.

      Agarwal et al., `On-Policy Distillation of Language Models: Learning from
      Self-Generated Mistakes <https://arxiv.org/abs/2306.13649>`_ (GKD), ICLR 2024.

      Ko et al., `DistiLLM: Towards Streamlined Distillation for Large Language Models
      <https://arxiv.org/abs/2402.03898>`_, ICML 2024.

      Hsu et al., `Liger Kernel: Efficient Triton Kernels for LLM Training
      <https://arxiv.org/abs/2410.10989>`_, 2024.
    """
    check_choice(implementation, IMPLEMENTATIONS, name="implementation")
    cfg = _validate(
        h_student,
        w_student,
        h_teacher,
        w_teacher,
        labels,
        divergence=divergence,
        temperature=temperature,
        beta=beta,
        lam=lam,
        label_weight=label_weight,
        chunk_size=chunk_size,
        reduction=reduction,
        where=where,
    )
    _check_mesh(implementation, mesh, axis, jnp.shape(w_student)[1])
    if cfg.label_weight == 0.0:
        labels = None  # unused: keep it out of the kernel
    h_s, w_s, h_t, w_t = (jnp.asarray(x) for x in (h_student, w_student, h_teacher, w_teacher))
    labels = None if labels is None else jnp.asarray(labels, jnp.int32)
    where = None if where is None else jnp.asarray(where)
    if implementation == "vocab_sharded":
        col = NamedSharding(mesh, P(None, axis))
        w_s, w_t = (lax.with_sharding_constraint(w, col) for w in (w_s, w_t))
        return _sharded(cfg._replace(axis_name=axis), mesh, h_s, w_s, h_t, w_t, labels, where)
    run = _fused if implementation == "chunked" else _naive
    return run(cfg, h_s, w_s, h_t, w_t, labels, where)

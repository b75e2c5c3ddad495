r"""The chunked distillation kernel with the vocabulary split over a mesh axis.

For a large vocabulary the two output heads ``W_S [H, V]`` and ``W_T [Ht, V]`` (and the
gradient of ``W_S``) dominate a device's memory. :func:`vocab_sharded_distillation` splits them by
columns over the ``vocab`` axis of a :func:`bayeskd.distributed.make_mesh` mesh: device ``i`` of
``D`` holds classes ``[i V/D, (i+1) V/D)`` and runs the chunked kernel of
:mod:`bayeskd.losses.fused` on its slice (:func:`jax.shard_map`). Everything a divergence needs
beyond the slice is a sum over classes, so per chunk of tokens each device sends ``O(chunk)``
numbers, never logits:

.. math::
    \log \sum_{k=1}^{V} e^{z_k} = m + \log \sum_{i=1}^{D} \sum_{k \in \text{slice } i}
        e^{z_k - m}, \qquad m = \max_i \max_{k \in \text{slice } i} z_k \ (\texttt{pmax}),

and every :math:`\sum_k` of the divergence table (the KL sums, the softmax chain rule
:math:`p \odot (g - \sum_k p_k g_k)`) is a ``psum`` of partial sums
(:func:`bayeskd.losses.divergences.class_sum`). The gradient for ``W_S`` stays on its slice;
the gradient for the hidden states, :math:`\sum_i \partial\ell/\partial z_{\text{slice } i}\,
W_{S,\text{slice } i}^\top`, is one ``psum`` at the end. Values and gradients equal
:func:`~bayeskd.losses.fused.fused_linear_distillation` up to float reassociation (tested for
every divergence).
"""

from __future__ import annotations

import functools

import jax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from jaxtyping import Array, ArrayLike, Float, Int

from bayeskd.losses import fused
from bayeskd.validate import check_choice

__all__ = ["vocab_sharded_distillation"]


def _local(cfg, h_s, w_s, h_t, w_t, labels):
    """One device: its vocabulary slice through the chunked scan; ``dh`` summed over the axis."""
    loss, dh_NH, dw_HV = fused._chunked(cfg, h_s, w_s, h_t, w_t, labels, with_grad=True)
    return loss, jax.lax.psum(dh_NH, cfg.axis_name), dw_HV


def _run(cfg, mesh, h_s, w_s, h_t, w_t, labels):
    ax = cfg.axis_name
    col = P(None, ax)
    if labels is None:
        body = functools.partial(lambda c, a, b, d, e: _local(c, a, b, d, e, None), cfg)
        args, specs = (h_s, w_s, h_t, w_t), (P(), col, P(), col)
    else:
        body = functools.partial(_local, cfg)
        args, specs = (h_s, w_s, h_t, w_t, labels), (P(), col, P(), col, P())
    mapped = jax.shard_map(body, mesh=mesh, in_specs=specs, out_specs=(P(), P(), col),
                           check_vma=False)
    return mapped(*args)


def _primal(cfg, mesh, h_s, w_s, h_t, w_t, labels):
    return _run(cfg, mesh, h_s, w_s, h_t, w_t, labels)[0]


def _fwd(cfg, mesh, h_s, w_s, h_t, w_t, labels):
    loss, dh_NH, dw_HV = _run(cfg, mesh, h_s, w_s, h_t, w_t, labels)
    return loss, (dh_NH.astype(h_s.dtype), dw_HV.astype(w_s.dtype))


def _bwd(cfg, mesh, res, g):
    del cfg, mesh
    dh_NH, dw_HV = res
    return (g * dh_NH).astype(dh_NH.dtype), (g * dw_HV).astype(dw_HV.dtype), None, None, None


_sharded = jax.custom_vjp(_primal, nondiff_argnums=(0, 1))
_sharded.defvjp(_fwd, _bwd)


def vocab_sharded_distillation(
    h_student: Float[ArrayLike, "n h"],
    w_student: Float[ArrayLike, "h v"],
    h_teacher: Float[ArrayLike, "n ht"],
    w_teacher: Float[ArrayLike, "ht v"],
    *,
    mesh: Mesh,
    axis: str = "vocab",
    divergence: str = "forward_kl",
    temperature: float = 1.0,
    beta: float = 0.5,
    lam: float = 0.1,
    labels: Int[ArrayLike, " n"] | None = None,
    label_weight: float = 0.0,
    chunk_size: int = 256,
    reduction: str = "mean",
) -> Float[Array, ""]:
    r""":func:`~bayeskd.losses.fused.fused_linear_distillation` with the heads split by vocabulary.

    The loss is the same per-token

    .. math::
        \ell_n = (1 - \lambda)\, D(z^T_n, z^S_n) - \lambda \log \mathrm{softmax}(z^S_n)_{y_n},
        \qquad z^S = h^S W^S,\; z^T = h^T W^T,

    averaged (``"mean"``) or summed over the ``N`` tokens, with ``D`` any divergence of
    :data:`bayeskd.losses.divergences.TABLE`. ``w_student`` and ``w_teacher`` are split by
    columns over mesh axis ``axis`` (placed there if they are not already); the hidden states
    and labels are replicated. Each device holds ``1/D`` of both heads and of the head's
    gradient and at most ``chunk_size x V/D`` logits; the collectives carry ``O(chunk_size)``
    statistics per chunk (module docstring) and one ``[N, H]`` sum for the hidden states'
    gradient. Reverse-mode only; the teacher gets no gradient, as in the unsharded kernel.

    Args:
      h_student, w_student, h_teacher, w_teacher, divergence, temperature, beta, lam, labels,
        label_weight, chunk_size, reduction: as in
        :func:`~bayeskd.losses.fused.fused_linear_distillation`.
      mesh: a :class:`jax.sharding.Mesh` with axis ``axis``
        (:func:`bayeskd.distributed.make_mesh` ``(vocab=D)``).
      axis: the mesh axis the vocabulary is split over; its size must divide ``V``.

    Returns:
      A float32 scalar (replicated).

    Raises:
      ValueError: as the unsharded kernel, and for a mesh without ``axis`` or an axis size that
        does not divide ``V``.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from bayeskd.distributed import make_mesh
      >>> k1, k2, k3, k4 = jax.random.split(jax.random.key(0), 4)
      >>> h_s, h_t = jax.random.normal(k1, (5, 4)), jax.random.normal(k2, (5, 3))
      >>> w_s, w_t = jax.random.normal(k3, (4, 12)), jax.random.normal(k4, (3, 12))
      >>> a = vocab_sharded_distillation(h_s, w_s, h_t, w_t, mesh=make_mesh(1), chunk_size=2)
      >>> b = fused.fused_linear_distillation(h_s, w_s, h_t, w_t, chunk_size=2)
      >>> bool(jnp.allclose(a, b))
      True
    """
    if not isinstance(mesh, Mesh):
        raise ValueError(f"mesh: must be a jax.sharding.Mesh, got {type(mesh).__name__}")
    check_choice(axis, tuple(mesh.axis_names), name="axis")
    cfg = fused._validate(h_student, w_student, h_teacher, w_teacher, labels,
                          divergence=divergence, temperature=temperature, beta=beta, lam=lam,
                          label_weight=label_weight, chunk_size=chunk_size, reduction=reduction)
    vocab, size = jax.numpy.shape(w_student)[1], mesh.shape[axis]
    if vocab % size:
        raise ValueError(f"w_student: its vocabulary V={vocab} must divide over the {size} "
                         f"devices of mesh axis {axis!r}")
    cfg = cfg._replace(axis_name=axis)
    if cfg.label_weight == 0.0:
        labels = None
    col = NamedSharding(mesh, P(None, axis))
    h_s, h_t = jax.numpy.asarray(h_student), jax.numpy.asarray(h_teacher)
    w_s, w_t = (jax.lax.with_sharding_constraint(jax.numpy.asarray(w), col)
                for w in (w_student, w_teacher))
    labels = None if labels is None else jax.numpy.asarray(labels, jax.numpy.int32)
    return _sharded(cfg, mesh, h_s, w_s, h_t, w_t, labels)

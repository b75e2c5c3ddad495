"""Convolutional networks: the MNIST-1D 1-D CNN and a small 2-D ResNet for 8x8 to 32x32 images."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx


def conv1d_same(x: jax.Array, kernel: jax.Array, bias: jax.Array, *, stride: int) -> jax.Array:
    r"""1-D convolution with ``SAME`` padding written as patches times a matrix.

    .. math::
        y_{b,l,d} = \sum_{j<k}\sum_c x_{b,\,l s + j - p,\,c}\, W_{j,c,d} + b_d

    Numerically the same as ``nnx.Conv(..., padding="SAME")`` with kernel ``W [k, C, D]``, but
    lowered to strided slices and one matmul, which XLA's CPU backend runs (and differentiates, and
    vmaps over ensemble members) an order of magnitude faster than its small-channel convolution.

    Args:
      x: ``[B, L, C]`` inputs.
      kernel: ``[k, C, D]`` weights.
      bias: ``[D]``.
      stride: ``s >= 1``.

    Returns:
      ``[B, ceil(L / s), D]``.
    """
    k, length = kernel.shape[0], x.shape[1]
    out_len = -(-length // stride)
    total_pad = max((out_len - 1) * stride + k - length, 0)
    lo = total_pad // 2
    xp = jnp.pad(x, ((0, 0), (lo, total_pad - lo), (0, 0)))
    span = (out_len - 1) * stride + 1
    cols_BLkC = jnp.stack([xp[:, j : j + span : stride] for j in range(k)], axis=2)
    return jnp.einsum("blkc,kcd->bld", cols_BLkC, kernel) + bias


def conv2d_same(x: jax.Array, kernel: jax.Array, bias: jax.Array) -> jax.Array:
    r"""2-D convolution with stride 1 and ``SAME`` padding written as patches times a matrix.

    .. math::
        y_{b,h,w,d} = \sum_{i<k_h}\sum_{j<k_w}\sum_c x_{b,\,h + i - p_h,\,w + j - p_w,\,c}\,
        W_{i,j,c,d} + b_d, \qquad p = \lfloor (k - 1) / 2 \rfloor

    Numerically the same as ``nnx.Conv(..., padding="SAME")`` with kernel ``W [k_h, k_w, C, D]``
    (up to the order of the sums), lowered to ``k_h k_w`` shifted slices and one matmul: XLA's CPU
    backend runs and differentiates that many times faster than its convolution on small images.

    Args:
      x: ``[B, H, W, C]`` inputs.
      kernel: ``[k_h, k_w, C, D]`` weights.
      bias: ``[D]``.

    Returns:
      ``[B, H, W, D]``.
    """
    kh, kw, c, d = kernel.shape
    h, w = x.shape[1], x.shape[2]
    if (kh, kw) == (1, 1):
        return jnp.einsum("bhwc,cd->bhwd", x, kernel[0, 0]) + bias
    xp = jnp.pad(x, ((0, 0), ((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2), (0, 0)))
    cols_BHWPC = jnp.stack([xp[:, i : i + h, j : j + w] for i in range(kh) for j in range(kw)],
                           axis=3)
    return jnp.einsum("bhwpc,pcd->bhwd", cols_BHWPC, kernel.reshape(kh * kw, c, d)) + bias


def _conv2d(conv: nnx.Conv, x: jax.Array) -> jax.Array:
    """``conv(x)`` for a stride-1 ``SAME`` :class:`nnx.Conv`, through :func:`conv2d_same`."""
    return conv2d_same(x, conv.kernel[...], conv.bias[...])


class CNN1D(nnx.Module):
    """The MNIST-1D convolutional network: three 1-D conv layers of 25 channels, then a linear head.

    Follows the CNN of Greydanus & Kobak (2024, "Scaling down deep learning with MNIST-1D"): kernel
    size 5, stride 2, ReLU, about 5k parameters, reaching about 94% test accuracy on the 4,000-example
    MNIST-1D training set.

    Inputs ``[B, L]`` (one channel) or ``[B, L, C]``; output logits ``[B, K]``.
    """

    def __init__(
        self,
        length: int,
        num_classes: int,
        *,
        channels: int = 25,
        kernel_size: int = 5,
        stride: int = 2,
        num_layers: int = 3,
        in_channels: int = 1,
        rngs: nnx.Rngs,
    ):
        convs = []
        c_in, size = in_channels, length
        for _ in range(num_layers):
            convs.append(
                nnx.Conv(c_in, channels, (kernel_size,), strides=(stride,), padding="SAME", rngs=rngs)
            )
            c_in, size = channels, -(-size // stride)
        self.convs = nnx.List(convs)
        self.head = nnx.Linear(channels * size, num_classes, rngs=rngs)

    def features(self, x: jax.Array, *, key: jax.Array | None = None) -> jax.Array:
        """Flattened activations of the last conv layer ``[B, channels * L']``."""
        del key
        h = x[..., None] if x.ndim == 2 else x
        for conv in self.convs:
            h = jax.nn.relu(conv1d_same(h, conv.kernel[...], conv.bias[...], stride=conv.strides[0]))
        return jnp.reshape(h, (h.shape[0], -1))

    def __call__(self, x: jax.Array, *, key: jax.Array | None = None) -> jax.Array:
        """Logits ``[B, K]``."""
        return self.head(self.features(x, key=key))


class _Block(nnx.Module):
    """Pre-activation residual block: ``x + conv(relu(norm(conv(relu(norm(x))))))``."""

    def __init__(self, channels: int, *, rngs: nnx.Rngs):
        self.norm1 = nnx.GroupNorm(channels, num_groups=min(8, channels), rngs=rngs)
        self.conv1 = nnx.Conv(channels, channels, (3, 3), padding="SAME", rngs=rngs)
        self.norm2 = nnx.GroupNorm(channels, num_groups=min(8, channels), rngs=rngs)
        self.conv2 = nnx.Conv(channels, channels, (3, 3), padding="SAME", rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        h = _conv2d(self.conv1, jax.nn.relu(self.norm1(x)))
        return x + _conv2d(self.conv2, jax.nn.relu(self.norm2(h)))


class ResNet(nnx.Module):
    """A small ResNet for images ``[B, H, W, C]`` from 8x8 to 32x32.

    A 3x3 stem, ``len(widths)`` stages of ``blocks`` residual blocks (group norm, so no batch
    statistics to carry), 2x2 average pooling between stages, global average pooling and a
    linear head. ``widths=(16,)`` with ``blocks=1`` gives a plain small CNN for 8x8 digits.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        *,
        widths: tuple[int, ...] = (16, 32),
        blocks: int = 1,
        rngs: nnx.Rngs,
    ):
        self.stem = nnx.Conv(in_channels, widths[0], (3, 3), padding="SAME", rngs=rngs)
        stages, projections = [], []
        for i, w in enumerate(widths):
            c_in = widths[max(i - 1, 0)]
            projections.append(
                nnx.Conv(c_in, w, (1, 1), rngs=rngs) if c_in != w else None
            )
            stages.append(nnx.List([_Block(w, rngs=rngs) for _ in range(blocks)]))
        self.projections = nnx.List(projections)
        self.stages = nnx.List(stages)
        self.head = nnx.Linear(widths[-1], num_classes, rngs=rngs)

    def features(self, x: jax.Array, *, key: jax.Array | None = None) -> jax.Array:
        """Globally pooled activations ``[B, widths[-1]]``."""
        del key
        h = _conv2d(self.stem, x)
        for i, (proj, stage) in enumerate(zip(self.projections, self.stages, strict=True)):
            if i > 0 and h.shape[1] >= 4:
                h = nnx.avg_pool(h, (2, 2), strides=(2, 2))
            if proj is not None:
                h = _conv2d(proj, h)
            for block in stage:
                h = block(h)
        return jnp.mean(jax.nn.relu(h), axis=(1, 2))

    def __call__(self, x: jax.Array, *, key: jax.Array | None = None) -> jax.Array:
        """Logits ``[B, K]``."""
        return self.head(self.features(x, key=key))

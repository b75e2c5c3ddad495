r"""A small causal transformer language model in Flax NNX.

Pre-norm blocks (Xiong et al. 2020), :math:`x \leftarrow x + \mathrm{Attn}(\mathrm{LN}(x))`,
:math:`x \leftarrow x + \mathrm{MLP}(\mathrm{LN}(x))`, causal multi-head attention with rotary
(RoPE, Su et al. 2021) or learned absolute positions, a final layer norm and a linear head that
is tied to the token embedding or separate. The model exposes its final hidden states
(:meth:`Transformer.hidden`) and its head weight (:meth:`Transformer.head_weight`, ``[H, V]``)
so that the loss can be computed through the chunked kernel
(:func:`bayeskd.losses.fused.fused_linear_distillation`) without building ``[tokens, V]`` logits.

For generation, :meth:`Transformer.decode_step` runs one position against a key-value cache
(:meth:`Transformer.init_cache`); :mod:`bayeskd.training.lm_sampling` scans it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx
from jaxtyping import Array, Float, Int

from bayeskd.validate import check_choice, check_positive_int

POSITIONS = ("rope", "learned")

__all__ = ["POSITIONS", "Transformer", "TransformerConfig", "distilbert_init"]


def _rope(x_BLhd: Array, pos_L: Array) -> Array:
    r"""Rotary position embedding: rotate pairs :math:`(x_i, x_{i+d/2})` by :math:`p\,\omega_i`,
    :math:`\omega_i = 10000^{-2i/d}`."""
    d = x_BLhd.shape[-1]
    freq = 10000.0 ** (-jnp.arange(0, d // 2, dtype=jnp.float32) * 2.0 / d)
    ang_Lf = pos_L.astype(jnp.float32)[:, None] * freq[None]
    cos, sin = jnp.cos(ang_Lf)[None, :, None], jnp.sin(ang_Lf)[None, :, None]
    x1, x2 = x_BLhd[..., : d // 2], x_BLhd[..., d // 2:]
    return jnp.concatenate([x1 * cos - x2 * sin, x1 * sin + x2 * cos], axis=-1)


class Block(nnx.Module):
    """One pre-norm transformer block: causal self-attention and a GELU MLP."""

    def __init__(self, width: int, num_heads: int, mlp_ratio: int, *, rope: bool,
                 dropout: float, rngs: nnx.Rngs):
        self.num_heads, self.rope = num_heads, rope
        self.ln1 = nnx.LayerNorm(width, rngs=rngs)
        self.qkv = nnx.Linear(width, 3 * width, use_bias=False, rngs=rngs)
        self.out = nnx.Linear(width, width, use_bias=False, rngs=rngs)
        self.ln2 = nnx.LayerNorm(width, rngs=rngs)
        self.fc1 = nnx.Linear(width, mlp_ratio * width, rngs=rngs)
        self.fc2 = nnx.Linear(mlp_ratio * width, width, rngs=rngs)
        self.dropout = nnx.Dropout(dropout) if dropout > 0 else None

    def _drop(self, x, key, i):
        if self.dropout is None or key is None:
            return x
        return self.dropout(x, deterministic=False, rngs=jax.random.fold_in(key, i))

    def _qkv(self, x_BLH, pos_L):
        b, seq, width = x_BLH.shape
        heads = self.num_heads
        q, k, v = jnp.split(self.qkv(self.ln1(x_BLH)).reshape(b, seq, 3 * heads, -1), 3, axis=2)
        if self.rope:
            q, k = _rope(q, pos_L), _rope(k, pos_L)
        return q, k, v

    def _finish(self, x_BLH, att_BLhd, key):
        b, seq, width = x_BLH.shape
        x_BLH = x_BLH + self._drop(self.out(att_BLhd.reshape(b, seq, width)), key, 0)
        mlp = self.fc2(jax.nn.gelu(self.fc1(self.ln2(x_BLH))))
        return x_BLH + self._drop(mlp, key, 1)

    def __call__(self, x_BLH: Array, pos_L: Array, *, key: jax.Array | None = None) -> Array:
        q, k, v = self._qkv(x_BLH, pos_L)
        seq = x_BLH.shape[1]
        mask_LL = jnp.tril(jnp.ones((seq, seq), bool))
        return self._finish(x_BLH, _attend(q, k, v, mask_LL), key)

    def decode(self, x_B1H: Array, pos: Array, cache: tuple[Array, Array]):
        """One position ``pos`` against the cache ``(k, v)`` ``[B, Lc, heads, d]``."""
        q, k, v = self._qkv(x_B1H, pos[None])
        k_cache = jax.lax.dynamic_update_slice_in_dim(cache[0], k.astype(cache[0].dtype), pos, 1)
        v_cache = jax.lax.dynamic_update_slice_in_dim(cache[1], v.astype(cache[1].dtype), pos, 1)
        mask_1M = (jnp.arange(k_cache.shape[1]) <= pos)[None]
        return self._finish(x_B1H, _attend(q, k_cache, v_cache, mask_1M), None), (k_cache, v_cache)


def _attend(q_BLhd: Array, k_BMhd: Array, v_BMhd: Array, mask_LM: Array) -> Array:
    r""":math:`\mathrm{softmax}(q k^\top / \sqrt d + \text{mask})\, v` per head."""
    scores = jnp.einsum("blhd,bmhd->bhlm", q_BLhd, k_BMhd) / jnp.sqrt(q_BLhd.shape[-1])
    scores = jnp.where(mask_LM[None, None], scores, jnp.finfo(scores.dtype).min)
    return jnp.einsum("bhlm,bmhd->blhd", jax.nn.softmax(scores, axis=-1), v_BMhd)


class Transformer(nnx.Module):
    """A causal transformer ``tokens [B, L] -> logits [B, L, V]``; position ``t`` sees ``<= t``.

    Args:
      vocab_size: ``V``.
      num_layers: blocks.
      width: hidden size ``H`` (divisible by ``num_heads``; by ``2 num_heads`` with RoPE).
      num_heads: attention heads.
      max_len: the longest sequence (the size of the learned position table; also enforced with
        RoPE, so a model's positions are always explicit).
      positions: ``"rope"`` or ``"learned"``.
      tie_embeddings: the head is the transposed token embedding.
      mlp_ratio: MLP width as a multiple of ``H``.
      dropout: drop probability on every residual branch, active when a ``key`` is given (MC
        dropout: each keyed call is one sample of a Bernoulli variational posterior).
      rngs: NNX random streams for the initial weights.
    """

    def __init__(self, vocab_size: int, *, num_layers: int = 2, width: int = 128, num_heads: int = 4,
                 max_len: int = 128, positions: str = "rope", tie_embeddings: bool = True,
                 mlp_ratio: int = 4, dropout: float = 0.0, rngs: nnx.Rngs):
        TransformerConfig(vocab_size, num_layers, width, num_heads, max_len, positions,
                          tie_embeddings, mlp_ratio, dropout)  # checks the arguments
        self.vocab_size, self.max_len = vocab_size, max_len
        self.embed = nnx.Embed(vocab_size, width, rngs=rngs)
        self.pos = nnx.Embed(max_len, width, rngs=rngs) if positions == "learned" else None
        self.blocks = nnx.List([
            Block(width, num_heads, mlp_ratio, rope=positions == "rope", dropout=dropout, rngs=rngs)
            for _ in range(num_layers)])
        self.norm = nnx.LayerNorm(width, rngs=rngs)
        self.head = None if tie_embeddings else nnx.Linear(width, vocab_size, use_bias=False,
                                                            rngs=rngs)

    def _check_length(self, seq: int) -> None:
        if seq > self.max_len:
            raise ValueError(f"tokens: sequence length {seq} is longer than the model's "
                             f"max_len = {self.max_len} positions")

    def _embed(self, tokens_BL: Array, pos_L: Array) -> Array:
        x = self.embed(tokens_BL)
        return x if self.pos is None else x + self.pos(pos_L)[None]

    def layer_states(self, tokens: Int[Array, "B L"], *,
                     key: jax.Array | None = None) -> list[Float[Array, "B L H"]]:
        """The residual stream after the embedding and after every block (``num_layers + 1``)."""
        tokens = jnp.asarray(tokens)
        self._check_length(tokens.shape[1])
        pos_L = jnp.arange(tokens.shape[1])
        x = self._embed(tokens, pos_L)
        states = [x]
        for i, block in enumerate(self.blocks):
            x = block(x, pos_L, key=None if key is None else jax.random.fold_in(key, i))
            states.append(x)
        return states

    def hidden(self, tokens: Int[Array, "B L"], *,
               key: jax.Array | None = None) -> Float[Array, "B L H"]:
        """Final (normalised) hidden states; ``hidden @ head_weight()`` are the logits."""
        return self.norm(self.layer_states(tokens, key=key)[-1])

    def head_weight(self) -> Float[Array, "H V"]:
        """The output head ``[H, V]`` (the embedding transposed when tied)."""
        return self.embed.embedding[...].T if self.head is None else self.head.kernel[...]

    def __call__(self, tokens: Int[Array, "B L"], *,
                 key: jax.Array | None = None) -> Float[Array, "B L V"]:
        """Logits ``[B, L, V]`` (materialised: for evaluation and small vocabularies)."""
        return self.hidden(tokens, key=key) @ self.head_weight()

    def init_cache(self, batch: int, length: int, dtype=jnp.float32) -> tuple:
        """An empty key-value cache for ``length`` positions: per block ``(k, v) [B, Lc, h, d]``."""
        self._check_length(length)
        block = self.blocks[0]
        d = self.embed.embedding.shape[1] // block.num_heads
        z = jnp.zeros((batch, length, block.num_heads, d), dtype)
        return tuple((z, z) for _ in self.blocks)

    def decode_step(self, tokens_B: Int[Array, " B"], pos: Array,
                    cache: tuple) -> tuple[Float[Array, "B H"], tuple]:
        """Final hidden state ``[B, H]`` at position ``pos`` given the cache of positions ``< pos``."""
        pos = jnp.asarray(pos, jnp.int32)
        x = self._embed(tokens_B[:, None], pos[None])
        new = []
        for block, c in zip(self.blocks, cache, strict=True):
            x, c = block.decode(x, pos, c)
            new.append(c)
        return self.norm(x)[:, 0], tuple(new)


@dataclasses.dataclass(frozen=True)
class TransformerConfig:
    """The sizes of a :class:`Transformer`; hashable, and ``config(key)`` builds one (a model function).

    Example:
      >>> cfg = TransformerConfig(vocab_size=32, num_layers=1, width=16, num_heads=2, max_len=8)
      >>> cfg(jax.random.key(0))(jnp.zeros((1, 8), jnp.int32)).shape
      (1, 8, 32)
    """

    vocab_size: int
    num_layers: int = 2
    width: int = 128
    num_heads: int = 4
    max_len: int = 128
    positions: str = "rope"
    tie_embeddings: bool = True
    mlp_ratio: int = 4
    dropout: float = 0.0

    def __post_init__(self):
        for name in ("vocab_size", "num_layers", "width", "num_heads", "max_len", "mlp_ratio"):
            check_positive_int(getattr(self, name), name=name)
        check_choice(self.positions, POSITIONS, name="positions")
        per_head = 2 * self.num_heads if self.positions == "rope" else self.num_heads
        if self.width % per_head:
            raise ValueError(f"width: must be divisible by {per_head} ({self.num_heads} heads"
                             f"{', even head size for RoPE' if self.positions == 'rope' else ''}), "
                             f"got {self.width}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout: must lie in [0, 1), got {self.dropout!r}")

    def __call__(self, key: jax.Array) -> Transformer:
        return Transformer(self.vocab_size, num_layers=self.num_layers, width=self.width,
                           num_heads=self.num_heads, max_len=self.max_len,
                           positions=self.positions, tie_embeddings=self.tie_embeddings,
                           mlp_ratio=self.mlp_ratio, dropout=self.dropout,
                           rngs=nnx.Rngs(params=key))

    def param_count(self) -> int:
        from bayeskd.models import param_count

        return param_count(nnx.eval_shape(lambda: self(jax.random.key(0))))


def distilbert_init(teacher_params: Any, teacher: TransformerConfig,
                    student: TransformerConfig) -> Any:
    """Student parameters copied from the teacher's, DistilBERT style (Sanh et al. 2019).

    The student keeps the teacher's width and takes every ``Lt // Ls``-th block (every other one
    for half the depth: blocks ``0, 2, 4, ...``), the token (and position) embeddings, the final
    norm and the head.

    Raises:
      ValueError: the student is wider or narrower than the teacher, deeper than it, or differs
        in vocabulary, heads, positions or head tying.
    """
    same = ("vocab_size", "width", "num_heads", "max_len", "positions", "tie_embeddings",
            "mlp_ratio")
    for name in same:
        if getattr(student, name) != getattr(teacher, name):
            raise ValueError(f"--student: DistilBERT initialisation copies teacher layers, so "
                             f"{name} must equal the teacher's {getattr(teacher, name)!r}, got "
                             f"{getattr(student, name)!r}")
    if student.num_layers > teacher.num_layers:
        raise ValueError(f"--student: DistilBERT initialisation needs a student no deeper than "
                         f"the teacher ({teacher.num_layers} layers), got {student.num_layers}")
    stride = teacher.num_layers // student.num_layers
    pure = nnx.to_pure_dict(teacher_params)
    pure = dict(pure) | {"blocks": {i: pure["blocks"][i * stride]
                                    for i in range(student.num_layers)}}
    _, abstract = nnx.split(nnx.eval_shape(lambda: student(jax.random.key(0))), nnx.Param)
    nnx.replace_by_pure_dict(abstract, pure)
    return abstract

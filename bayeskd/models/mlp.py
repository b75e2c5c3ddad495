"""Multilayer perceptron with optional dropout."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx


class MLP(nnx.Module):
    """A ReLU multilayer perceptron ``in -> width x depth -> num_classes``.

    Inputs of any shape ``[B, ...]`` are flattened to ``[B, D]``. With ``dropout > 0`` every hidden
    layer is followed by dropout, which is active only when ``__call__`` receives a ``key``: the
    Bayesian reading is a Bernoulli variational posterior over the hidden units (Gal & Ghahramani
    2016), so a call with a key is one sample from it and calls without a key use its mean.

    Args:
      in_features: flattened input size ``D``.
      num_classes: number of output logits ``K``.
      hidden: sizes of the hidden layers, e.g. ``(100, 100)``.
      dropout: drop probability after each hidden layer, in ``[0, 1)``.
      rngs: NNX random streams used to initialise the weights.
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        *,
        hidden: Sequence[int] = (100, 100),
        dropout: float = 0.0,
        rngs: nnx.Rngs,
    ):
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout: must lie in [0, 1), got {dropout}")
        sizes = [int(in_features), *map(int, hidden)]
        self.hidden = nnx.List(
            [nnx.Linear(a, b, rngs=rngs) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
        )
        self.head = nnx.Linear(sizes[-1], num_classes, rngs=rngs)
        self.dropout = nnx.Dropout(dropout) if dropout > 0 else None

    def features(self, x: jax.Array, *, key: jax.Array | None = None) -> jax.Array:
        """Penultimate activations ``[B, width]``."""
        h = jnp.reshape(x, (x.shape[0], -1))
        for i, layer in enumerate(self.hidden):
            h = jax.nn.relu(layer(h))
            if self.dropout is not None and key is not None:
                h = self.dropout(h, deterministic=False, rngs=jax.random.fold_in(key, i))
        return h

    def __call__(self, x: jax.Array, *, key: jax.Array | None = None) -> jax.Array:
        """Logits ``[B, K]``; ``key`` switches dropout on."""
        return self.head(self.features(x, key=key))

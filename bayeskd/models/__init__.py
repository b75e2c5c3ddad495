"""Flax NNX models. They only define layers; training works on their ``nnx.split`` state.

A model is any ``nnx.Module`` whose ``__call__(x)`` maps ``x [B, ...] -> logits [B, K]``; its
randomness comes from its own ``nnx.Rngs`` streams and its train/eval mode from NNX's switches
(:func:`bayeskd.training.call_model`). bayeskd's own models take one more argument,
``__call__(x, *, key=None)``, where a ``key`` switches dropout on (the trainer draws one per step
and MC dropout one per draw, with no RNG state in the model), and expose ``features(x)``
(penultimate activations). Your own architecture enters as ``module.path:factory``
(:mod:`bayeskd.models.user`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np
from flax import nnx

from bayeskd.models.cnn import CNN1D, ResNet
from bayeskd.models.mlp import MLP
from bayeskd.models.transformer import Transformer, TransformerConfig, distilbert_init
from bayeskd.models.user import UserModel, check_user_model, is_user_model

MODELS = ("mlp", "mlp-small", "mlp-large", "cnn", "resnet")


def param_count(model: nnx.Module) -> int:
    """Number of trainable scalars in ``model`` (its ``nnx.Param`` leaves)."""
    params = nnx.state(model, nnx.Param)
    return int(sum(np.prod(p.shape) for p in jax.tree.leaves(params)))


def make_model(
    name: str,
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    key: jax.Array,
    dropout: float = 0.0,
    **kwargs,
) -> nnx.Module:
    """Build a model by name for inputs of shape ``input_shape`` (without the batch axis).

    Names: ``mlp`` (100-100 hidden, the MNIST-1D paper's MLP), ``mlp-small`` (30 hidden units),
    ``mlp-large`` (300-300), ``cnn`` (the 1-D CNN for vector inputs, a small ResNet for images),
    ``resnet`` (images only). Extra keyword arguments go to the model's constructor.
    """
    if name not in MODELS:
        raise ValueError(f"model: unknown name {name!r}; choose one of: {', '.join(MODELS)}")
    if not isinstance(num_classes, int | np.integer) or num_classes < 2:
        raise ValueError(f"num_classes: must be an integer >= 2, got {num_classes!r}")
    rngs = nnx.Rngs(params=key)
    is_image = len(input_shape) == 3
    if name.startswith("mlp"):
        hidden = {"mlp": (100, 100), "mlp-small": (30,), "mlp-large": (300, 300)}[name]
        kwargs.setdefault("hidden", hidden)
        return MLP(int(np.prod(input_shape)), num_classes, dropout=dropout, rngs=rngs, **kwargs)
    if dropout:
        raise ValueError(f"dropout: only MLP models take dropout, got dropout={dropout} for {name!r}")
    if name == "resnet" or (name == "cnn" and is_image):
        if not is_image:
            raise ValueError(f"model: {name!r} needs image inputs [H, W, C], got shape {input_shape}")
        if input_shape[0] <= 8:
            kwargs.setdefault("widths", (16,))
        return ResNet(input_shape[-1], num_classes, rngs=rngs, **kwargs)
    in_channels = 1 if len(input_shape) == 1 else input_shape[-1]
    return CNN1D(input_shape[0], num_classes, in_channels=in_channels, rngs=rngs, **kwargs)


@dataclasses.dataclass(frozen=True)
class ModelFactory:
    """``key -> module`` for a named model: hashable, so equal factories share compiled programs.

    :func:`bayeskd.training.fit` compiles its initialiser once per model function; a factory built
    twice with the same arguments is the same model function (``==`` and ``hash``), where two
    lambdas would compile twice.

    Example:
      >>> f = ModelFactory("mlp-small", (40,), 10)
      >>> f == ModelFactory("mlp-small", (40,), 10)
      True
    """

    name: str
    input_shape: tuple[int, ...]
    num_classes: int
    options: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self):
        if self.name not in MODELS:
            raise ValueError(f"model: unknown name {self.name!r}; choose one of: {', '.join(MODELS)}")
        object.__setattr__(self, "input_shape", tuple(int(d) for d in self.input_shape))
        if isinstance(self.options, dict):
            object.__setattr__(self, "options", tuple(sorted(self.options.items())))

    def __call__(self, key: jax.Array) -> nnx.Module:
        return make_model(self.name, self.input_shape, self.num_classes, key=key,
                          **dict(self.options))


__all__ = ["CNN1D", "MLP", "MODELS", "ModelFactory", "ResNet", "Transformer", "TransformerConfig",
           "UserModel", "check_user_model", "distilbert_init", "dropout_rate",
           "dropout_rates", "is_user_model", "make_model", "param_count"]


def dropout_rates(model: nnx.Module) -> list[float]:
    """The drop probability of each ``nnx.Dropout`` layer of ``model`` (empty: no dropout)."""
    return [float(m.rate) for _, m in nnx.iter_graph(model) if isinstance(m, nnx.Dropout)]


def dropout_rate(model: nnx.Module) -> float:
    """The largest drop probability of ``model``'s dropout layers (it must be > 0).

    Raises:
      ValueError: the model has no dropout layer with a rate above 0 (MC dropout would return
        the same network ``S`` times).
    """
    rates = dropout_rates(model)
    if not rates or max(rates) <= 0:
        raise ValueError("model: has no dropout layer with rate > 0; build it with dropout > 0 "
                         "(e.g. make_model(..., dropout=0.1)) for MC dropout")
    return max(rates)

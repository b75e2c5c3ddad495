"""bayeskd: knowledge distillation as Bayesian inference, in JAX.

The public API, by idea:

- data: :func:`load_dataset`, :class:`Dataset` (``bayeskd.data``)
- models: :func:`make_model`, :func:`param_count` (``bayeskd.models``)
- losses: :func:`kl_divergence`, :func:`reverse_kl_divergence` (``bayeskd.losses``)
- priors: :class:`NoPrior`, :class:`GaussianPrior`, :class:`LabelSmoothing`,
  :class:`TeacherPrior`, :class:`EnsembleTeacherPrior`, :class:`SumPrior` (``bayeskd.priors``)
- training: :func:`fit`, :class:`TrainConfig`, :func:`predict_logits` (``bayeskd.training``)
- metrics: :func:`classification_metrics` and friends (``bayeskd.metrics``)
"""

from bayeskd import data, losses, metrics, models, priors, training
from bayeskd.data import Dataset, load_dataset
from bayeskd.losses import kl_divergence, reverse_kl_divergence, softmax_cross_entropy
from bayeskd.metrics import classification_metrics
from bayeskd.models import make_model, param_count
from bayeskd.priors import (
    EnsembleTeacherPrior,
    GaussianPrior,
    LabelSmoothing,
    NoPrior,
    SumPrior,
    TeacherPrior,
)
from bayeskd.training import FitResult, TrainConfig, fit, predict_logits

__version__ = "0.1.0"

__all__ = [
    "Dataset",
    "EnsembleTeacherPrior",
    "FitResult",
    "GaussianPrior",
    "LabelSmoothing",
    "NoPrior",
    "SumPrior",
    "TeacherPrior",
    "TrainConfig",
    "classification_metrics",
    "data",
    "fit",
    "kl_divergence",
    "load_dataset",
    "losses",
    "make_model",
    "metrics",
    "models",
    "param_count",
    "predict_logits",
    "priors",
    "reverse_kl_divergence",
    "softmax_cross_entropy",
    "training",
]

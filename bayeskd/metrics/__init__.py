"""Evaluation metrics: accuracy, likelihood, calibration, disagreement, uncertainty, robustness.

All array metrics take probabilities (not logits) and are pure, jit-able JAX functions;
:func:`classification_metrics`, :func:`mean_std` and :func:`summarize` return plain Python floats for
reporting.
"""

from bayeskd.metrics.calibration import ReliabilityBins, ece, mce, reliability_bins
from bayeskd.metrics.classification import (
    accuracy,
    agreement,
    brier,
    entropy,
    kl_divergence,
    mutual_information,
    nll,
    predictive_mean,
    total_variation,
    uncertainty_decomposition,
)
from bayeskd.metrics.detection import auroc
from bayeskd.metrics.fidelity import transfer_agreement
from bayeskd.metrics.robustness import input_grad_norm, noise_accuracy
from bayeskd.metrics.summary import (
    classification_metrics,
    format_mean_std,
    mean_std,
    omitted_class_shift,
    pct,
    summarize,
)

__all__ = [
    "ReliabilityBins",
    "accuracy",
    "agreement",
    "auroc",
    "brier",
    "classification_metrics",
    "ece",
    "entropy",
    "format_mean_std",
    "omitted_class_shift",
    "input_grad_norm",
    "kl_divergence",
    "mce",
    "mean_std",
    "mutual_information",
    "nll",
    "noise_accuracy",
    "pct",
    "predictive_mean",
    "reliability_bins",
    "summarize",
    "total_variation",
    "transfer_agreement",
    "uncertainty_decomposition",
]

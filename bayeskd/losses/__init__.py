"""Pure divergences on logits, one value per example (one table), plus the chunked large-vocabulary kernel."""

from bayeskd.losses.divergences import (
    DIVERGENCES,
    TABLE,
    DivergenceEntry,
    DivergenceParams,
    divergence,
    divergence_value_and_grad,
    kl_divergence,
    log_mean_probs,
    reverse_kl_divergence,
    soft_cross_entropy,
    softmax_cross_entropy,
    tempered_log_probs,
)
from bayeskd.losses.fused import fused_linear_distillation
from bayeskd.validate import check_temperature, check_unit_interval

__all__ = [
    "DIVERGENCES",
    "TABLE",
    "DivergenceEntry",
    "DivergenceParams",
    "check_temperature",
    "check_unit_interval",
    "divergence",
    "divergence_value_and_grad",
    "fused_linear_distillation",
    "kl_divergence",
    "log_mean_probs",
    "reverse_kl_divergence",
    "soft_cross_entropy",
    "softmax_cross_entropy",
    "tempered_log_probs",
]

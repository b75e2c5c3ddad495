"""Pure divergences on logits, one value per example, plus the chunked large-vocabulary kernel."""

from bayeskd.losses.divergences import (
    kl_divergence,
    log_mean_probs,
    reverse_kl_divergence,
    soft_cross_entropy,
    softmax_cross_entropy,
    tempered_log_probs,
)
from bayeskd.losses.fused import fused_linear_distillation, naive_linear_distillation
from bayeskd.validate import check_temperature, check_unit_interval

__all__ = [
    "check_temperature",
    "check_unit_interval",
    "fused_linear_distillation",
    "kl_divergence",
    "log_mean_probs",
    "naive_linear_distillation",
    "reverse_kl_divergence",
    "soft_cross_entropy",
    "softmax_cross_entropy",
    "tempered_log_probs",
]

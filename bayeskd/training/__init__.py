"""The compiled trainer: objective = likelihood + priors, whole runs inside ``lax.scan``."""

from bayeskd.training.trainer import (
    FitResult,
    TrainConfig,
    TrainingDiverged,
    TrainState,
    apply_model,
    evaluate_accuracy,
    fit,
    init_members,
    predict_logits,
    predict_logits_members,
    split_params,
)

__all__ = [
    "FitResult",
    "TrainConfig",
    "TrainState",
    "TrainingDiverged",
    "apply_model",
    "evaluate_accuracy",
    "fit",
    "init_members",
    "predict_logits",
    "predict_logits_members",
    "split_params",
]

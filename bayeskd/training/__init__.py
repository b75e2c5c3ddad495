"""The compiled trainer: objective = likelihood + priors, whole runs inside ``lax.scan``."""

from bayeskd.training.crossfit import fold_assignment, fold_splits, out_of_fold_logits
from bayeskd.training.trainer import (
    CompiledRun,
    FitResult,
    TrainConfig,
    TrainingDiverged,
    TrainState,
    apply_members,
    apply_model,
    evaluate_accuracy,
    fit,
    init_members,
    predict_logits,
    predict_logits_members,
    run_chunk,
    run_chunks,
    split_params,
)

__all__ = [
    "CompiledRun",
    "FitResult",
    "TrainConfig",
    "TrainState",
    "TrainingDiverged",
    "apply_members",
    "apply_model",
    "evaluate_accuracy",
    "fit",
    "fold_assignment",
    "fold_splits",
    "init_members",
    "out_of_fold_logits",
    "predict_logits",
    "predict_logits_members",
    "run_chunk",
    "run_chunks",
    "split_params",
]

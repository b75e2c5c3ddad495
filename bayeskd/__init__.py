"""bayeskd: knowledge distillation as Bayesian inference, in JAX.

The public API, by idea:

- data: :func:`load_dataset`, :class:`Dataset`, your own files with :func:`load_npz` and
  :func:`load_teacher_outputs`, input augmentations with explicit keys
  (:func:`make_augmentation`; ``bayeskd.data.augment``) (``bayeskd.data``)
- models: :func:`make_model`, :func:`param_count` (``bayeskd.models``)
- losses: the divergence table behind :func:`divergence` (:data:`DIVERGENCES`: forward and
  reverse KL, JSD, skew KLs, TVD), :func:`kl_divergence`, :func:`reverse_kl_divergence`, the
  chunked :func:`fused_linear_distillation` (``bayeskd.losses``)
- priors: :class:`NoPrior`, :class:`GaussianPrior`, :class:`LabelSmoothing`,
  :class:`TeacherPrior` (a table or a callable teacher; :meth:`TeacherPrior.from_members` for
  ensembles), :class:`SumPrior` (``bayeskd.priors``)
- training: :func:`fit` (``augment=`` draws fresh views inside the step; with a callable
  :class:`TeacherPrior` that is function matching), :class:`TrainConfig`, :func:`predict_logits`,
  out-of-fold teachers :func:`out_of_fold_logits` (``bayeskd.training``)
- language models: :class:`TransformerConfig` (``bayeskd.models.transformer``), the HMM language
  with its exact predictive (``bayeskd.data.hmm``), :class:`LMObjective` for ``fit(...,
  objective=)`` (``bayeskd.training.lm``)
- metrics: :func:`classification_metrics` and friends (``bayeskd.metrics``)
- posterior teachers: ensembles, SWAG, MC dropout, Laplace, SGLD, NumPyro NUTS/SVI behind one
  predictive interface, and :func:`distill` (``bayeskd.posteriors``)
- resumable runs: :class:`SweepStore`, :class:`TrainCheckpointer` (``bayeskd.checkpoint``)
- compiled programs kept on disk across processes: :func:`enable_compile_cache`
  (``bayeskd.cache``; every ``bayeskd`` command turns it on)
"""

from bayeskd import checkpoint, data, losses, metrics, models, posteriors, priors, training
from bayeskd.cache import enable_compile_cache
from bayeskd.checkpoint import SweepStore, TrainCheckpointer
from bayeskd.data import (
    Dataset,
    load_dataset,
    load_npz,
    load_teacher_outputs,
    make_augmentation,
)
from bayeskd.losses import (
    DIVERGENCES,
    divergence,
    fused_linear_distillation,
    kl_divergence,
    reverse_kl_divergence,
    softmax_cross_entropy,
)
from bayeskd.metrics import classification_metrics
from bayeskd.models import ModelFactory, TransformerConfig, make_model, param_count
from bayeskd.posteriors import distill
from bayeskd.priors import (
    GaussianPrior,
    LabelSmoothing,
    ModelTeacher,
    NoPrior,
    SumPrior,
    TeacherPrior,
    stack_priors,
)
from bayeskd.training import (
    CompiledRun,
    FitResult,
    LMObjective,
    TrainConfig,
    TrainingDiverged,
    fit,
    out_of_fold_logits,
    predict_logits,
)

__version__ = "0.1.0"

__all__ = [
    "DIVERGENCES",
    "Dataset",
    "ModelTeacher",
    "CompiledRun",
    "FitResult",
    "GaussianPrior",
    "LMObjective",
    "LabelSmoothing",
    "ModelFactory",
    "NoPrior",
    "SumPrior",
    "SweepStore",
    "TeacherPrior",
    "TrainCheckpointer",
    "TrainConfig",
    "TrainingDiverged",
    "TransformerConfig",
    "checkpoint",
    "classification_metrics",
    "data",
    "distill",
    "divergence",
    "enable_compile_cache",
    "fit",
    "fused_linear_distillation",
    "kl_divergence",
    "load_dataset",
    "load_npz",
    "make_augmentation",
    "out_of_fold_logits",
    "load_teacher_outputs",
    "losses",
    "make_model",
    "metrics",
    "models",
    "param_count",
    "posteriors",
    "predict_logits",
    "priors",
    "stack_priors",
    "reverse_kl_divergence",
    "softmax_cross_entropy",
    "training",
]

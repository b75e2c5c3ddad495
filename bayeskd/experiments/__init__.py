"""Jobs behind the CLI (``compare-priors``, ``posterior-zoo``, the figure registry) and the public
pieces they share: :func:`load_job_dataset` (the one dataset dispatcher), :func:`train_teacher`
(a teacher or ensemble, cached on disk by its whole config) and :func:`evaluate_member` (the
full metric row of one trained model)."""

from bayeskd.experiments.common import evaluate_member, load_job_dataset, train_teacher

__all__ = ["evaluate_member", "load_job_dataset", "train_teacher"]

"""Everything a spec is built from, in one namespace: ``from bayeskd.experiments import kit``.

Configuration fields (:mod:`~bayeskd.experiments.config`), the spec and its expectations and
rules (:mod:`~bayeskd.experiments.spec`), the shared teacher recipe
(:mod:`~bayeskd.experiments.teachers`), the measuring pieces (:mod:`~bayeskd.experiments.common`)
and the plotting panels (:mod:`bayeskd.plotting.panels`, as ``kit.panels``).
"""

from bayeskd.experiments.common import (
    NOISE_SIGMAS,
    arm_rows,
    evaluate_member,
    kd_priors,
    load_job_dataset,
    member_logp,
    member_robustness,
    metric_rows,
    repeat_each,
    train_arms,
    transfer_labels,
)
from bayeskd.experiments.config import choice, count, option, positive, section, unit
from bayeskd.experiments.spec import (
    Above,
    All,
    Below,
    Between,
    Describe,
    Expectation,
    Measured,
    Spec,
    Table,
    WithinOf,
    cells,
    mean_std,
    sizes,
)
from bayeskd.experiments.teachers import TEACHER_SEED, Teacher, model_fn, recipe, train_teacher
from bayeskd.plotting import panels

__all__ = ["NOISE_SIGMAS", "TEACHER_SEED", "Above", "All", "Below", "Between", "Describe",
           "Expectation", "Measured", "Spec", "Table", "Teacher", "WithinOf", "arm_rows", "cells", "choice",
           "count", "evaluate_member", "kd_priors", "load_job_dataset", "mean_std", "member_logp",
           "member_robustness", "metric_rows", "model_fn", "option", "panels", "positive",
           "recipe", "repeat_each", "section", "sizes", "train_arms", "train_teacher",
           "transfer_labels", "unit"]

"""The Bayesian reading of every regulariser: priors behind one interface (see ``priors.py``)."""

from bayeskd.priors.priors import (
    GaussianPrior,
    LabelSmoothing,
    ModelTeacher,
    NoPrior,
    SumPrior,
    TeacherPrior,
    objective,
    stack_priors,
)
from bayeskd.priors.regularisers import regulariser_prior
from bayeskd.priors.virtual import virtual_teacher

__all__ = [
    "GaussianPrior",
    "LabelSmoothing",
    "ModelTeacher",
    "NoPrior",
    "SumPrior",
    "TeacherPrior",
    "objective",
    "regulariser_prior",
    "stack_priors",
    "virtual_teacher",
]

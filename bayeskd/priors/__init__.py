"""The Bayesian reading of every regulariser: priors behind one interface (see ``priors.py``)."""

from bayeskd.priors.priors import (
    EnsembleTeacherPrior,
    GaussianPrior,
    LabelSmoothing,
    NoPrior,
    SumPrior,
    TeacherPrior,
    objective,
)

__all__ = [
    "EnsembleTeacherPrior",
    "GaussianPrior",
    "LabelSmoothing",
    "NoPrior",
    "SumPrior",
    "TeacherPrior",
    "objective",
]

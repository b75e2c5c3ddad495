r"""``bayeskd posterior-zoo``: every posterior approximation as a teacher, against a NUTS reference.

A teacher's output stands in for the posterior predictive
:math:`\mathbb E_{\theta\sim p(\theta\mid\mathcal D)}p(y\mid x,\theta)`. On a small problem the
job fits a NUTS reference of that predictive and every approximation of :mod:`bayeskd.posteriors`
(MAP, deep ensemble, SWAG and SWAG-Diagonal, MC dropout, last-layer Laplace, SGLD, cyclical SGLD,
SVI, the AIES and ESS ensemble samplers), distills each offline into the same small student (one
vmapped run for all of them), runs Bayesian dark knowledge (online SGLD -> student), and reports
for every teacher and student: accuracy, NLL, ECE, Brier, entropy, mutual information, and top-1
agreement, total variation and KL(reference || method) on the test set and on a grid over the
plane, and for every teacher KL(method || MAP) on the test set (how far it moved from the MAP).

Setting (two moons, after Korattikara et al. 2015's toy problem): a few dozen training points, a
2-10-2 ReLU network with an ``N(0, 1)`` prior on every weight (weight decay ``1/N``, the same
posterior for every method), a 2-20-2 student, transfer inputs = the training inputs plus noisy
copies (Korattikara et al. perturb training inputs the same way). SWAG, Laplace and dark knowledge
start at the MAP network, the SGLD chains at the ensemble's members. Korattikara et al. report
KL(HMC || .) = 0.246 for SGD, 0.007 for SGLD and 0.009-0.031 for distilled students; the job prints
ours next to theirs. On ``digits`` (17k weights) NUTS and the ensemble samplers are out of reach
at these sizes: the job says so and reports test-set metrics without a reference.

The package, by meaning: :mod:`.settings` (sizes in named sections, the validated config, data),
:mod:`.fitters` (the table ``{fit: fit_fn}``), :mod:`.job` (units, evaluation, students, CLI),
:mod:`.report` (checks, the plane figure, the tables).

Command: ``bayeskd posterior-zoo`` (moons, quick: about 4-5 minutes and 4 CPU-minutes on 2 shared
cores; ``--dataset digits``: about 6 minutes; smoke: 1-3 minutes, mostly compilation). Outputs:
``results.json``, ``results.csv``, ``posterior_zoo.png`` (2-D data).
"""

from __future__ import annotations

from . import job
from .fitters import FIT_OF, FITTERS, STARTS_FROM, Problem, fits_for, nuts_reference
from .job import checkpoint_config, run
from .report import checks, format_table, markdown_table, plane_figure
from .settings import (
    DATASETS,
    METHODS,
    METRICS,
    PLANE_DATASETS,
    PUBLISHED,
    REFERENCE_ONLY,
    SETUPS,
    EnsembleSamplerSettings,
    MAPSettings,
    NUTSSettings,
    PosteriorZooConfig,
    Setup,
    SGLDSettings,
    StudentSettings,
    SWAGSettings,
    TransferSettings,
    load_data,
)


def add_cli(sub) -> None:
    """Add the ``posterior-zoo`` subcommand."""
    job.add_cli(sub, description=__doc__.split("\n\n")[0])


__all__ = ["DATASETS", "FITTERS", "FIT_OF", "METHODS", "METRICS", "PLANE_DATASETS", "PUBLISHED",
           "REFERENCE_ONLY", "SETUPS", "STARTS_FROM", "EnsembleSamplerSettings", "MAPSettings",
           "NUTSSettings", "PosteriorZooConfig", "Problem", "SGLDSettings", "SWAGSettings", "Setup",
           "StudentSettings", "TransferSettings", "add_cli", "checkpoint_config", "checks",
           "fits_for", "format_table", "load_data", "markdown_table", "nuts_reference",
           "plane_figure", "run"]

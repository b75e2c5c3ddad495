r"""Every posterior approximation of one small Bayesian network, fitted the same way: the zoo.

A teacher's output stands in for the posterior predictive
:math:`\mathbb E_{\theta\sim p(\theta\mid\mathcal D)}\,p(y\mid x,\theta)`. A :class:`Problem` is
a dataset, a network and its prior (``N(0, prior_std^2)`` on every weight, i.e. weight decay
:math:`1/(\sigma^2 N)` for the optimisers, so every method targets the same posterior); every
fitter has the shape ``fit_fn(problem, setup, *, key) -> {method: [Posterior]}`` and
:data:`FITTERS` maps a fit's name to it. A fit that starts from another fit's weights names it
in :data:`STARTS_FROM` (SWAG, Laplace and dark knowledge start at the MAP network, the SGLD
chains at the ensemble's members); the caller passes those weights in ``problem.start``.
:func:`nuts_reference` fits the reference the others are measured against.

Every size-dependent setting of one dataset lives in a :class:`Setup` of named sections, one
per method; :data:`SETUPS` holds the quick ones, :func:`smoke` and :func:`full` derive the
other sizes. By meaning: :mod:`.setups` (settings, data), :mod:`.fitters` (the table of fits),
:mod:`.measure` (evaluation, students, rows).
"""

from bayeskd.posteriors.zoo.fitters import (
    FIT_OF,
    FITTERS,
    STARTS_FROM,
    STUDENT_FITS,
    Problem,
    fits_for,
    mlp_fn,
    nuts_reference,
)
from bayeskd.posteriors.zoo.measure import (
    distill_students,
    evaluate_members,
    fit_seed,
    labelled_rows,
    reference,
)
from bayeskd.posteriors.zoo.setups import (
    DATASETS,
    METHODS,
    PLANE_DATASETS,
    REFERENCE_ONLY,
    SETUPS,
    EnsembleSamplerSettings,
    MAPSettings,
    NUTSSettings,
    Setup,
    SGLDSettings,
    StudentSettings,
    SWAGSettings,
    TransferSettings,
    estimate_bytes,
    full,
    load_data,
    plane,
    setup_section,
    smoke,
)

__all__ = ["DATASETS", "FITTERS", "FIT_OF", "METHODS", "PLANE_DATASETS", "REFERENCE_ONLY",
           "SETUPS", "STARTS_FROM", "STUDENT_FITS", "EnsembleSamplerSettings", "MAPSettings",
           "NUTSSettings", "Problem", "SGLDSettings", "SWAGSettings", "Setup", "StudentSettings",
           "TransferSettings", "distill_students", "estimate_bytes", "evaluate_members", "fit_seed", "fits_for",
           "full", "labelled_rows", "load_data", "mlp_fn", "nuts_reference", "plane", "reference",
           "setup_section", "smoke"]

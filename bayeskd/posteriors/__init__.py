"""Posterior teachers: every approximation of p(theta | D) behind one predictive interface.

``sample_probs(x, *, key, num_samples) -> [S, B, K]`` and ``predictive(x, *, key) -> [B, K]``
(the mean in probability space) for MAP, deep ensembles, SWAG, MC dropout, last-layer Laplace,
SGLD / cyclical SGLD, NumPyro NUTS, SVI and the AIES/ESS ensemble samplers; offline distillation of
any of them (:func:`distill`; into a Dirichlet student keeping the epistemic part:
:func:`distill_dirichlet`), online distillation of an SGLD chain (Bayesian dark knowledge), and
distances to a reference predictive with R-hat / ESS of sampled ones; the zoo of every fit on
one small network (:mod:`bayeskd.posteriors.zoo`).
"""

from bayeskd.posteriors.base import (
    ParamSamples,
    Posterior,
    Predictions,
    distill,
    offline_predictive,
    teacher_log_probs,
)
from bayeskd.posteriors.end2 import (
    DirichletStudent,
    dirichlet_nll,
    dirichlet_uncertainty,
    distill_dirichlet,
    fit_dirichlet_student,
)
from bayeskd.posteriors.ensemble import fit_ensemble, fit_map
from bayeskd.posteriors.inference_data import rhat_ess, to_inference_data
from bayeskd.posteriors.laplace import LastLayerLaplace, last_layer_ggn
from bayeskd.posteriors.mc_dropout import MCDropout
from bayeskd.posteriors.reference import (
    converged,
    evaluate_posterior,
    nuts_reference,
    predictive_diagnostics,
    predictive_metrics,
    reference_distances,
)
from bayeskd.posteriors.sgld import (
    DarkKnowledge,
    SGLDState,
    bayesian_dark_knowledge,
    chain_arms,
    cyclical_step_size,
    fit_sgld,
    perturbed_inputs,
    sgld,
    uniform_inputs,
)
from bayeskd.posteriors.swag import SWAG, SWAGState, fit_swag, swag_moments, swag_sample
from bayeskd.posteriors.swag_teacher import swag_teacher

#: The NumPyro-backed names, imported when first used (``import bayeskd`` does not load NumPyro).
_NUMPYRO = ("BayesianNet", "MCMCRun", "SVIPosterior", "SVIRun", "prior_std_from_weight_decay",
            "run_ensemble_sampler", "run_nuts", "run_svi", "weight_decay_from_prior_std")


def __getattr__(name: str):
    if name in _NUMPYRO:
        from bayeskd.posteriors import numpyro_bnn

        return getattr(numpyro_bnn, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_NUMPYRO))


__all__ = [
    "SWAG",
    "BayesianNet",
    "DarkKnowledge",
    "DirichletStudent",
    "LastLayerLaplace",
    "MCDropout",
    "MCMCRun",
    "ParamSamples",
    "Posterior",
    "Predictions",
    "SGLDState",
    "SVIPosterior",
    "SVIRun",
    "SWAGState",
    "bayesian_dark_knowledge",
    "chain_arms",
    "cyclical_step_size",
    "dirichlet_nll",
    "dirichlet_uncertainty",
    "converged",
    "distill",
    "distill_dirichlet",
    "evaluate_posterior",
    "fit_dirichlet_student",
    "fit_ensemble",
    "fit_map",
    "fit_sgld",
    "fit_swag",
    "last_layer_ggn",
    "offline_predictive",
    "predictive_diagnostics",
    "predictive_metrics",
    "prior_std_from_weight_decay",
    "nuts_reference",
    "reference_distances",
    "rhat_ess",
    "run_ensemble_sampler",
    "run_nuts",
    "run_svi",
    "perturbed_inputs",
    "sgld",
    "uniform_inputs",
    "swag_moments",
    "swag_sample",
    "swag_teacher",
    "teacher_log_probs",
    "to_inference_data",
    "weight_decay_from_prior_std",
]

"""Every experiment bayeskd runs, by name: one line each, in the order the READMEs list them.

A value is ``"module"`` (its ``SPEC``) or ``"module:ATTR"``. Jobs (specs with a ``command``)
run as their own subcommand (``bayeskd compare-priors``); figures run as ``bayeskd reproduce
NAME``.
"""

from __future__ import annotations

import importlib

from bayeskd.validate import check_choice

__all__ = ["FIGURES", "JOBS", "SPECS", "get_spec"]

_S = "bayeskd.experiments.specs."
#: Jobs: each is its own subcommand.
JOBS = {
    "compare_priors": _S + "compare_priors",
    "posterior_zoo": _S + "posterior_zoo", "posterior_zoo_digits": _S + "posterior_zoo:DIGITS",
    "lm_distill": _S + "lm_distill",
    "lm_distill_text": _S + "lm_distill:TEXT",
}
#: Figures (``bayeskd reproduce NAME``), in README order.
FIGURES = {
    "hinton_kd": _S + "hinton_kd",
    "self_distillation": _S + "self_distillation",
    "variance_reduction": _S + "variance_reduction",
    "label_smoothing_teacher": _S + "label_smoothing_teacher",
    "mode_seeking": _S + "mode_seeking",
    "rag_privileged": _S + "rag_privileged",
    "lm_distillation": _S + "lm_distillation",
    "distilbert_init": _S + "distilbert_init",
    "teacher_quality": _S + "teacher_quality",
    "fidelity": _S + "fidelity",
    "function_matching": _S + "function_matching",
    "prior_table": _S + "prior_table",
    "kd_as_map": _S + "kd_as_map",
    "privileged_information": _S + "privileged_information",
    "ensemble_distribution_distillation": _S + "ensemble_distribution_distillation",
    "temperature_tempering": _S + "temperature_tempering",
    "bayesian_dark_knowledge": _S + "bayesian_dark_knowledge",
}
SPECS = JOBS | FIGURES


def get_spec(name: str):
    """The :class:`~bayeskd.experiments.spec.Spec` registered as ``name`` (``ValueError`` listing
    the known names otherwise)."""
    check_choice(name, SPECS, name="experiment")
    module, _, attr = SPECS[name].partition(":")
    return getattr(importlib.import_module(module), attr or "SPEC")

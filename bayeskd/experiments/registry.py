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
}
#: Figures (``bayeskd reproduce NAME``), in README order.
FIGURES = {
    "hinton_kd": _S + "hinton_kd",
    "ensemble_distribution_distillation": _S + "ensemble_distribution_distillation",
}
SPECS = JOBS | FIGURES


def get_spec(name: str):
    """The :class:`~bayeskd.experiments.spec.Spec` registered as ``name`` (``ValueError`` listing
    the known names otherwise)."""
    check_choice(name, SPECS, name="experiment")
    module, _, attr = SPECS[name].partition(":")
    return getattr(importlib.import_module(module), attr or "SPEC")

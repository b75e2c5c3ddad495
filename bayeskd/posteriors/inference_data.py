r"""Posterior draws as ArviZ ``InferenceData``, and ArviZ's convergence diagnostics.

Every sampler of the package keeps its draws as parameter pytrees: NumPyro NUTS runs
(:class:`bayeskd.posteriors.MCMCRun`, ``{site: [C, D, ...]}``), SGLD chains and SWAG draws
(:class:`bayeskd.posteriors.ParamSamples`, leaves ``[C * D, ...]`` in chain-major order).
:func:`to_inference_data` puts them, and optionally per-draw predictions ``[C, D, ...]``, into an
``arviz.InferenceData`` with ``chain`` and ``draw`` dimensions, so ArviZ's summaries and plots
apply. :func:`rhat_ess` reduces ArviZ's rank-normalised split :math:`\hat R` and bulk effective
sample size (Vehtari, Gelman, Simpson, Carpenter & Bürkner 2021) over every scalar of a group:

.. math::
    \hat R = \sqrt{\frac{\frac{D-1}{D}W + \frac1D B}{W}}

on the rank-normalised, split chains (:math:`W` the mean within-chain variance, :math:`B/D` the
variance of the chain means), the larger of the bulk and folded-tail values; 1 when the chains
agree, larger when they sample different regions.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import jax
import numpy as np

__all__ = ["rhat_ess", "to_inference_data"]


def _arviz():
    with warnings.catch_warnings():  # ArviZ 0.2x announces its 1.0 refactor on import
        warnings.simplefilter("ignore", FutureWarning)
        import arviz

    return arviz


def _chain_draw(samples: Any, chains: int | None) -> tuple[dict[str, np.ndarray], int]:
    """``{name: [C, D, ...]}`` of a run, a :class:`ParamSamples` or a ``[C, D, ...]`` pytree."""
    from bayeskd.posteriors.base import ParamSamples
    from bayeskd.posteriors.numpyro_bnn import MCMCRun

    if isinstance(samples, MCMCRun):
        tree, stacked = samples.samples, True
    elif isinstance(samples, ParamSamples):
        tree, stacked = samples.params, False
        chains = samples.chains if chains is None else chains
    else:
        tree, stacked = samples, chains is None
    flat = jax.tree_util.tree_flatten_with_path(tree)[0]
    if not flat:
        raise ValueError("samples: the posterior has no parameters")
    out: dict[str, np.ndarray] = {}
    for path, leaf in flat:
        a = np.asarray(leaf)
        if not stacked:  # [C * D, ...] chain-major
            if a.ndim < 1 or a.shape[0] % chains:
                raise ValueError(f"chains: {chains} does not divide the {a.shape[0]} draws of "
                                 f"{jax.tree_util.keystr(path)}")
            a = a.reshape(chains, a.shape[0] // chains, *a.shape[1:])
        elif a.ndim < 2:
            raise ValueError(f"samples: every leaf needs leading (chain, draw) axes, got shape "
                             f"{a.shape} at {jax.tree_util.keystr(path)}")
        name = re.sub(r"[^0-9A-Za-z_]+", ".", jax.tree_util.keystr(path)).strip(".") or "theta"
        out[name] = a
    shapes = {a.shape[:2] for a in out.values()}
    if len(shapes) != 1:
        raise ValueError(f"samples: leaves disagree on (chain, draw): {sorted(shapes)}")
    return out, next(iter(shapes))[0]


def to_inference_data(
    samples: Any = None,
    *,
    chains: int | None = None,
    predictions: np.ndarray | None = None,
    prediction_dims: tuple[str, ...] = ("input", "class"),
):
    """Posterior draws (and per-draw predictions) as an ``arviz.InferenceData``.

    Args:
      samples: the draws: a :class:`bayeskd.posteriors.MCMCRun` (``{site: [C, D, ...]}``), a
        :class:`bayeskd.posteriors.ParamSamples` (SGLD, SWAG, ensembles: ``[C * D, ...]``
        chain-major, ``C`` its ``chains``), or any pytree of ``[C, D, ...]`` arrays (``chains``
        given: ``[C * D, ...]`` arrays split into ``chains``). ``None``: predictions only.
        Variables are named by their pytree path (``layers.0.kernel.value``).
      chains: override the number of chains of a :class:`ParamSamples` or a ``[C * D, ...]`` tree.
      predictions: optional per-draw predictions ``[C, D, ...]`` (e.g. class probabilities
        ``[C, D, B, K]``), stored as ``probs`` in the ``posterior_predictive`` group.
      prediction_dims: the names of the prediction's axes after ``(chain, draw)``.

    Returns:
      ``InferenceData`` with a ``posterior`` group (dims ``chain``, ``draw``, then
      ``<var>_dim_<i>``) and, with ``predictions``, a ``posterior_predictive`` group.

    Example:
      >>> idata = to_inference_data({"w": np.zeros((2, 5, 3))})
      >>> dict(idata.posterior.sizes)
      {'chain': 2, 'draw': 5, 'w_dim_0': 3}
    """
    az = _arviz()
    groups: dict[str, Any] = {}
    if samples is not None:
        posterior, c = _chain_draw(samples, chains)
        groups["posterior"] = posterior
    if predictions is not None:
        p = np.asarray(predictions)
        if p.ndim < 2:
            raise ValueError(f"predictions: need leading (chain, draw) axes, got shape {p.shape}")
        if samples is not None and p.shape[:2] != next(iter(posterior.values())).shape[:2]:
            raise ValueError(f"predictions: (chain, draw) = {p.shape[:2]} differ from the "
                             f"samples' {next(iter(posterior.values())).shape[:2]}")
        if len(prediction_dims) != p.ndim - 2:
            raise ValueError(f"prediction_dims: {len(prediction_dims)} names for the "
                             f"{p.ndim - 2} axes after (chain, draw)")
        groups["posterior_predictive"] = {"probs": p}
        groups["dims"] = {"probs": list(prediction_dims)}
    if not groups:
        raise ValueError("samples: give samples, predictions or both")
    return az.from_dict(**groups)


def rhat_ess(idata, *, group: str = "posterior") -> dict[str, float]:
    """The largest and median rank-normalised split R-hat and the smallest and median bulk ESS
    over every scalar of ``group`` (ArviZ's ``az.rhat`` / ``az.ess``), plus ``chains`` and
    ``draws``. Scalars that never change (R-hat undefined) are left out; if none changes, R-hat
    is 1 and ESS the number of draws."""
    az = _arviz()
    data = getattr(idata, group)
    c, d = int(data.sizes["chain"]), int(data.sizes["draw"])
    if c < 2 or d < 4:
        raise ValueError(f"{group}: R-hat needs >= 2 chains of >= 4 draws, got {c} x {d}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # constant scalars give nan, dropped below
        rhat = np.concatenate([np.ravel(v) for v in az.rhat(data).data_vars.values()])
        ess = np.concatenate([np.ravel(v) for v in az.ess(data).data_vars.values()])
    moving = np.concatenate([np.ravel(np.std(np.asarray(v).reshape(c * d, -1), 0) > 1e-7)
                             for v in data.data_vars.values()])
    rhat, ess = rhat[moving], ess[moving]
    if rhat.size == 0:
        return {"rhat_max": 1.0, "rhat_median": 1.0, "ess_min": float(c * d),
                "ess_median": float(c * d), "chains": c, "draws": d}
    return {"rhat_max": float(np.nanmax(rhat)), "rhat_median": float(np.nanmedian(rhat)),
            "ess_min": float(np.nanmin(ess)), "ess_median": float(np.nanmedian(ess)),
            "chains": c, "draws": d}

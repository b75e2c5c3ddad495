r"""Distances to a reference posterior predictive, predictive metrics, and MCMC diagnostics.

With a reference predictive :math:`p_{\mathrm{ref}}` (NUTS, treated as the exact posterior
predictive) and an approximation :math:`q`, over inputs :math:`x_1..x_B`:

.. math::
    \mathrm{agree} = \frac1B\sum_i \mathbb 1[\arg\max p_{\mathrm{ref},i} = \arg\max q_i],\quad
    \mathrm{TV} = \frac1B\sum_i\tfrac12\|p_{\mathrm{ref},i}-q_i\|_1,\quad
    \mathrm{KL} = \frac1B\sum_i\mathrm{KL}(p_{\mathrm{ref},i}\,\|\,q_i).

The KL direction follows Korattikara et al. (2015), who report
:math:`\mathrm{KL}(p_{\mathrm{HMC}}\|q)` averaged over a grid of 2-D inputs.

Convergence of the sampled predictive is judged on the quantity that matters, the predictive
probabilities :math:`p(y=k\mid x_i,\theta_{c,d})` of every chain :math:`c` and draw :math:`d`,
with ArviZ's rank-normalised split :math:`\hat R` and bulk effective sample size (Vehtari et
al. 2021; :func:`bayeskd.posteriors.rhat_ess`).
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import ArrayLike, Float

from bayeskd.metrics import (
    agreement,
    classification_metrics,
    kl_divergence,
    mutual_information,
    total_variation,
)
from bayeskd.posteriors.base import offline_predictive
from bayeskd.posteriors.inference_data import rhat_ess, to_inference_data

_mean_mi = jax.jit(lambda probs_SBK: jnp.mean(mutual_information(probs_SBK)))

__all__ = ["CONVERGED_ESS", "CONVERGED_RHAT", "converged", "evaluate_posterior", "nuts_reference",
           "predictive_diagnostics", "predictive_metrics", "reference_distances"]

#: Convergence thresholds of Vehtari et al. (2021), §4: rank-normalised split R-hat below 1.01
#: and bulk ESS above 400 (100 per chain for their four chains).
CONVERGED_RHAT, CONVERGED_ESS = 1.01, 400.0


def reference_distances(
    ref_probs: Float[ArrayLike, "batch classes"],
    probs: Float[ArrayLike, "batch classes"],
    *,
    suffix: str = "",
    regions: Mapping[str, ArrayLike] | None = None,
) -> dict[str, float]:
    """``agreement_ref``, ``tv_ref`` and ``kl_ref`` (= KL(ref || probs)) as floats, keys + suffix.

    ``regions``: optional ``{name: boolean mask [batch]}``; each adds the three distances on the
    masked inputs only, keys + suffix + name (e.g. near / far from the training data).

    Example:
      >>> p = np.array([[0.9, 0.1], [0.2, 0.8]])
      >>> reference_distances(p, p)
      {'agreement_ref': 1.0, 'tv_ref': 0.0, 'kl_ref': 0.0}
    """
    ref, q = np.asarray(ref_probs, np.float32), np.asarray(probs, np.float32)
    if ref.shape != q.shape:
        raise ValueError(f"probs: shape {q.shape} differs from the reference's {ref.shape}")
    out = {
        f"agreement_ref{suffix}": float(agreement(ref, q)),
        f"tv_ref{suffix}": float(total_variation(ref, q)),
        f"kl_ref{suffix}": max(float(kl_divergence(ref, q)), 0.0),
    }
    for name, mask in (regions or {}).items():
        m = np.asarray(mask)
        if m.dtype != bool or m.shape != ref.shape[:1]:
            raise ValueError(f"regions: {name!r} must be a boolean mask of shape "
                             f"{ref.shape[:1]}, got {m.dtype} {m.shape}")
        out |= reference_distances(ref[m], q[m], suffix=suffix + name)
    return out


def predictive_metrics(
    probs: Float[ArrayLike, "batch classes"],
    labels: ArrayLike,
    *,
    sample_probs: Float[ArrayLike, "samples batch classes"] | None = None,
) -> dict[str, float]:
    """Accuracy, NLL, ECE, MCE, Brier, mean entropy and (from samples) mean mutual information.

    ``mutual_information`` is the epistemic part of the predictive entropy (0 for a single
    network, i.e. when ``sample_probs`` is ``None`` or holds one sample).
    """
    row = classification_metrics(np.asarray(probs, np.float32), np.asarray(labels))
    mi = 0.0
    if sample_probs is not None and np.shape(sample_probs)[0] > 1:
        mi = float(_mean_mi(np.asarray(sample_probs, np.float32)))
    row["mutual_information"] = max(mi, 0.0)
    return row


def predictive_diagnostics(
    probs_CDBK: Float[ArrayLike, "chains draws batch classes"],
) -> dict[str, float]:
    """Split R-hat and ESS of the predictive probabilities of ``C >= 2`` chains of ``D >= 4`` draws
    (ArviZ's, through :func:`bayeskd.posteriors.to_inference_data` and
    :func:`bayeskd.posteriors.rhat_ess`).

    Returns the maximum and median rank-normalised split R-hat and the minimum and median ESS over all
    (input, class) entries, plus ``chains`` and ``draws``. Constant entries (R-hat undefined)
    are left out.
    """
    x = np.asarray(probs_CDBK, np.float64)
    if x.ndim != 4:
        raise ValueError(f"probs_CDBK: must have shape [chains, draws, batch, classes], got {x.shape}")
    c, d = x.shape[:2]
    if c < 2 or d < 4:
        raise ValueError(f"probs_CDBK: split R-hat needs >= 2 chains of >= 4 draws, got {c} x {d}")
    idata = to_inference_data(predictions=x, prediction_dims=("input", "class"))
    return rhat_ess(idata, group="posterior_predictive")


def converged(diagnostics: dict) -> bool:
    r"""Whether sampled chains pass Vehtari et al. (2021)'s thresholds,
    :math:`\hat R_{\max} < 1.01` and :math:`\mathrm{ESS}_{\min} > 400`
    (``diagnostics``: :func:`predictive_diagnostics`'s ``rhat_max`` and ``ess_min``).

    Example:
      >>> converged({"rhat_max": 1.005, "ess_min": 800.0}), converged({"rhat_max": 1.2,
      ...                                                              "ess_min": 800.0})
      (True, False)
    """
    return bool(diagnostics["rhat_max"] < CONVERGED_RHAT and diagnostics["ess_min"] > CONVERGED_ESS)


def evaluate_posterior(
    posterior,
    x: ArrayLike,
    labels: ArrayLike,
    *,
    key: jax.Array,
    ref_probs: Float[ArrayLike, "batch classes"] | None = None,
) -> tuple[dict, np.ndarray]:
    """A posterior's metric row on ``(x, labels)`` and its predictive ``[B, K]``.

    The row holds :func:`predictive_metrics` and, with ``ref_probs``, :func:`reference_distances`;
    for ``C >= 2`` chains (``posterior.chains``: SGLD chains, NUTS chains, AIES/ESS walkers) ``chains`` and, when every chain holds ``>= 4`` draws, the split
    R-hat and ESS of the predictive (:func:`predictive_diagnostics`: ``rhat_max``, ``ess_min``)
    and whether they pass :func:`converged` (``converged``: an unconverged chain is labelled so).
    """
    test = offline_predictive(posterior, x, key=key, keep_samples=True)
    row = predictive_metrics(test.probs, labels, sample_probs=test.sample_probs)
    chains = getattr(posterior, "chains", 1)
    if chains >= 2:
        row["chains"] = chains
    if chains >= 2 and test.sample_probs.shape[0] // chains >= 4:
        diag = predictive_diagnostics(test.sample_probs.reshape(
            chains, -1, *test.sample_probs.shape[1:]))
        row |= {"rhat_max": diag["rhat_max"], "ess_min": diag["ess_min"],
                "converged": converged(diag)}
    if ref_probs is not None:
        row |= reference_distances(ref_probs, test.probs)
    return row, test.probs
def nuts_reference(model_fn, x: ArrayLike, y: ArrayLike, x_eval: ArrayLike, *, key: jax.Array,
                   init_key: jax.Array, prior_std: float, num_warmup: int, num_samples: int,
                   num_chains: int = 2) -> dict:
    r"""The NUTS posterior predictive on ``x_eval`` of ``model_fn`` under an
    :math:`\mathcal N(0, \sigma^2)` prior on every weight, with its convergence diagnostics.

    :class:`~bayeskd.posteriors.BayesianNet` (built from ``init_key``) is sampled by
    :func:`~bayeskd.posteriors.run_nuts` (``num_chains`` chains from ``key``); its predictive
    averages every draw. Convergence: ArviZ's rank-normalised split R-hat and bulk ESS
    (:func:`rhat_ess`) of the weights (which a network's symmetries may keep from mixing across
    chains while the predictive mixes) and of the predictive itself
    (:func:`predictive_diagnostics`).

    Returns:
      ``{"probs": [B, K], "divergent": int, "weights": {...}, "predictive": {...}}`` (the last
      two: ``rhat_max``, ``rhat_median``, ``ess_min``, ``ess_median``, ``chains``, ``draws``).
    """
    from bayeskd.posteriors.numpyro_bnn import BayesianNet, run_nuts  # NumPyro loads here

    bnn = BayesianNet(model_fn, key=init_key, prior_std=prior_std)
    run = run_nuts(bnn.model, np.asarray(x), np.asarray(y), key=key, num_warmup=num_warmup,
                   num_samples=num_samples, num_chains=num_chains)
    post = bnn.posterior(run, name="nuts")
    pred = offline_predictive(post, x_eval, key=init_key, keep_samples=True)
    draws = pred.sample_probs.reshape(post.chains, -1, *pred.sample_probs.shape[1:])
    return {"probs": pred.probs, "divergent": int(run.num_divergent),
            "weights": rhat_ess(to_inference_data(run)), "predictive": predictive_diagnostics(draws)}

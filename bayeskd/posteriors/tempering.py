r"""Two temperatures: the KD temperature softens a teacher's targets, the posterior temperature
sharpens a posterior (Hinton et al. 2015; Wenzel et al. 2020; Izmailov et al. 2021).

The KD temperature :math:`T > 1` gives targets :math:`p_t^{(T)} = \mathrm{softmax}(z_t/T)`,
whose mean entropy (:func:`softened_entropy`) rises with :math:`T`. The posterior temperature
:math:`T_{\mathrm{post}}` tempers :math:`p_T(\theta\mid\mathcal D)\propto\exp(-U(\theta)/T_{
\mathrm{post}})` (:func:`bayeskd.posteriors.fit_sgld` with ``temperature``), whose predictive
entropy falls as :math:`T_{\mathrm{post}} \to 0`. :func:`entropy_crossing` finds where one
curve reaches a value of the other, interpolating in :math:`\log T`.
"""

from __future__ import annotations

import jax
import numpy as np

from bayeskd.posteriors.base import offline_predictive
from bayeskd.posteriors.reference import predictive_diagnostics, predictive_metrics
from bayeskd.posteriors.sgld import fit_sgld
from bayeskd.validate import check_temperature

__all__ = ["chain_metrics", "cold_posterior_effect", "entropy_crossing", "entropy_meetings",
           "softened_entropy", "tempered_chain_metrics"]


def softened_entropy(logp_NK: np.ndarray, temperature: float) -> float:
    r"""Mean entropy of :math:`\mathrm{softmax}(\log p / T)` over the rows of ``logp_NK``
    (log-probabilities or logits: they differ by a per-row constant the softmax ignores).

    Example:
      >>> round(softened_entropy(np.log([[0.5, 0.5]]), 3.0), 6) == round(float(np.log(2)), 6)
      True
    """
    check_temperature(temperature)
    z = np.asarray(logp_NK, np.float64) / temperature
    z = z - z.max(-1, keepdims=True)
    logq = z - np.log(np.exp(z).sum(-1, keepdims=True))
    return float(np.mean(-np.sum(np.exp(logq) * logq, -1)))


def entropy_crossing(temps: np.ndarray, entropies: np.ndarray, target: float) -> float | None:
    r"""The temperature at which the entropy curve ``(temps, entropies)`` (any order) reaches
    ``target``, linear in :math:`\log T` between neighbouring temperatures: the first crossing
    from the coldest temperature up, or ``None`` when ``target`` is outside the curve's range.

    Example:
      >>> round(entropy_crossing(np.array([0.01, 1.0]), np.array([0.0, 1.0]), 0.5), 12)
      0.1
    """
    order = np.argsort(temps)
    lt, h = np.log(np.asarray(temps, np.float64)[order]), np.asarray(entropies, np.float64)[order]
    for i in range(len(lt) - 1):
        lo, hi = sorted((h[i], h[i + 1]))
        if lo <= target <= hi and h[i] != h[i + 1]:
            frac = (target - h[i]) / (h[i + 1] - h[i])
            return float(np.exp(lt[i] + frac * (lt[i + 1] - lt[i])))
    return None


def chain_metrics(chain, x, y, *, num_chains: int, key, num_mixing: int = 100) -> list[dict]:
    r""":func:`~bayeskd.posteriors.predictive_metrics` of each of ``num_chains`` chains' own
    predictive (the mean over its ``draws`` kept draws) on ``(x, y)``, one row per chain with its
    index as ``seed``; ``chain`` from :func:`~bayeskd.posteriors.fit_sgld` (draws chain-major).

    Every row also carries the mixing of the predictive across the chains on the first
    ``num_mixing`` inputs, :func:`~bayeskd.posteriors.reference.predictive_diagnostics`'
    ``rhat_max`` (rank-normalised split :math:`\hat R`, largest over (input, class)) and
    ``ess_min`` (bulk ESS, smallest), when there are >= 2 chains of >= 4 draws (else left out).
    """
    pred = offline_predictive(chain, x, key=key, keep_samples=True)
    per = np.asarray(pred.sample_probs).reshape(num_chains, -1, *pred.sample_probs.shape[1:])
    mixing = {}
    if num_chains >= 2 and per.shape[1] >= 4:
        diag = predictive_diagnostics(per[:, :, :num_mixing])
        mixing = {"rhat_max": diag["rhat_max"], "ess_min": diag["ess_min"]}
    return [{"seed": c, "draws": int(per.shape[1])} | predictive_metrics(
        per[c].mean(0), y, sample_probs=per[c]) | mixing for c in range(num_chains)]


def tempered_chain_metrics(fn, data, x, y, *, temperature: float, key, num_chains: int,
                           predict_seed: int = 0, **sgld) -> list[dict]:
    r""":func:`chain_metrics` on ``(x, y)`` of ``num_chains`` SGLD chains
    (:func:`~bayeskd.posteriors.fit_sgld` with ``key`` and the other ``sgld`` arguments) of the
    tempered posterior :math:`p_T(\theta\mid\mathcal D)\propto\exp(-U(\theta)/T)` at
    ``temperature`` :math:`T` (the Langevin noise scaled by :math:`\sqrt T`), each row with its
    ``posterior_temperature``; the predictive is read with ``jax.random.key(predict_seed)``."""
    chain = fit_sgld(fn, data, key=key, num_chains=num_chains, temperature=float(temperature),
                     **sgld)
    return [{"posterior_temperature": float(temperature)} | row for row in chain_metrics(
        chain, x, y, num_chains=num_chains, key=jax.random.key(predict_seed))]


def cold_posterior_effect(temps, nll, entropy) -> dict:
    r"""The cold-posterior effect (Wenzel et al. 2020) on a sweep of posterior temperatures
    ``temps`` with predictive test NLLs ``nll`` and mean entropies ``entropy``:

    * ``entropy_drop`` :math:`= H(T_{\max}) - H(T_{\min})`, warmest minus coldest (> 0: cooling
      sharpens the predictive);
    * the best cold temperature :math:`T^\star = \arg\min_{T<1}\mathrm{NLL}(T)` against
      :math:`T = 1`: ``nll_T1``, ``best_cold_T``, ``best_cold_nll`` and ``nll_gain``
      :math:`= \mathrm{NLL}(1) - \mathrm{NLL}(T^\star)` (> 0: the cold posterior predicts
      better), left out when the sweep lacks T = 1 or any T < 1.

    Example:
      >>> e = cold_posterior_effect([1.0, 0.1, 0.01], [0.5, 0.2, 0.3], [0.9, 0.5, 0.4])
      >>> e["entropy_drop"], e["best_cold_T"], e["nll_gain"]
      (0.5, 0.1, 0.3)
    """
    temps, nll, h = ([float(v) for v in a] for a in (temps, nll, entropy))
    out = {"entropy_drop": h[temps.index(max(temps))] - h[temps.index(min(temps))]}
    cold = [i for i, t in enumerate(temps) if t < 1.0]
    if 1.0 not in temps or not cold:
        return out
    best, warm = min(cold, key=lambda i: nll[i]), nll[temps.index(1.0)]
    return out | {"nll_T1": warm, "best_cold_T": temps[best], "best_cold_nll": nll[best],
                  "nll_gain": warm - nll[best]}


def entropy_meetings(kd_temps, student_h, target_h, post_temps, post_h) -> dict:
    r"""Where the KD-temperature and posterior-temperature entropy curves meet
    (:func:`entropy_crossing`, linear in :math:`\log T`): for each KD temperature :math:`T` with
    student entropy ``student_h``, ``T_post_for_KD{T}``, the posterior temperature whose
    predictive entropy ``post_h`` equals it; for each posterior temperature, ``KD_T_for_T_post{T}``,
    the KD temperature whose softened targets' entropy ``target_h`` equals the predictive's.
    ``None`` where the value lies outside the other curve's range.

    Example:
      >>> m = entropy_meetings([1.0, 10.0], [0.2, 0.5], [0.0, 1.0], [0.01, 1.0], [0.0, 0.4])
      >>> round(m["T_post_for_KD1"], 12), m["T_post_for_KD10"], round(m["KD_T_for_T_post1"], 6)
      (0.1, None, 2.511886)
    """
    kd_t, pt = np.asarray(kd_temps, np.float64), np.asarray(post_temps, np.float64)
    out = {f"T_post_for_KD{T:g}": entropy_crossing(pt, np.asarray(post_h), float(h))
           for T, h in zip(kd_t, student_h, strict=True)}
    return out | {f"KD_T_for_T_post{T:g}": entropy_crossing(kd_t, np.asarray(target_h), float(h))
                  for T, h in zip(pt, post_h, strict=True)}

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

import numpy as np

from bayeskd.validate import check_temperature

__all__ = ["entropy_crossing", "softened_entropy"]


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

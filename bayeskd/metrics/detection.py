"""Out-of-distribution detection: how well a score ranks novel inputs above in-distribution ones."""

from __future__ import annotations

import numpy as np
from jaxtyping import ArrayLike, Float

__all__ = ["auroc"]


def auroc(score_in: Float[ArrayLike, " n_in"], score_out: Float[ArrayLike, " n_out"]) -> float:
    r"""Area under the ROC curve of flagging out-of-distribution inputs by a higher score.

    .. math::
      \mathrm{AUROC} = \frac{1}{n_{\mathrm{in}} n_{\mathrm{out}}} \sum_{i, j}
        \left(\mathbb 1[s^{\mathrm{out}}_j > s^{\mathrm{in}}_i]
        + \tfrac12 \mathbb 1[s^{\mathrm{out}}_j = s^{\mathrm{in}}_i]\right),

    the Mann-Whitney probability that a random novel input scores above a random in-distribution
    one (1: perfect, 0.5: chance, 0: reversed); scikit-learn's ``roc_auc_score`` with the novel
    inputs as positives.

    Args:
      score_in: scores of in-distribution inputs, ``[n_in]``.
      score_out: scores of out-of-distribution inputs, ``[n_out]``.

    Example:
      >>> auroc(np.array([0.1, 0.4]), np.array([0.2, 0.3, 0.5]))  # 4 of 6 pairs ordered
      0.6666666666666666
    """
    s_in, s_out = np.ravel(score_in), np.ravel(score_out)
    if not len(s_in) or not len(s_out):
        raise ValueError(f"score_in, score_out: both need scores, got {len(s_in)} and "
                         f"{len(s_out)}")
    labels = np.r_[np.zeros(len(s_in)), np.ones(len(s_out))]
    from sklearn.metrics import roc_auc_score  # scikit-learn loads when an AUROC is first asked for

    return float(roc_auc_score(labels, np.r_[s_in, s_out]))

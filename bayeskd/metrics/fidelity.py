r"""Fidelity: how closely a student matches its teacher on the inputs it was distilled on.

Stanton et al., `Does knowledge distillation really work?
<https://arxiv.org/abs/2106.05945>`_ (NeurIPS 2021) separate *generalisation* (test accuracy)
from *fidelity* (agreement with the teacher), and measure fidelity both on test inputs
(:func:`bayeskd.metrics.classification_metrics` with ``teacher_probs``) and on the transfer set
itself, where a student that optimised its objective perfectly would agree everywhere. A
transfer set here is the training inputs (its first ``num_train`` rows) followed by any extra
inputs.
"""

from __future__ import annotations

from jaxtyping import ArrayLike, Float

from bayeskd.metrics.classification import agreement

__all__ = ["transfer_agreement"]


def transfer_agreement(student: Float[ArrayLike, "n classes"],
                       teacher: Float[ArrayLike, "n classes"], *,
                       num_train: int) -> dict[str, float]:
    r"""Top-1 agreement of student and teacher on a transfer set of ``n`` inputs.

    .. math::
        \mathrm{train} = \frac{1}{N_\text{train}} \sum_{i \le N_\text{train}}
            \mathbb{1}[\arg\max_k s_{ik} = \arg\max_k t_{ik}], \qquad
        \mathrm{fit} = \frac{1}{n} \sum_{i \le n} \mathbb{1}[\arg\max_k s_{ik} = \arg\max_k t_{ik}]

    Args:
      student: the student's probabilities or log-probabilities (or logits) ``[n, K]``.
      teacher: the teacher's, same shape (only the top class of each row matters).
      num_train: how many leading rows are the training inputs (``1 <= num_train <= n``).

    Returns:
      ``{"train_agreement", "fit_agreement"}`` as floats in ``[0, 1]``.

    Example:
      >>> import numpy as np
      >>> s = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
      >>> t = np.array([[0.8, 0.2], [0.7, 0.3], [0.9, 0.1], [0.4, 0.6]])
      >>> transfer_agreement(s, t, num_train=2)
      {'train_agreement': 0.5, 'fit_agreement': 0.75}
    """
    n = len(student)
    if len(teacher) != n:
        raise ValueError(f"teacher: must have the student's {n} rows, got {len(teacher)}")
    if not 1 <= num_train <= n:
        raise ValueError(f"num_train: must lie in [1, {n}], got {num_train}")
    return {"train_agreement": float(agreement(student[:num_train], teacher[:num_train])),
            "fit_agreement": float(agreement(student, teacher))}

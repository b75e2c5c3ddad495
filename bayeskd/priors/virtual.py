r"""A teacher without a network: Tf-KD's hand-made ("virtual") teacher of Yuan et al. (2020).

Yuan et al., `Revisiting knowledge distillation via label smoothing regularization
<https://arxiv.org/abs/1909.11723>`_ (CVPR 2020), §4 (Tf-KD\ :sub:`reg`): the teacher puts
probability :math:`a` on the true class and spreads the rest uniformly,

.. math::
    p^{v}(k \mid y) = \begin{cases} a & k = y \\ \dfrac{1-a}{K-1} & k \ne y \end{cases}

so distilling from it (``TeacherPrior(table=virtual_teacher(...))``) is a label-smoothing prior
whose smoothing lives on the teacher's side of the KD objective (temperature included).
"""

from __future__ import annotations

import numpy as np
from jaxtyping import ArrayLike, Float, Int

from bayeskd.validate import check_unit_interval

__all__ = ["virtual_teacher"]


def virtual_teacher(labels: Int[ArrayLike, " n"], *, num_classes: int,
                    correct: float) -> Float[np.ndarray, "n classes"]:
    r"""Log-probabilities ``[N, K]`` of the virtual teacher: :math:`\log a` on each label,
    :math:`\log\frac{1-a}{K-1}` elsewhere (``correct`` is :math:`a`).

    Args:
      labels: integer labels ``[N]`` in ``[0, num_classes)``.
      num_classes: ``K`` (at least 2).
      correct: the probability :math:`a` on the true class, in ``[0, 1]``.

    Returns:
      A teacher table ``[N, K]`` (float32) for :class:`bayeskd.priors.TeacherPrior`.

    Example:
      >>> np.exp(virtual_teacher(np.array([1]), num_classes=3, correct=0.8)).round(3)
      array([[0.1, 0.8, 0.1]], dtype=float32)
    """
    check_unit_interval(correct, name="correct")
    labels = np.asarray(labels)
    if num_classes < 2:
        raise ValueError(f"num_classes: must be >= 2, got {num_classes}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels: must lie in [0, {num_classes}), got values "
                         f"{labels.min()}..{labels.max()}")
    p = np.full((len(labels), num_classes), (1.0 - correct) / (num_classes - 1), np.float32)
    p[np.arange(len(labels)), labels] = correct
    with np.errstate(divide="ignore"):
        return np.log(p)

r"""The regulariser table as one prior structure, so that every row of it trains in one run.

Weight decay (a Gaussian prior on the weights), label smoothing (a uniform Dirichlet prior on
each example's class probabilities) and KD (a Dirichlet prior centred on a teacher) are terms of
one log-prior,

.. math:: \log p(\theta) = -\lambda \|\theta\|^2 + \mathrm{LS}_\varepsilon(\theta)
    + \mathrm{KD}_{\alpha, T}(\theta),

and a row of the table sets some weights to zero. Built as the same
:class:`~bayeskd.priors.SumPrior` structure every time, the rows stack leaf by leaf
(:func:`~bayeskd.priors.stack_priors`) into a single vmapped, compiled sweep.
"""

from __future__ import annotations

from jaxtyping import ArrayLike, Float

from bayeskd.priors.priors import GaussianPrior, LabelSmoothing, SumPrior, TeacherPrior

__all__ = ["regulariser_prior"]


def regulariser_prior(table: Float[ArrayLike, "n classes"], *, weight_decay: float = 0.0,
                      label_smoothing: float = 0.0, alpha: float = 0.0,
                      temperature: float = 1.0) -> SumPrior:
    """``SumPrior((GaussianPrior(weight_decay), LabelSmoothing(label_smoothing),
    TeacherPrior(alpha, temperature, table)))``: one row of the regulariser table.

    ``table`` (teacher log-probabilities ``[N, K]`` on the training inputs) is read only when
    ``alpha > 0``; a row without a teacher passes any table of that shape with ``alpha = 0``.

    Example:
      >>> import numpy as np
      >>> p = regulariser_prior(np.zeros((4, 3)), weight_decay=1e-3)
      >>> [type(q).__name__ for q in p.priors], float(p.likelihood_weight)
      (['GaussianPrior', 'LabelSmoothing', 'TeacherPrior'], 1.0)
    """
    return SumPrior((GaussianPrior(weight_decay=weight_decay),
                     LabelSmoothing(epsilon=label_smoothing),
                     TeacherPrior(alpha=alpha, temperature=temperature, table=table)))

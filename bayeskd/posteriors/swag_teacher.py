r"""A SWAG teacher around a trained network: Maddox et al. (2019)'s recipe, distilled.

Maddox, Garipov, Izmailov, Vetrov, Wilson, `A simple baseline for Bayesian uncertainty in deep
learning <https://arxiv.org/abs/1902.02476>`_ (NeurIPS 2019): from the trained weights, run SGD
with momentum 0.9 at a constant learning rate (0.05) under weight decay (5e-4, a Gaussian prior),
one snapshot per epoch; fit a Gaussian with a rank-20 deviation matrix to the snapshots, and
distil its predictive

.. math::
    \log \bar p(y \mid x) = \log \frac1S \sum_{s=1}^S p(y \mid x, \theta_s), \qquad
    \theta_s \sim \mathcal N\big(\bar\theta, \tfrac12(\Sigma_\text{diag} + DD^\top/(K-1))\big)

The weight decay is what makes SGD move: from a network that interpolates its labels without a
prior the gradients vanish and the Gaussian collapses onto it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np

from bayeskd.posteriors.base import teacher_log_probs
from bayeskd.posteriors.swag import fit_swag
from bayeskd.priors import GaussianPrior

__all__ = ["swag_teacher"]


def swag_teacher(model_fn: Callable, data: dict, inputs: Sequence[np.ndarray], *,
                 init_params: Any, key: jax.Array, predictive_key: jax.Array, steps: int,
                 num_samples: int, learning_rate: float = 0.05, weight_decay: float = 5e-4,
                 batch_size: int = 100, rank: int = 20,
                 progress: bool | None = None) -> list[np.ndarray]:
    """SWAG around ``init_params`` (one member, ``[1, ...]``) on ``data``, one snapshot per
    epoch of ``len(data["x"]) / batch_size`` steps; returns its predictive log-probabilities
    ``[N_i, K]`` on each array of ``inputs`` (every input with the same ``num_samples`` draws
    from ``predictive_key``)."""
    epoch = -(-len(data["x"]) // batch_size)
    if steps < 2 * epoch:  # the low-rank Gaussian needs two snapshots
        raise ValueError(f"steps: SWAG needs at least two epochs ({2 * epoch} steps), got {steps}")
    post = fit_swag(model_fn, data, prior=GaussianPrior(weight_decay=weight_decay),
                    init_params=init_params, key=key, steps=steps, learning_rate=learning_rate,
                    batch_size=batch_size, rank=rank, collect_every=epoch,
                    num_samples=num_samples, progress=progress)
    return [np.asarray(teacher_log_probs(post, x, key=predictive_key)) for x in inputs]

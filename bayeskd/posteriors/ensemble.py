r"""MAP and deep ensembles: members trained in parallel by ``vmap`` in one compiled run.

A deep ensemble (Lakshminarayanan, Pritzel & Blundell 2017, "Simple and Scalable Predictive
Uncertainty Estimation using Deep Ensembles") trains :math:`M` networks from independent
initialisations and minibatch orders and averages their predictive distributions:

.. math::
    p(y\mid x,\mathcal D) \approx \frac1M\sum_{m=1}^M p(y\mid x,\hat\theta_m),

where each :math:`\hat\theta_m` is a MAP estimate (a mode of :math:`p(\theta\mid\mathcal D)`);
Wilson & Izmailov (2020) read this as Bayesian model averaging over modes. MAP itself is the
one-member case. Members are not trained in a Python loop: :func:`bayeskd.training.fit` stacks
their states and ``vmap``\ s the whole ``lax.scan`` training run over them.
"""

from __future__ import annotations

from collections.abc import Callable

import jax

from bayeskd.posteriors.base import ParamSamples
from bayeskd.training import TrainConfig, fit
from bayeskd.validate import check_positive_int

__all__ = ["fit_ensemble", "fit_map"]


def fit_ensemble(
    model_fn: Callable,
    data: dict,
    *,
    prior,
    config: TrainConfig,
    key: jax.Array,
    num_members: int,
    progress: bool | None = None,
) -> ParamSamples:
    """Train a deep ensemble of ``num_members`` MAP networks in one vmapped run.

    Args:
      model_fn: ``key -> nnx.Module``.
      data: training arrays (``x``, ``y``, ...) as for :func:`bayeskd.training.fit`.
      prior: the weight prior (e.g. :class:`bayeskd.priors.GaussianPrior`), the same for all.
      config: optimisation settings.
      key: the run's key; member ``m`` initialises and shuffles from ``fold_in(key, m)``.
      num_members: ``M >= 1``.

    Returns:
      a :class:`ParamSamples` with ``M`` equally weighted members.

    Example:
      >>> import numpy as np, jax
      >>> from bayeskd.models import MLP
      >>> from flax import nnx
      >>> from bayeskd.priors import NoPrior
      >>> data = {"x": np.random.default_rng(0).normal(size=(16, 2)), "y": np.arange(16) % 2}
      >>> ens = fit_ensemble(lambda k: MLP(2, 2, hidden=(4,), rngs=nnx.Rngs(params=k)), data,
      ...                    prior=NoPrior(), config=TrainConfig(steps=5, batch_size=4,
      ...                    eval_every=5), key=jax.random.key(0), num_members=3, progress=False)
      >>> ens.sample_probs(data["x"][:2], key=jax.random.key(1)).shape
      (3, 2, 2)
    """
    check_positive_int(num_members, name="num_members")
    res = fit(model_fn, data, prior=prior, config=config, key=key, num_members=num_members,
              progress=progress, desc=f"ensemble x{num_members}")
    return ParamSamples.from_fit(res, name="ensemble" if num_members > 1 else "map")


def fit_map(model_fn: Callable, data: dict, *, prior, config: TrainConfig, key: jax.Array,
            progress: bool | None = None) -> ParamSamples:
    """The MAP network (the baseline teacher) as a one-sample posterior."""
    return fit_ensemble(model_fn, data, prior=prior, config=config, key=key, num_members=1,
                        progress=progress)

r"""Bayesian neural networks in NumPyro from the same Flax NNX model classes: NUTS, SVI, AIES, ESS.

:class:`BayesianNet` turns any bayeskd network into a NumPyro model with
``numpyro.contrib.module.random_nnx_module`` and an isotropic Gaussian prior whose variance is tied
to the weight-decay setting of the trainer (:mod:`bayeskd.priors`):

.. math::
    \theta\sim\mathcal N(0,\sigma^2 I),\quad y_n\mid x_n,\theta\sim\mathrm{Categorical}
    (\mathrm{softmax} f_\theta(x_n)), \qquad \lambda_{\mathrm{wd}} = \frac{1}{\sigma^2 N},

so MAP training with weight decay :math:`\lambda_{\mathrm{wd}}` finds a mode of exactly the
posterior these samplers target. Inference is NumPyro's (nothing here is hand-written):

- :func:`run_nuts`: the No-U-Turn sampler (Hoffman & Gelman 2014), the reference posterior;
- :func:`run_svi`: stochastic variational inference with a mean-field ``AutoNormal`` guide
  (Blundell et al. 2015's "Bayes by backprop" family);
- :func:`run_ensemble_sampler`: the gradient-free ensemble samplers ``AIES`` (Goodman & Weare
  2010; emcee, Foreman-Mackey et al. 2013) and ``ESS`` (ensemble slice sampling, Karamanis &
  Beutler 2021), many walkers moved together.

Every run comes back as a :class:`~bayeskd.posteriors.base.Posterior` through
:meth:`BayesianNet.posterior` or :class:`SVIPosterior`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.contrib.module import random_nnx_module
from numpyro.infer import AIES, ESS, MCMC, NUTS, SVI, Trace_ELBO
from numpyro.infer.autoguide import AutoNormal

from bayeskd.posteriors.base import ParamSamples, Posterior
from bayeskd.training import split_params
from bayeskd.validate import (
    check_choice,
    check_num_samples,
    check_positive_float,
    check_positive_int,
)

__all__ = [
    "BayesianNet",
    "MCMCRun",
    "check_divergences",
    "SVIPosterior",
    "SVIRun",
    "prior_std_from_weight_decay",
    "run_ensemble_sampler",
    "run_nuts",
    "run_svi",
    "weight_decay_from_prior_std",
]


def prior_std_from_weight_decay(weight_decay: float, num_data: int) -> float:
    r""":math:`\sigma = 1/\sqrt{\lambda N}`, the prior whose MAP objective has weight decay ``lambda``."""
    check_positive_float(weight_decay, name="weight_decay")
    check_positive_int(num_data, name="num_data")
    return 1.0 / math.sqrt(weight_decay * num_data)


def weight_decay_from_prior_std(prior_std: float, num_data: int) -> float:
    r""":math:`\lambda = 1/(\sigma^2 N)`, the inverse of :func:`prior_std_from_weight_decay`."""
    check_positive_float(prior_std, name="prior_std")
    check_positive_int(num_data, name="num_data")
    return 1.0 / (prior_std**2 * num_data)


class BayesianNet:
    """A bayeskd network with an ``N(0, prior_std^2)`` prior on every weight, as a NumPyro model.

    Args:
      model_fn: ``key -> nnx.Module`` (any bayeskd model; only ``nnx.Param`` state).
      key: initialises the module (its values are replaced by prior draws inside the model).
      prior_std: :math:`\\sigma > 0`.
      name: the NumPyro site prefix.

    Example:
      >>> import jax
      >>> from flax import nnx
      >>> from bayeskd.models import MLP
      >>> bnn = BayesianNet(lambda k: MLP(2, 2, hidden=(3,), rngs=nnx.Rngs(params=k)),
      ...                   key=jax.random.key(0), prior_std=1.0)
      >>> bnn.site_names
      ['net/head.bias', 'net/head.kernel', 'net/hidden.0.bias', 'net/hidden.0.kernel']
    """

    def __init__(self, model_fn: Callable, *, key: jax.Array, prior_std: float, name: str = "net"):
        self.prior_std = check_positive_float(prior_std, name="prior_std")
        self.module = model_fn(key)
        self.graphdef, params = split_params(self.module)
        self.name = name
        paths, self._treedef = jax.tree_util.tree_flatten_with_path(params)
        self.site_names = [
            f"{name}/" + ".".join(str(k.key) for k in path if isinstance(k, jax.tree_util.DictKey))
            for path, _ in paths
        ]
        self.num_params = int(sum(np.prod(leaf.shape) for _, leaf in paths))

    def model(self, x, y=None):
        """The NumPyro model: prior on every weight, categorical likelihood on ``y``."""
        net = random_nnx_module(self.name, self.module, prior=dist.Normal(0.0, self.prior_std))
        logits = net(x)
        with numpyro.plate("data", x.shape[0]):
            numpyro.sample("y", dist.Categorical(logits=logits), obs=y)

    def params_from_samples(self, samples: dict) -> Any:
        """Stacked NNX parameters ``[S, ...]`` from NumPyro samples ``{site: [S, ...]}``."""
        missing = [s for s in self.site_names if s not in samples]
        if missing:
            raise ValueError(f"samples: missing sites {missing}")
        return jax.tree_util.tree_unflatten(self._treedef,
                                            [jnp.asarray(samples[s]) for s in self.site_names])

    def posterior(self, run: MCMCRun, *, name: str) -> ParamSamples:
        """The MCMC samples of ``run`` as an empirical posterior (chain-major, ``chains = C``)."""
        flat = {k: np.asarray(v).reshape(-1, *np.shape(v)[2:]) for k, v in run.samples.items()}
        return ParamSamples(self.graphdef, self.params_from_samples(flat), name=name,
                            chains=run.num_chains)


class MCMCRun(NamedTuple):
    """Samples ``{site: [C, D, ...]}`` grouped by chain, divergences, wall time, chain method."""

    samples: dict
    num_chains: int
    num_divergent: int
    num_transitions: int
    runtime_s: float
    chain_method: str = "vectorized"


def _check_counts(num_warmup, num_samples, num_chains):
    check_num_samples(num_samples)
    check_positive_int(num_chains, name="num_chains")
    if not isinstance(num_warmup, int | np.integer) or num_warmup < 0:
        raise ValueError(f"num_warmup: must be an integer >= 0, got {num_warmup!r}")


def check_divergences(diverging, *, step_size: float | None = None) -> tuple[int, int]:
    """``(divergent, total)`` transitions of a NUTS run; ``ValueError`` if every one diverged."""
    diverging = np.asarray(diverging, bool)
    div, total = int(diverging.sum()), int(diverging.size)
    if total and div == total:
        raise ValueError(f"step_size: every one of the {total} NUTS transitions diverged "
                         f"(step_size={step_size}); let NUTS adapt it (step_size=None), raise "
                         "target_accept_prob or use a tighter prior")
    return div, total


def run_nuts(
    model: Callable,
    *args,
    key: jax.Array,
    num_warmup: int,
    num_samples: int,
    num_chains: int = 1,
    step_size: float | None = None,
    target_accept_prob: float = 0.8,
    max_tree_depth: int = 10,
    chain_method: str | None = None,
    **kwargs,
) -> MCMCRun:
    """NUTS on ``model(*args, **kwargs)`` with ``num_chains`` chains, across devices when they allow.

    Args:
      step_size: ``None`` adapts the step size during warm-up (the default); a number > 0 fixes it.
      chain_method: NumPyro's ``"parallel"`` (one chain per device), ``"vectorized"`` (all chains
        in one program on one device) or ``"sequential"``; ``None`` picks ``"parallel"`` when
        there are at least ``num_chains > 1`` local devices, else ``"vectorized"``.

    Raises:
      ValueError: bad counts or step size, or every transition diverged (the count of divergent
        transitions is reported in :class:`MCMCRun` otherwise).
    """
    _check_counts(num_warmup, num_samples, num_chains)
    if chain_method is None:
        parallel = 1 < num_chains <= jax.local_device_count()
        chain_method = "parallel" if parallel else "vectorized"
    check_choice(chain_method, ("parallel", "vectorized", "sequential"), name="chain_method")
    kernel_kw: dict[str, Any] = {"target_accept_prob": target_accept_prob,
                                 "max_tree_depth": max_tree_depth}
    if step_size is not None:
        kernel_kw |= {"step_size": check_positive_float(step_size), "adapt_step_size": False}
    t0 = time.perf_counter()
    mcmc = MCMC(NUTS(model, **kernel_kw), num_warmup=num_warmup, num_samples=num_samples,
                num_chains=num_chains, chain_method=chain_method, progress_bar=False)
    mcmc.run(key, *args, extra_fields=("diverging",), **kwargs)
    div, total = check_divergences(mcmc.get_extra_fields()["diverging"], step_size=step_size)
    return MCMCRun(mcmc.get_samples(group_by_chain=True), num_chains, div, total,
                   time.perf_counter() - t0, chain_method)


def run_ensemble_sampler(
    model: Callable,
    *args,
    kind: str,
    key: jax.Array,
    num_walkers: int,
    num_warmup: int,
    num_samples: int,
    thinning: int = 1,
    **kwargs,
) -> MCMCRun:
    """NumPyro's gradient-free ensemble samplers: ``kind="aies"`` or ``"ess"``.

    All ``num_walkers`` walkers (an even number >= 2; at least twice the dimension is advised)
    move together, each proposal built from the other half of the ensemble. ``num_samples``
    draws per walker are kept after ``num_warmup``, every ``thinning``-th.
    """
    if kind not in ("aies", "ess"):
        raise ValueError(f"kind: unknown {kind!r}; choose one of: aies, ess")
    _check_counts(num_warmup, num_samples, num_walkers)
    if num_walkers < 2 or num_walkers % 2:
        raise ValueError(f"num_walkers: must be an even number >= 2, got {num_walkers!r}")
    check_positive_int(thinning, name="thinning")
    kernel = AIES(model) if kind == "aies" else ESS(model)
    t0 = time.perf_counter()
    mcmc = MCMC(kernel, num_warmup=num_warmup, num_samples=num_samples * thinning,
                num_chains=num_walkers, chain_method="vectorized", thinning=thinning,
                progress_bar=False)
    mcmc.run(key, *args, **kwargs)
    return MCMCRun(mcmc.get_samples(group_by_chain=True), num_walkers, 0,
                   num_samples * num_walkers, time.perf_counter() - t0)


class SVIRun(NamedTuple):
    """A fitted guide, its variational parameters and the ELBO loss trace."""

    guide: Any
    params: dict
    losses: np.ndarray
    runtime_s: float


def run_svi(model: Callable, *args, key: jax.Array, num_steps: int, learning_rate: float = 1e-2,
            init_scale: float = 0.1, num_particles: int = 1, **kwargs) -> SVIRun:
    r"""SVI with a mean-field ``AutoNormal`` guide and Adam, maximising the ELBO (Trace_ELBO).

    For a Gaussian posterior :math:`\mathcal N(m, \Lambda^{-1})` the optimum of the mean-field
    family is :math:`\mathcal N(m, \mathrm{diag}(\Lambda)^{-1})`: right means, variances from the
    precision's diagonal (smaller than the marginals). Tested against this closed form.
    ``num_particles`` Monte Carlo draws estimate the ELBO at each step.
    """
    check_positive_int(num_steps, name="num_steps")
    check_positive_float(learning_rate, name="learning_rate")
    check_positive_float(init_scale, name="init_scale")
    check_positive_int(num_particles, name="num_particles")
    t0 = time.perf_counter()
    guide = AutoNormal(model, init_scale=init_scale)
    svi = SVI(model, guide, numpyro.optim.Adam(learning_rate),
              Trace_ELBO(num_particles=num_particles))

    # svi.init and the update loop compiled as whole programs (svi.run initialises op by op)
    def steps(state):
        return jax.lax.scan(lambda st, _: svi.update(st, *args, **kwargs), state, length=num_steps)

    state = jax.jit(lambda k: svi.init(k, *args, **kwargs))(key)
    state, losses = jax.jit(steps)(state)
    losses = np.asarray(losses)
    if not np.all(np.isfinite(losses[-10:])):
        raise ValueError(f"learning_rate: SVI diverged (ELBO loss {losses[-1]}) at "
                         f"learning_rate={learning_rate}; lower it")
    return SVIRun(guide, svi.get_params(state), losses, time.perf_counter() - t0)


class SVIPosterior(Posterior):
    """Draws from a fitted ``AutoNormal`` guide of a :class:`BayesianNet`."""

    def __init__(self, bnn: BayesianNet, run: SVIRun, *, num_samples: int = 30, name: str = "svi"):
        self.bnn, self.run, self.name = bnn, run, name
        self.num_samples = check_num_samples(num_samples)

    def sample_params(self, key: jax.Array, num_samples: int | None = None):
        """``S`` stacked weight draws from the guide."""
        n = self._resolve(num_samples)
        draws = self.run.guide.sample_posterior(key, self.run.params, sample_shape=(n,))
        return self.bnn.params_from_samples(draws)

    def sample_logits(self, x, *, key, num_samples=None):
        from bayeskd.training import apply_members

        return apply_members(self.bnn.graphdef, self.sample_params(key, num_samples),
                             jnp.asarray(x, jnp.float32))

r"""The table of fitters, one per posterior family, all on one :class:`Problem`.

Every fitter has the shape ``fit_fn(problem, setup, *, key) -> {method: [Posterior]}`` (one
list entry per member that gets its own row); :data:`FITTERS` maps a fit's name to it. A fit
that starts from another one's weights names it in :data:`STARTS_FROM` (SWAG, Laplace and dark
knowledge start at the MAP network, the SGLD chains at the ensemble's members); the caller
passes those weights in ``problem.start``. :func:`nuts_reference` fits the reference.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from bayeskd.models import MLP
from bayeskd.posteriors.base import ParamSamples, Posterior
from bayeskd.posteriors.ensemble import fit_ensemble
from bayeskd.posteriors.laplace import LastLayerLaplace
from bayeskd.posteriors.mc_dropout import MCDropout
from bayeskd.posteriors.numpyro_bnn import (
    BayesianNet,
    MCMCRun,
    SVIPosterior,
    run_ensemble_sampler,
    run_nuts,
    run_svi,
    weight_decay_from_prior_std,
)
from bayeskd.posteriors.sgld import bayesian_dark_knowledge, fit_sgld
from bayeskd.posteriors.swag import SWAG, fit_swag
from bayeskd.posteriors.zoo.setups import METHODS, Setup
from bayeskd.priors import GaussianPrior
from bayeskd.training import TrainConfig, fit, init_members


def mlp_fn(ds, hidden, dropout: float = 0.0) -> Callable:
    """``key -> MLP`` from the dataset's input size to its classes."""
    d, k = int(np.prod(ds.input_shape)), ds.num_classes
    return lambda key: MLP(d, k, hidden=hidden, dropout=dropout, rngs=nnx.Rngs(params=key))


class Problem(NamedTuple):
    """What every fitter sees: the data, the teacher network, its prior, and the weights earlier
    fits produced (``start["map"]``: one network, ``start["ensemble"]``: the members)."""

    ds: Any
    model_fn: Callable
    prior: GaussianPrior
    start: dict[str, ParamSamples]

    @classmethod
    def make(cls, ds, setup: Setup, start: Mapping[str, ParamSamples] | None = None) -> Problem:
        wd = weight_decay_from_prior_std(setup.prior_std, ds.num_train)
        return cls(ds, mlp_fn(ds, setup.teacher_hidden), GaussianPrior(weight_decay=wd),
                   dict(start or {}))

    @property
    def data(self) -> dict:
        return {"x": self.ds.x_train, "y": self.ds.y_train}

    @property
    def xy(self) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(self.ds.x_train), np.asarray(self.ds.y_train)

    def bnn(self, setup: Setup, key) -> BayesianNet:
        """The teacher network as a NumPyro model with the same prior."""
        return BayesianNet(self.model_fn, key=key, prior_std=setup.prior_std)

    def restore(self, leaves: list, name: str) -> ParamSamples:
        """Stored parameter leaves (``[M, ...]`` arrays) of the teacher network as a posterior."""
        graphdef, like = init_members(self.model_fn, jax.random.split(jax.random.key(0), 1))
        params = jax.tree.unflatten(jax.tree.structure(like), [jnp.asarray(a) for a in leaves])
        return ParamSamples(graphdef, params, name=name)


def _map_config(ds, setup: Setup) -> TrainConfig:
    m = setup.map
    return TrainConfig(steps=m.steps, batch_size=min(m.batch_size, ds.num_train),
                       learning_rate=m.learning_rate, eval_every=m.steps)


def fit_map_teacher(problem: Problem, setup: Setup, *, key) -> dict[str, list[Posterior]]:
    """One MAP network (Adam on NLL + the prior)."""
    return {"map": [fit_ensemble(problem.model_fn, problem.data, prior=problem.prior,
                                 config=_map_config(problem.ds, setup), key=key, num_members=1,
                                 progress=False)]}


def fit_ensemble_teacher(problem: Problem, setup: Setup, *, key) -> dict[str, list[Posterior]]:
    """A deep ensemble of independent MAP fits (Lakshminarayanan et al. 2017; one vmapped run)."""
    return {"ensemble": [fit_ensemble(problem.model_fn, problem.data, prior=problem.prior,
                                      config=_map_config(problem.ds, setup), key=key,
                                      num_members=setup.map.members, progress=False)]}


def fit_swag_teacher(problem: Problem, setup: Setup, *, key) -> dict[str, list[Posterior]]:
    """SWAG and SWAG-Diagonal (Maddox et al. 2019) from one SGD trajectory started at the MAP."""
    s = setup.swag
    sw = fit_swag(problem.model_fn, problem.data, prior=problem.prior,
                  init_params=problem.start["map"].params, key=key, steps=s.steps,
                  learning_rate=s.learning_rate, batch_size=s.batch_size,
                  collect_every=s.collect_every, num_samples=setup.pred_samples, progress=False)
    return {"swag": [sw], "swag_diag": [SWAG(sw.graphdef, sw.state, diagonal=True,
                                             num_samples=setup.pred_samples)]}


def fit_mc_dropout_teacher(problem: Problem, setup: Setup, *, key) -> dict[str, list[Posterior]]:
    """The MAP network trained with dropout, sampled with dropout on (Gal & Ghahramani 2016)."""
    res = fit(mlp_fn(problem.ds, setup.teacher_hidden, setup.dropout), problem.data,
              prior=problem.prior, config=_map_config(problem.ds, setup), key=key, progress=False)
    return {"mc_dropout": [MCDropout.from_fit(res, num_samples=setup.pred_samples)]}


def fit_laplace_teacher(problem: Problem, setup: Setup, *, key) -> dict[str, list[Posterior]]:
    """Last-layer Laplace around the MAP network (deterministic: ``key`` is unused)."""
    net = problem.start["map"]
    return {"laplace": [LastLayerLaplace(net.graphdef, jax.tree.map(lambda a: a[0], net.params),
                                         *problem.xy, num_samples=setup.pred_samples)]}


def _sgld(problem: Problem, setup: Setup, key, method: str) -> dict[str, list[Posterior]]:
    s = getattr(setup, method)
    start = jax.tree.map(lambda a: a[: s.chains], problem.start["ensemble"].params)
    return {method: [fit_sgld(problem.model_fn, problem.data, prior=problem.prior,
                              batch_size=min(setup.map.batch_size, problem.ds.num_train),
                              num_chains=s.chains, init_params=start, thin=s.thin,
                              num_steps=s.steps, key=key, step_size=s.step_size,
                              burn_in=s.burn_in, num_cycles=s.cycles or None, progress=False)]}


def fit_sgld_teacher(problem: Problem, setup: Setup, *, key) -> dict[str, list[Posterior]]:
    """SGLD chains (Welling & Teh 2011) from the ensemble's first members."""
    return _sgld(problem, setup, key, "sgld")


def fit_csgld_teacher(problem: Problem, setup: Setup, *, key) -> dict[str, list[Posterior]]:
    """Cyclical SGLD (Zhang et al. 2020) from the ensemble's first members."""
    return _sgld(problem, setup, key, "csgld")


def fit_svi_teacher(problem: Problem, setup: Setup, *, key) -> dict[str, list[Posterior]]:
    """Mean-field SVI (NumPyro AutoNormal) on the same Bayesian network."""
    k_net, k_run = jax.random.split(key)
    bnn = problem.bnn(setup, k_net)
    run = run_svi(bnn.model, *problem.xy, key=k_run, num_steps=setup.svi_steps)
    return {"svi": [SVIPosterior(bnn, run, num_samples=setup.pred_samples)]}


def _ensemble_sampler(problem: Problem, setup: Setup, key, kind: str) -> dict[str, list[Posterior]]:
    k_net, k_run = jax.random.split(key)
    bnn, w = problem.bnn(setup, k_net), setup.walkers
    walkers = max(w.walkers, 2 * bnn.num_params)  # NumPyro advises at least twice the dimension
    run = run_ensemble_sampler(bnn.model, *problem.xy, kind=kind, key=k_run, num_walkers=walkers,
                               num_warmup=w.warmup, num_samples=w.samples, thinning=w.thinning)
    return {kind: [bnn.posterior(run, name=kind)]}


def fit_aies_teacher(problem: Problem, setup: Setup, *, key) -> dict[str, list[Posterior]]:
    """The affine-invariant ensemble sampler (Goodman & Weare 2010) on the Bayesian network."""
    return _ensemble_sampler(problem, setup, key, "aies")


def fit_ess_teacher(problem: Problem, setup: Setup, *, key) -> dict[str, list[Posterior]]:
    """The ensemble slice sampler (Karamanis & Beutler 2021) on the Bayesian network."""
    return _ensemble_sampler(problem, setup, key, "ess")


def fit_bdk_student(problem: Problem, setup: Setup, *, key) -> dict[str, list[Posterior]]:
    """Bayesian dark knowledge (Korattikara et al. 2015): an SGLD chain from the MAP distilled
    online into the student; returns the *student*."""
    s, g = setup.student, setup.sgld
    dk = bayesian_dark_knowledge(
        problem.model_fn, mlp_fn(problem.ds, s.hidden), problem.data, prior=problem.prior,
        key=key, step_size=g.step_size, num_steps=g.steps, burn_in=g.burn_in,
        batch_size=min(setup.map.batch_size, problem.ds.num_train),
        input_noise=setup.transfer.sigma or 0.5, student_learning_rate=s.bdk_learning_rate,
        init_params=jax.tree.map(lambda a: a[0], problem.start["map"].params))
    return {"bdk": [dk.student]}


FITTERS: dict[str, Callable[..., dict[str, list[Posterior]]]] = {
    "map": fit_map_teacher, "ensemble": fit_ensemble_teacher, "swag": fit_swag_teacher,
    "mc_dropout": fit_mc_dropout_teacher, "laplace": fit_laplace_teacher,
    "sgld": fit_sgld_teacher, "csgld": fit_csgld_teacher, "svi": fit_svi_teacher,
    "aies": fit_aies_teacher, "ess": fit_ess_teacher, "bdk": fit_bdk_student,
}
FIT_OF = {m: ("swag" if m == "swag_diag" else m) for m in METHODS}  # method -> its fit
STARTS_FROM = {"swag": "map", "laplace": "map", "bdk": "map", "sgld": "ensemble",
               "csgld": "ensemble"}
STUDENT_FITS = ("bdk",)  # fits whose posteriors are students, not teachers


def fits_for(methods) -> list[str]:
    """The fits ``methods`` need, with the fits they start from, in :data:`FITTERS` order.

    Example:
      >>> fits_for(("swag_diag", "csgld"))
      ['map', 'ensemble', 'swag', 'csgld']
    """
    need = {FIT_OF[m] for m in methods}
    need |= {STARTS_FROM[f] for f in need if f in STARTS_FROM}
    return [f for f in FITTERS if f in need]


def nuts_reference(ds, setup: Setup, *, key) -> tuple[ParamSamples, MCMCRun]:
    """The NUTS reference posterior (NumPyro; Hoffman & Gelman 2014) of the teacher network."""
    k_net, k_run = jax.random.split(key)
    bnn = Problem.make(ds, setup).bnn(setup, k_net)
    n = setup.nuts
    run = run_nuts(bnn.model, np.asarray(ds.x_train), np.asarray(ds.y_train), key=k_run,
                   num_warmup=n.warmup, num_samples=n.samples, num_chains=n.chains)
    return bnn.posterior(run, name="nuts"), run

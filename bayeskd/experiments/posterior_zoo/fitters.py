"""``bayeskd posterior-zoo``: the table of fitters, one per posterior approximation.

Every fitter has the same shape, ``fit_fn(problem, setup, *, key) -> {method: [Posterior]}``
(one list entry per member that gets its own row): :data:`FITTERS` maps a fit's name (which is
also its checkpoint unit, ``seed<s>-teacher-<fit>``) to it. A fit that starts from another one's
weights names it in :data:`STARTS_FROM`; the job passes those weights in ``problem.start``.
:func:`nuts_reference` fits the reference the others are measured against.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import numpy as np
from flax import nnx

from bayeskd.models import MLP
from bayeskd.posteriors import (
    SWAG,
    BayesianNet,
    LastLayerLaplace,
    MCDropout,
    MCMCRun,
    ParamSamples,
    Posterior,
    SVIPosterior,
    bayesian_dark_knowledge,
    fit_ensemble,
    fit_sgld,
    fit_swag,
    run_ensemble_sampler,
    run_nuts,
    run_svi,
    weight_decay_from_prior_std,
)
from bayeskd.priors import GaussianPrior
from bayeskd.training import TrainConfig, fit

from .settings import Setup


def mlp_fn(ds, hidden, dropout: float = 0.0) -> Callable:
    """``key -> MLP`` from the dataset's input size to its classes."""
    d, k = int(np.prod(ds.input_shape)), ds.num_classes
    return lambda key: MLP(d, k, hidden=hidden, dropout=dropout, rngs=nnx.Rngs(params=key))


class Problem(NamedTuple):
    """What every fitter sees: the data, the teacher network, its prior (``N(0, prior_std^2)`` on
    every weight, as weight decay ``1/(prior_std^2 N)``) and the weights earlier fits produced
    (``start["map"]``: one network, ``start["ensemble"]``: the ensemble's members)."""

    ds: Any
    model_fn: Callable
    prior: GaussianPrior
    start: Mapping[str, ParamSamples]

    @classmethod
    def make(cls, ds, setup: Setup, start: Mapping[str, ParamSamples] | None = None) -> Problem:
        prior = GaussianPrior(weight_decay=weight_decay_from_prior_std(setup.prior_std,
                                                                       ds.num_train))
        return cls(ds, mlp_fn(ds, setup.teacher_hidden), prior, dict(start or {}))

    @property
    def data(self) -> dict:
        return {"x": self.ds.x_train, "y": self.ds.y_train}

    @property
    def xy(self) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(self.ds.x_train), np.asarray(self.ds.y_train)

    def bnn(self, setup: Setup, key) -> BayesianNet:
        """The teacher network as a NumPyro model with the same prior."""
        return BayesianNet(self.model_fn, key=key, prior_std=setup.prior_std)


def _map_config(ds, setup: Setup) -> TrainConfig:
    m = setup.map
    return TrainConfig(steps=m.steps, batch_size=min(m.batch_size, ds.num_train),
                       learning_rate=m.learning_rate, eval_every=m.steps)


def fit_map_teacher(problem: Problem, setup: Setup, *, key) -> dict[str, list[Posterior]]:
    """One MAP network (Adam on NLL + the prior); SWAG, Laplace and dark knowledge start here."""
    net = fit_ensemble(problem.model_fn, problem.data, prior=problem.prior,
                       config=_map_config(problem.ds, setup), key=key, num_members=1,
                       progress=False)
    return {"map": [net]}


def fit_ensemble_teacher(problem: Problem, setup: Setup, *, key) -> dict[str, list[Posterior]]:
    """A deep ensemble of independent MAP fits (one vmapped run); SGLD chains start here."""
    return {"ensemble": [fit_ensemble(problem.model_fn, problem.data, prior=problem.prior,
                                      config=_map_config(problem.ds, setup), key=key,
                                      num_members=setup.map.members, progress=False)]}


def fit_swag_teacher(problem: Problem, setup: Setup, *, key) -> dict[str, list[Posterior]]:
    """SWAG and SWAG-Diagonal from one SGD trajectory started at the MAP."""
    s = setup.swag
    sw = fit_swag(problem.model_fn, problem.data, prior=problem.prior,
                  init_params=problem.start["map"].params, key=key, steps=s.steps,
                  learning_rate=s.learning_rate, batch_size=s.batch_size,
                  collect_every=s.collect_every, num_samples=setup.pred_samples, progress=False)
    return {"swag": [sw],
            "swag_diag": [SWAG(sw.graphdef, sw.state, diagonal=True,
                               num_samples=setup.pred_samples)]}


def fit_mc_dropout_teacher(problem: Problem, setup: Setup, *, key) -> dict[str, list[Posterior]]:
    """The MAP network trained with dropout, sampled with dropout on (Gal & Ghahramani 2016)."""
    res = fit(mlp_fn(problem.ds, setup.teacher_hidden, setup.dropout), problem.data,
              prior=problem.prior, config=_map_config(problem.ds, setup), key=key, progress=False)
    return {"mc_dropout": [MCDropout.from_fit(res, num_samples=setup.pred_samples)]}


def fit_laplace_teacher(problem: Problem, setup: Setup, *, key) -> dict[str, list[Posterior]]:
    """Last-layer Laplace around the MAP network (deterministic: ``key`` is unused)."""
    net = problem.start["map"]
    params = jax.tree.map(lambda a: a[0], net.params)
    x, y = problem.xy
    return {"laplace": [LastLayerLaplace(net.graphdef, params, x, y,
                                         num_samples=setup.pred_samples)]}


def _sgld(problem: Problem, setup: Setup, key, method: str) -> dict[str, list[Posterior]]:
    s = getattr(setup, method)
    start = jax.tree.map(lambda a: a[: s.chains], problem.start["ensemble"].params)
    post = fit_sgld(problem.model_fn, problem.data, prior=problem.prior,
                    batch_size=min(setup.map.batch_size, problem.ds.num_train),
                    num_chains=s.chains, init_params=start, thin=s.thin, num_steps=s.steps,
                    key=key, step_size=s.step_size, burn_in=s.burn_in,
                    num_cycles=s.cycles or None, progress=False)
    return {method: [post]}


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
    s = setup.student
    dk = bayesian_dark_knowledge(
        problem.model_fn, mlp_fn(problem.ds, s.hidden), problem.data, prior=problem.prior,
        key=key, step_size=setup.sgld.step_size, num_steps=setup.sgld.steps,
        burn_in=setup.sgld.burn_in, batch_size=min(setup.map.batch_size, problem.ds.num_train),
        input_noise=setup.transfer.sigma or 0.5, student_learning_rate=s.bdk_learning_rate,
        init_params=jax.tree.map(lambda a: a[0], problem.start["map"].params))
    return {"bdk": [dk.student]}


FitFn = Callable[..., dict[str, list[Posterior]]]

FITTERS: dict[str, FitFn] = {
    "map": fit_map_teacher,
    "ensemble": fit_ensemble_teacher,
    "swag": fit_swag_teacher,
    "mc_dropout": fit_mc_dropout_teacher,
    "laplace": fit_laplace_teacher,
    "sgld": fit_sgld_teacher,
    "csgld": fit_csgld_teacher,
    "svi": fit_svi_teacher,
    "aies": fit_aies_teacher,
    "ess": fit_ess_teacher,
    "bdk": fit_bdk_student,
}
FIT_OF = {m: ("swag" if m == "swag_diag" else m) for m in
          ("map", "ensemble", "swag", "swag_diag", "mc_dropout", "laplace", "sgld", "csgld", "svi",
           "aies", "ess", "bdk")}  # method -> the fit that produces it
STARTS_FROM = {"swag": "map", "laplace": "map", "bdk": "map", "sgld": "ensemble",
               "csgld": "ensemble"}
STUDENT_FITS = ("bdk",)  # fits whose posteriors are students, not teachers


def fits_for(methods) -> list[str]:
    """The fits ``methods`` need, with the fits they start from, in :data:`FITTERS` order."""
    need = {FIT_OF[m] for m in methods}
    need |= {STARTS_FROM[f] for f in need if f in STARTS_FROM}
    return [f for f in FITTERS if f in need]


def nuts_reference(ds, setup: Setup, *, key) -> tuple[ParamSamples, MCMCRun]:
    """The NUTS reference posterior (NumPyro) of the teacher network, and its run."""
    k_net, k_run = jax.random.split(key)
    bnn = Problem.make(ds, setup).bnn(setup, k_net)
    n = setup.nuts
    run = run_nuts(bnn.model, np.asarray(ds.x_train), np.asarray(ds.y_train), key=k_run,
                   num_warmup=n.warmup, num_samples=n.samples, num_chains=n.chains)
    return bnn.posterior(run, name="nuts"), run

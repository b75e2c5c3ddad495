"""``bayeskd posterior-zoo``: what each dataset and size runs, and the validated configuration.

A :class:`Setup` holds every size-dependent setting of one dataset in named sections, one per
method (:class:`MAPSettings`, :class:`SWAGSettings`, :class:`NUTSSettings`, ...); :data:`SETUPS`
maps ``(dataset, size)`` to one. :class:`PosteriorZooConfig` is a validated run.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from bayeskd.data import load_digits, load_gmm, load_moons, mixup_inputs, noised
from bayeskd.experiments.common import SIZE_NAMES
from bayeskd.validate import check_choice, check_positive_int

DATASETS = ("moons", "gmm", "digits")
PLANE_DATASETS = ("moons", "gmm")
METHODS = ("map", "ensemble", "swag", "swag_diag", "mc_dropout", "laplace", "sgld", "csgld", "svi",
           "aies", "ess", "bdk")
REFERENCE_ONLY = ("aies", "ess")  # gradient-free samplers: only on the small 2-D networks
METRICS = ("accuracy", "nll", "ece", "brier", "entropy", "mutual_information", "agreement_ref",
           "tv_ref", "kl_ref", "agreement_ref_grid", "tv_ref_grid", "kl_ref_grid", "kl_teacher",
           "kl_map", "rhat_max", "ess_min")
# Korattikara et al. 2015 (Bayesian dark knowledge), toy 2-D problem, KL(HMC || method).
PUBLISHED = {"source": "Korattikara et al. 2015, toy 2-D classification, KL(HMC || method)",
             "sgd": 0.246, "sgld": 0.007, "distilled_students": [0.009, 0.031]}


@dataclasses.dataclass(frozen=True)
class MAPSettings:
    """Adam on the full posterior objective: the MAP network and each ensemble member."""

    steps: int
    learning_rate: float
    batch_size: int
    members: int  # deep-ensemble size; the SGLD chains start at its first members


@dataclasses.dataclass(frozen=True)
class SWAGSettings:
    """Constant-learning-rate SGD from the MAP, one snapshot every ``collect_every`` steps."""

    steps: int
    learning_rate: float
    batch_size: int
    collect_every: int


@dataclasses.dataclass(frozen=True)
class SGLDSettings:
    """SGLD chains from the ensemble's first ``chains`` members (cyclical: ``cycles > 0``, no
    burn-in)."""

    step_size: float
    steps: int
    burn_in: int
    thin: int
    chains: int
    cycles: int = 0


@dataclasses.dataclass(frozen=True)
class NUTSSettings:
    """The NUTS reference (2-D problems only)."""

    warmup: int
    samples: int
    chains: int


@dataclasses.dataclass(frozen=True)
class EnsembleSamplerSettings:
    """AIES and ESS (2-D problems only); ``walkers`` is raised to twice the dimension if lower."""

    walkers: int
    warmup: int
    samples: int
    thinning: int


@dataclasses.dataclass(frozen=True)
class StudentSettings:
    """The student every teacher is distilled into, and Bayesian dark knowledge's student."""

    hidden: tuple[int, ...]
    steps: int
    learning_rate: float
    bdk_learning_rate: float = 3e-3


@dataclasses.dataclass(frozen=True)
class TransferSettings:
    """Transfer inputs: the training inputs plus ``copies`` noisy copies (2-D) or ``mixup``
    mixup inputs (digits)."""

    copies: int = 0
    sigma: float = 0.0
    mixup: int = 0


@dataclasses.dataclass(frozen=True)
class Setup:
    """Every size-dependent setting of one dataset (see :data:`SETUPS`)."""

    num_train: int | None
    num_test: int
    teacher_hidden: tuple[int, ...]
    prior_std: float
    map: MAPSettings
    swag: SWAGSettings
    sgld: SGLDSettings
    csgld: SGLDSettings
    svi_steps: int
    nuts: NUTSSettings | None  # None: no reference (too many weights)
    walkers: EnsembleSamplerSettings | None
    student: StudentSettings
    transfer: TransferSettings
    pred_samples: int
    grid: tuple[int, float] | None  # (resolution, margin); None: no plane
    seeds: int
    dropout: float = 0.1

    def __post_init__(self):
        for sampler in (self.sgld, self.csgld):
            if sampler.chains > self.map.members:
                raise ValueError(f"sgld.chains: at most the {self.map.members} ensemble members "
                                 f"the chains start from, got {sampler.chains}")


# SWAG (Maddox et al. 2019): the SWA learning rate is of the order of the training learning rate of
# plain SGD and the moments are collected over many epochs (here: 100 snapshots of the last
# trajectory, about 15 epochs on moons and 150 on digits).
_MOONS_QUICK = Setup(
    num_train=50, num_test=500, teacher_hidden=(10,), prior_std=1.0,
    map=MAPSettings(steps=3000, learning_rate=1e-2, batch_size=50, members=10),
    swag=SWAGSettings(steps=2000, learning_rate=0.05, batch_size=10, collect_every=10),
    sgld=SGLDSettings(step_size=1e-3, steps=20000, burn_in=5000, thin=100, chains=4),
    csgld=SGLDSettings(step_size=3e-3, steps=20000, burn_in=0, thin=100, chains=4, cycles=4),
    svi_steps=5000, nuts=NUTSSettings(warmup=400, samples=400, chains=4),
    walkers=EnsembleSamplerSettings(walkers=128, warmup=2000, samples=100, thinning=10),
    student=StudentSettings(hidden=(20,), steps=5000, learning_rate=1e-2),
    transfer=TransferSettings(copies=100, sigma=0.5), pred_samples=50, grid=(50, 1.0), seeds=1)
_DIGITS_QUICK = Setup(
    num_train=None, num_test=450, teacher_hidden=(100, 100), prior_std=1.0,
    map=MAPSettings(steps=3000, learning_rate=1e-3, batch_size=100, members=5),
    swag=SWAGSettings(steps=2000, learning_rate=0.05, batch_size=100, collect_every=20),
    sgld=SGLDSettings(step_size=1e-5, steps=4000, burn_in=1000, thin=100, chains=2),
    csgld=SGLDSettings(step_size=3e-5, steps=4000, burn_in=0, thin=100, chains=2, cycles=2),
    svi_steps=3000, nuts=None, walkers=None,
    student=StudentSettings(hidden=(100,), steps=3000, learning_rate=1e-3),
    transfer=TransferSettings(mixup=10000), pred_samples=30, grid=None, seeds=1)


def _smoke(s: Setup) -> Setup:
    r = dataclasses.replace
    sampler = dict(steps=400, thin=50, chains=2)
    return r(s, num_train=min(s.num_train or 300, 300), num_test=100,
             map=r(s.map, steps=200, members=3), swag=r(s.swag, steps=100, collect_every=5),
             sgld=r(s.sgld, burn_in=100, **sampler), csgld=r(s.csgld, **sampler), svi_steps=200,
             nuts=NUTSSettings(warmup=60, samples=40, chains=2) if s.nuts else None,
             walkers=EnsembleSamplerSettings(walkers=64, warmup=100, samples=8, thinning=1)
             if s.walkers else None,
             student=r(s.student, steps=200), pred_samples=8,
             grid=(20, 1.0) if s.grid else None,
             transfer=r(s.transfer, copies=5) if s.grid else TransferSettings(mixup=300))


def _full(s: Setup) -> Setup:
    r = dataclasses.replace
    return r(s, map=r(s.map, steps=2 * s.map.steps),
             sgld=r(s.sgld, steps=2 * s.sgld.steps, burn_in=2 * s.sgld.burn_in),
             csgld=r(s.csgld, steps=2 * s.csgld.steps),
             nuts=NUTSSettings(warmup=1000, samples=1000, chains=4) if s.nuts else None,
             student=r(s.student, steps=2 * s.student.steps), seeds=3)


_GMM_QUICK = dataclasses.replace(_MOONS_QUICK, num_train=100,
                                 map=dataclasses.replace(_MOONS_QUICK.map, batch_size=100))
SETUPS = {(d, "quick"): q for d, q in (("moons", _MOONS_QUICK), ("gmm", _GMM_QUICK),
                                        ("digits", _DIGITS_QUICK))}
SETUPS |= {(d, "smoke"): _smoke(SETUPS[(d, "quick")]) for d in DATASETS}
SETUPS |= {(d, "full"): _full(SETUPS[(d, "quick")]) for d in DATASETS}


@dataclasses.dataclass(frozen=True)
class PosteriorZooConfig:
    """A ``posterior-zoo`` run (validated on construction, before any work)."""

    dataset: str = "moons"
    size: str = "quick"
    seeds: int | None = None
    methods: tuple[str, ...] = METHODS
    plane: bool | None = None  # None: draw the plane when the inputs are 2-D
    seed: int = 0

    def __post_init__(self):
        check_choice(self.dataset, DATASETS, name="dataset")
        check_choice(self.size, SIZE_NAMES, name="size")
        if self.seeds is not None:
            check_positive_int(self.seeds, name="seeds")
        if not self.methods:
            raise ValueError(f"methods: give at least one of: {', '.join(METHODS)}")
        for m in self.methods:
            check_choice(m, METHODS, name="methods")
        if self.plane and self.dataset not in PLANE_DATASETS:
            raise ValueError(f"dataset: {self.dataset!r} has 64-D inputs; a plane can be drawn only "
                             f"for 2-D inputs ({', '.join(PLANE_DATASETS)}); drop --plane")

    @property
    def setup(self) -> Setup:
        return SETUPS[(self.dataset, self.size)]

    @property
    def num_seeds(self) -> int:
        return self.seeds if self.seeds is not None else self.setup.seeds

    @property
    def two_d(self) -> bool:
        return self.dataset in PLANE_DATASETS

    @property
    def active_methods(self) -> tuple[str, ...]:
        return tuple(m for m in self.methods if self.two_d or m not in REFERENCE_ONLY)


def load_data(cfg: PosteriorZooConfig):
    """The dataset and the transfer inputs (training inputs plus noisy copies on 2-D data, plus
    mixup inputs on digits)."""
    s, t = cfg.setup, cfg.setup.transfer
    if cfg.dataset == "moons":
        ds = load_moons(num_train=s.num_train, num_test=s.num_test, seed=cfg.seed)
    elif cfg.dataset == "gmm":
        ds = load_gmm(num_train=s.num_train, num_test=s.num_test, dim=2, seed=cfg.seed)
    else:
        ds = load_digits(flatten=True).take(num_train=s.num_train, num_test=s.num_test)
    extra = (noised(ds.x_train, sigma=t.sigma, seed=cfg.seed + 7, copies=t.copies) if cfg.two_d
             else mixup_inputs(ds.x_train, num=t.mixup, alpha=1.0, seed=cfg.seed + 7))
    return ds, np.concatenate([ds.x_train, extra])

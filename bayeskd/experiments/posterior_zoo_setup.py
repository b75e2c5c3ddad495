"""``bayeskd posterior-zoo``: what each dataset and size runs, and the validated configuration.

:data:`SETUPS` holds every size-dependent setting per ``(dataset, size)``; the job itself is in
:mod:`bayeskd.experiments.posterior_zoo`.
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
           "rhat_max", "ess_min")
# Korattikara et al. 2015 (Bayesian dark knowledge), toy 2-D problem, KL(HMC || method).
PUBLISHED = {"source": "Korattikara et al. 2015, toy 2-D classification, KL(HMC || method)",
             "sgd": 0.246, "sgld": 0.007, "distilled_students": [0.009, 0.031]}


@dataclasses.dataclass(frozen=True)
class Setup:
    """Every size-dependent setting of one dataset (see :data:`SETUPS`)."""

    num_train: int | None
    teacher_hidden: tuple
    student_hidden: tuple
    prior_std: float
    batch_size: int
    map_steps: int
    map_lr: float
    members: int
    swag_steps: int
    swag_lr: float
    swag_batch: int
    swag_every: int
    sgld_step: float
    sgld_steps: int
    sgld_burn: int
    sgld_thin: int
    sgld_chains: int
    csgld_step: float
    csgld_cycles: int
    svi_steps: int
    nuts: tuple  # (warmup, samples, chains)
    walkers: tuple  # (walkers, warmup, samples, thinning)
    student_steps: int
    student_lr: float
    transfer: tuple  # 2-D: (copies, sigma); digits: (mixup inputs, 0)
    pred_samples: int
    grid: tuple  # (resolution, margin)
    seeds: int
    num_test: int = 500
    dropout: float = 0.1
    bdk_lr: float = 3e-3


_MOONS_QUICK = Setup(
    num_train=50, teacher_hidden=(10,), student_hidden=(20,), prior_std=1.0, batch_size=50,
    map_steps=3000, map_lr=1e-2, members=10, swag_steps=2000, swag_lr=0.05, swag_batch=10,
    swag_every=10, sgld_step=1e-3, sgld_steps=20000, sgld_burn=5000, sgld_thin=100, sgld_chains=4,
    csgld_step=3e-3, csgld_cycles=4, svi_steps=5000, nuts=(400, 400, 4), walkers=(128, 2000, 100, 10),
    student_steps=5000, student_lr=1e-2, transfer=(100, 0.5), pred_samples=50, grid=(50, 1.0),
    seeds=1)
_DIGITS_QUICK = Setup(
    num_train=None, teacher_hidden=(100, 100), student_hidden=(100,), prior_std=1.0, batch_size=100,
    map_steps=3000, map_lr=1e-3, members=5, swag_steps=2000, swag_lr=0.05, swag_batch=100,
    swag_every=20, sgld_step=1e-5, sgld_steps=4000, sgld_burn=1000, sgld_thin=100, sgld_chains=2,
    csgld_step=3e-5, csgld_cycles=2, svi_steps=3000, nuts=(0, 0, 0), walkers=(0, 0, 0, 1),
    student_steps=3000, student_lr=1e-3, transfer=(10000, 0), pred_samples=30, grid=(0, 0.0),
    seeds=1, num_test=450)


def _smoke(s: Setup) -> Setup:
    return dataclasses.replace(
        s, num_train=min(s.num_train or 300, 300), map_steps=200, members=3, swag_steps=100,
        swag_every=5, sgld_steps=400, sgld_burn=100, sgld_thin=50, sgld_chains=2, svi_steps=200,
        nuts=(60, 40, 2), walkers=(64, 100, 8, 1), student_steps=200, pred_samples=8,
        grid=(20, 1.0) if s.grid[0] else s.grid, num_test=100,
        transfer=(5, s.transfer[1]) if s.grid[0] else (300, 0))


def _full(s: Setup) -> Setup:
    return dataclasses.replace(
        s, map_steps=2 * s.map_steps, sgld_steps=2 * s.sgld_steps, sgld_burn=2 * s.sgld_burn,
        nuts=(1000, 1000, 4) if s.nuts[2] else s.nuts, student_steps=2 * s.student_steps, seeds=3)


_GMM_QUICK = dataclasses.replace(_MOONS_QUICK, num_train=100, batch_size=100)
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
    s = cfg.setup
    if cfg.dataset == "moons":
        ds = load_moons(num_train=s.num_train, num_test=s.num_test, seed=cfg.seed)
    elif cfg.dataset == "gmm":
        ds = load_gmm(num_train=s.num_train, num_test=s.num_test, dim=2, seed=cfg.seed)
    else:
        ds = load_digits(flatten=True).take(num_train=s.num_train, num_test=s.num_test)
    if cfg.two_d:
        copies, sigma = s.transfer
        x_tr = np.concatenate([ds.x_train, noised(ds.x_train, sigma=sigma, seed=cfg.seed + 7,
                                                  copies=copies)])
    else:
        x_tr = np.concatenate([ds.x_train, mixup_inputs(ds.x_train, num=s.transfer[0], alpha=1.0,
                                                        seed=cfg.seed + 7)])
    return ds, x_tr

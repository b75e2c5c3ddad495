r"""The zoo's settings: every size-dependent setting of one dataset in a :class:`Setup` of named
sections, one per method (defaults: two moons, quick); :data:`SETUPS` holds the quick setup of
each dataset, :func:`smoke` and :func:`full` derive the other sizes, :func:`load_data` the data.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from bayeskd.data import grid_2d, load_digits, load_gmm, load_moons, mixup_inputs, noised

DATASETS = ("moons", "gmm", "digits")
PLANE_DATASETS = ("moons", "gmm")  # 2-D inputs
METHODS = ("map", "ensemble", "swag", "swag_diag", "mc_dropout", "laplace", "sgld", "csgld", "svi",
           "aies", "ess", "bdk")
REFERENCE_ONLY = ("aies", "ess")  # gradient-free samplers: only with a reference (small networks)


def _section(default: Any) -> Any:
    """A nested settings section (the convention of :func:`bayeskd.experiments.config.section`:
    ``--set section.field=VALUE`` reaches its fields)."""
    return dataclasses.field(default_factory=lambda: default, metadata={"section": True})


@dataclasses.dataclass(frozen=True)
class MAPSettings:
    """Adam on the full posterior objective: the MAP network and each ensemble member."""

    steps: int = 3000
    learning_rate: float = 1e-2
    batch_size: int = 50
    members: int = 10  # deep-ensemble size; the SGLD chains start at its first members


@dataclasses.dataclass(frozen=True)
class SWAGSettings:
    """Constant-learning-rate SGD from the MAP, one snapshot every ``collect_every`` steps."""

    steps: int = 2000
    learning_rate: float = 0.05
    batch_size: int = 10
    collect_every: int = 10


@dataclasses.dataclass(frozen=True)
class SGLDSettings:
    """SGLD chains from the ensemble's first ``chains`` members (cyclical: ``cycles > 0``)."""

    step_size: float = 1e-3
    steps: int = 20000
    burn_in: int = 5000
    thin: int = 100
    chains: int = 4
    cycles: int = 0


@dataclasses.dataclass(frozen=True)
class NUTSSettings:
    """The NUTS reference (only where :attr:`Setup.reference`)."""

    warmup: int = 400
    samples: int = 400
    chains: int = 4


@dataclasses.dataclass(frozen=True)
class EnsembleSamplerSettings:
    """AIES and ESS; ``walkers`` is raised to twice the dimension if lower."""

    walkers: int = 128
    warmup: int = 2000
    samples: int = 100
    thinning: int = 10


@dataclasses.dataclass(frozen=True)
class StudentSettings:
    """The student every teacher is distilled into, and Bayesian dark knowledge's student."""

    hidden: tuple[int, ...] = (20,)
    steps: int = 5000
    learning_rate: float = 1e-2
    bdk_learning_rate: float = 3e-3


@dataclasses.dataclass(frozen=True)
class TransferSettings:
    """Transfer inputs: the training inputs plus ``copies`` noisy copies (2-D inputs) or
    ``mixup`` mixup inputs (digits)."""

    copies: int = 100
    sigma: float = 0.5
    mixup: int = 0


@dataclasses.dataclass(frozen=True)
class Setup:
    """Every size-dependent setting of one dataset (defaults: two moons, quick).

    ``reference``: fit the NUTS reference and the gradient-free samplers (small networks only);
    ``num_train`` ``None``: the whole training split."""

    num_train: int | None = 50
    num_test: int = 500
    teacher_hidden: tuple[int, ...] = (10,)
    prior_std: float = 1.0
    svi_steps: int = 5000
    reference: bool = True
    pred_samples: int = 50
    grid_resolution: int = 50
    grid_margin: float = 1.0
    dropout: float = 0.1
    map: MAPSettings = _section(MAPSettings())
    swag: SWAGSettings = _section(SWAGSettings())
    sgld: SGLDSettings = _section(SGLDSettings())
    csgld: SGLDSettings = _section(SGLDSettings(step_size=3e-3, burn_in=0, cycles=4))
    nuts: NUTSSettings = _section(NUTSSettings())
    walkers: EnsembleSamplerSettings = _section(EnsembleSamplerSettings())
    student: StudentSettings = _section(StudentSettings())
    transfer: TransferSettings = _section(TransferSettings())

    def __post_init__(self):
        for name in ("sgld", "csgld"):
            if getattr(self, name).chains > self.map.members:
                raise ValueError(f"{name}.chains: at most the {self.map.members} ensemble members "
                                 f"the chains start from, got {getattr(self, name).chains}")


_R = dataclasses.replace
# SWAG (Maddox et al. 2019): the SWA learning rate is of the order of plain SGD's and the moments
# are collected over many epochs (100 snapshots: about 15 epochs on moons, 150 on digits).
SETUPS = {
    "moons": Setup(),
    "gmm": Setup(num_train=100, map=MAPSettings(batch_size=100)),
    "digits": Setup(
        num_train=None, num_test=450, teacher_hidden=(100, 100), svi_steps=3000, reference=False,
        pred_samples=30, map=MAPSettings(learning_rate=1e-3, batch_size=100, members=5),
        swag=SWAGSettings(batch_size=100, collect_every=20),
        sgld=SGLDSettings(step_size=1e-5, steps=4000, burn_in=1000, chains=2),
        csgld=SGLDSettings(step_size=3e-5, steps=4000, burn_in=0, chains=2, cycles=2),
        student=StudentSettings(hidden=(100,), steps=3000, learning_rate=1e-3),
        transfer=TransferSettings(copies=0, sigma=0.0, mixup=10000)),
}


def smoke(s: Setup) -> Setup:
    """The smoke size of a quick setup (seconds: the tests)."""
    sampler = dict(steps=400, thin=50, chains=2)
    return _R(s, num_train=min(s.num_train or 300, 300), num_test=100, svi_steps=200,
              map=_R(s.map, steps=200, members=3), swag=_R(s.swag, steps=100, collect_every=5),
              sgld=_R(s.sgld, burn_in=100, **sampler), csgld=_R(s.csgld, **sampler),
              nuts=NUTSSettings(warmup=60, samples=40, chains=2),
              walkers=EnsembleSamplerSettings(walkers=64, warmup=100, samples=8, thinning=1),
              student=_R(s.student, steps=200), pred_samples=8, grid_resolution=20,
              transfer=_R(s.transfer, copies=5) if s.reference else
              TransferSettings(copies=0, sigma=0.0, mixup=300))


def full(s: Setup) -> Setup:
    """The full size of a quick setup (twice the steps, a longer NUTS reference)."""
    return _R(s, map=_R(s.map, steps=2 * s.map.steps),
              sgld=_R(s.sgld, steps=2 * s.sgld.steps, burn_in=2 * s.sgld.burn_in),
              csgld=_R(s.csgld, steps=2 * s.csgld.steps),
              nuts=NUTSSettings(warmup=1000, samples=1000, chains=4),
              student=_R(s.student, steps=2 * s.student.steps))


def load_data(dataset: str, s: Setup, *, seed: int):
    """``(dataset, transfer inputs)``: the training inputs plus noisy copies (2-D inputs;
    Korattikara et al. 2015 perturb training inputs the same way) or plus mixup inputs
    (digits)."""
    if dataset == "moons":
        ds = load_moons(num_train=s.num_train, num_test=s.num_test, seed=seed)
    elif dataset == "gmm":
        ds = load_gmm(num_train=s.num_train, num_test=s.num_test, dim=2, seed=seed)
    else:
        ds = load_digits(flatten=True).take(num_train=s.num_train, num_test=s.num_test)
    t = s.transfer
    extra = (noised(ds.x_train, sigma=t.sigma, seed=seed + 7, copies=t.copies)
             if dataset in PLANE_DATASETS else
             mixup_inputs(ds.x_train, num=t.mixup, alpha=1.0, seed=seed + 7))
    return ds, np.concatenate([ds.x_train, extra])


def setup_section(dataset: str) -> Any:
    """A configuration section holding ``dataset``'s quick :class:`Setup` (for a config with one
    section per dataset)."""
    return _section(SETUPS[dataset])


def plane(ds, s: Setup) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The grid over the plane of 2-D inputs, ``(points [R*R, 2], xx, yy)``
    (:func:`bayeskd.data.grid_2d` with the setup's resolution and margin); ``None`` otherwise."""
    if int(np.prod(ds.input_shape)) != 2:
        return None
    return grid_2d(ds.x_train, resolution=s.grid_resolution, margin=s.grid_margin)


#: ``(input values, classes, most training inputs)`` of each dataset, for :func:`estimate_bytes`.
SHAPES = {"moons": (2, 2, None), "gmm": (2, 3, None), "digits": (64, 10, 1797)}


def _mlp_counts(dim: int, hidden: tuple[int, ...], classes: int) -> tuple[int, int]:
    """``(parameters, forward values per example)`` of an MLP ``dim -> hidden -> classes``."""
    widths = (dim, *hidden, classes)
    return (sum(a * b + b for a, b in zip(widths, widths[1:], strict=False)),
            2 * sum(widths[1:]))


#: The settings :func:`estimate_bytes` can blame, as ``--set`` spells them (below the dataset).
KNOBS = ("num_train", "num_test", "teacher_hidden", "pred_samples", "grid_resolution",
         "transfer.copies", "transfer.mixup", "sgld.steps", "sgld.chains", "sgld.thin",
         "csgld.steps", "csgld.chains", "csgld.thin", "nuts.samples", "nuts.chains",
         "walkers.walkers", "walkers.samples", "student.hidden")


def _replaced(s: Any, path: str, value: Any) -> Any:
    head, _, rest = path.partition(".")
    return _R(s, **{head: _replaced(getattr(s, head), rest, value) if rest else value})


def _fixed_values(dataset: str, s: Setup, entries: int) -> int:
    """The fixed part of :func:`estimate_bytes`, in float32 values."""
    from bayeskd.training.memory import ACTIVATION_COPIES, PARAM_COPIES

    dim, classes, most = SHAPES[dataset]
    n_train = s.num_train if s.num_train is not None else most
    t = s.transfer
    n_transfer = n_train * (1 + t.copies) if dataset in PLANE_DATASETS else n_train + t.mixup
    p_t, _ = _mlp_counts(dim, s.teacher_hidden, classes)
    p_s, a_s = _mlp_counts(dim, s.student.hidden, classes)
    grid = s.grid_resolution ** 2 if dataset in PLANE_DATASETS else 0
    kept = sum(c.chains * max(c.steps - c.burn_in, 0) // max(c.thin, 1) for c in (s.sgld, s.csgld))
    kept += (s.nuts.chains * s.nuts.samples + s.walkers.walkers * s.walkers.samples) * s.reference
    return (2 * entries * n_transfer * classes + n_transfer * dim  # tables and inputs
            + entries * (PARAM_COPIES * p_s + ACTIVATION_COPIES * 200 * a_s)  # the students
            + 2 * s.pred_samples * max(s.num_test, grid, n_transfer) * classes  # one evaluation
            + grid * (dim + 2 * entries * classes)  # the grid and the predictives there
            + kept * p_t)  # kept parameter samples


def estimate_bytes(dataset: str, s: Setup, methods) -> tuple[Any, str]:
    r"""The zoo's peak memory for one seed, from the settings alone, and the setting that costs
    the most.

    Float32 values (4 bytes), the conventions of :mod:`bayeskd.training.memory`. Members: the
    ensemble's ``M`` networks trained together, :math:`c_P P + c_A B A` each. Fixed, with ``E``
    teacher entries (the methods plus the reference), ``N`` transfer inputs of ``D`` values,
    ``K`` classes, ``R^2`` grid points and ``S`` predictive samples:
    :math:`2ENK + ND` (the teachers' stacked tables and the inputs), :math:`E(c_P P_s + c_A 200
    A_s)` (the students' vmapped run), :math:`2SK\max(N_{test}, R^2, N)` (one evaluation's
    samples), :math:`R^2(D + 2EK)` (the grid and the predictives there) and the kept parameter
    samples of SGLD, cyclical SGLD, NUTS and the walkers.

    Returns ``(FitMemory, setting)``: ``setting`` (one of :data:`KNOBS`) is the one whose reset to
    the dataset's quick value lowers the estimate most; ``check_fits_memory`` names it.
    """
    from bayeskd.training.memory import (
        ACTIVATION_COPIES,
        BYTES_PER_VALUE,
        PARAM_COPIES,
        FitMemory,
    )

    entries = len(tuple(methods)) + bool(s.reference)
    fixed = _fixed_values(dataset, s, entries)
    quick = SETUPS[dataset]
    lowered = {}
    for k in KNOBS:
        try:
            lowered[k] = _fixed_values(dataset, _replaced(s, k, _get(quick, k)), entries)
        except ValueError:  # not valid alone (e.g. more chains than these ensemble members)
            continue
    knob = min(lowered, key=lowered.get)
    dim, classes, _ = SHAPES[dataset]
    p_t, a_t = _mlp_counts(dim, s.teacher_hidden, classes)
    per_member = PARAM_COPIES * p_t + ACTIVATION_COPIES * s.map.batch_size * a_t
    return FitMemory(fixed_bytes=BYTES_PER_VALUE * fixed, per_member_bytes=BYTES_PER_VALUE *
                     per_member, members=s.map.members), knob


def _get(s: Any, path: str) -> Any:
    for part in path.split("."):
        s = getattr(s, part)
    return s

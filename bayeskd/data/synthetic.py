"""Synthetic 2-D and Gaussian-mixture problems; the mixture has an exact Bayes posterior.

For a Gaussian class-conditional model with priors :math:`\\pi_k`,

.. math::

   p^*(y = k \\mid x) = \\frac{\\pi_k \\, \\mathcal{N}(x; \\mu_k, \\Sigma_k)}
                            {\\sum_j \\pi_j \\, \\mathcal{N}(x; \\mu_j, \\Sigma_j)},

computed from log-densities with a log-sum-exp, so it stays exact far from the data. This is the
ideal "teacher" that distillation tries to approximate.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from bayeskd.data.dataset import Dataset

__all__ = [
    "GaussianMixture",
    "make_gmm_problem",
    "load_gmm",
    "load_moons",
    "load_spirals",
    "spirals",
    "grid_2d",
    "annulus",
    "gmm_toy",
]

SeedLike = int | np.random.SeedSequence | np.random.Generator


def _seeds(seed: int, n: int) -> list[np.random.SeedSequence]:
    """``n`` independent child seeds of ``seed`` (problem, train, test, transfer, ...)."""
    return np.random.SeedSequence(seed).spawn(n)


@dataclasses.dataclass(frozen=True, eq=False)
class GaussianMixture:
    """Class-conditional Gaussians ``x | y=k ~ N(means[k], covariances[k])``, ``y ~ priors``.

    Attributes:
      means: ``float64 [K, D]``.
      covariances: ``float64 [K, D, D]``, symmetric positive definite.
      priors: ``float64 [K]``, positive, summing to 1.

    Example (1-D, two classes, equal variance: the posterior is a logistic function):
      >>> gm = GaussianMixture(means=[[-1.0], [1.0]], covariances=[[[1.0]], [[1.0]]],
      ...                      priors=[0.5, 0.5])
      >>> gm.bayes_probs(np.array([[0.0], [1.0]])).round(4)
      array([[0.5   , 0.5   ],
             [0.1192, 0.8808]])
    """

    means: np.ndarray
    covariances: np.ndarray
    priors: np.ndarray

    def __post_init__(self):
        means = np.asarray(self.means, dtype=np.float64)
        covs = np.asarray(self.covariances, dtype=np.float64)
        priors = np.asarray(self.priors, dtype=np.float64)
        if means.ndim != 2 or means.shape[0] < 2:
            raise ValueError(f"means: must have shape [K>=2, D], got {means.shape}")
        k, d = means.shape
        if covs.shape != (k, d, d):
            raise ValueError(f"covariances: must have shape {(k, d, d)}, got {covs.shape}")
        if not np.allclose(covs, np.swapaxes(covs, 1, 2)):
            raise ValueError("covariances: must be symmetric")
        try:
            chol = np.linalg.cholesky(covs)
        except np.linalg.LinAlgError as e:
            raise ValueError("covariances: must be positive definite") from e
        if priors.shape != (k,) or priors.min() <= 0 or abs(priors.sum() - 1) > 1e-9:
            raise ValueError(f"priors: must be {k} positive numbers summing to 1, got {priors}")
        object.__setattr__(self, "means", means)
        object.__setattr__(self, "covariances", covs)
        object.__setattr__(self, "priors", priors)
        object.__setattr__(self, "_chol", chol)

    @property
    def num_classes(self) -> int:
        return self.means.shape[0]

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def sample(self, n: int, *, seed: SeedLike) -> tuple[np.ndarray, np.ndarray]:
        """Draws ``n`` labelled points: ``x: float64 [n, D]``, ``y: int32 [n]``."""
        rng = np.random.default_rng(seed)
        y = rng.choice(self.num_classes, size=n, p=self.priors).astype(np.int32)
        z_ND = rng.standard_normal((n, self.dim))
        x_ND = self.means[y] + np.einsum("nij,nj->ni", self._chol[y], z_ND)
        return x_ND, y

    def log_joint(self, x) -> np.ndarray:
        """``log pi_k + log N(x; mu_k, Sigma_k)`` for every class: ``[N, D] -> float64 [N, K]``."""
        x_ND = np.asarray(x, dtype=np.float64)
        if x_ND.ndim != 2 or x_ND.shape[1] != self.dim:
            raise ValueError(f"x: must have shape [N, {self.dim}], got {x_ND.shape}")
        diff_KND = x_ND[None] - self.means[:, None]
        # Solve L_k w = (x - mu_k): the Mahalanobis term is |w|^2.
        w_KND = np.stack(
            [np.linalg.solve(self._chol[k], diff_KND[k].T).T for k in range(self.num_classes)]
        )
        maha_KN = np.sum(w_KND**2, axis=-1)
        logdet_K = 2.0 * np.sum(np.log(np.diagonal(self._chol, axis1=1, axis2=2)), axis=-1)
        log_norm_K = -0.5 * (self.dim * np.log(2 * np.pi) + logdet_K)
        return (np.log(self.priors)[:, None] + log_norm_K[:, None] - 0.5 * maha_KN).T

    def bayes_probs(self, x) -> np.ndarray:
        """The exact posterior ``p*(y|x)``: ``[N, D] -> float64 [N, K]``, rows sum to 1."""
        from scipy.special import logsumexp  # SciPy loads when a posterior is first asked for

        log_joint_NK = self.log_joint(x)
        return np.exp(log_joint_NK - logsumexp(log_joint_NK, axis=1, keepdims=True))


def _random_spd(rng: np.random.Generator, dim: int, lo: float, hi: float) -> np.ndarray:
    """A random rotation of a diagonal matrix with eigenvalues uniform in ``[lo, hi]``."""
    q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
    q = q * np.sign(np.diag(r))
    return (q * rng.uniform(lo, hi, size=dim)) @ q.T


def make_gmm_problem(
    *,
    dim: int = 2,
    num_classes: int = 3,
    separation: float = 2.0,
    shared_covariance: bool = False,
    seed: SeedLike = 0,
) -> GaussianMixture:
    """A random Gaussian-mixture classification problem with uniform class priors.

    Class means are drawn i.i.d. from ``N(0, separation^2 I_D)``; covariances are random
    rotations of diagonals with eigenvalues uniform in ``[0.25, 1]`` (one shared matrix if
    ``shared_covariance``, giving linear Bayes boundaries). Larger ``separation`` means a lower
    Bayes error.
    """
    if dim < 1:
        raise ValueError(f"dim: must be >= 1, got {dim}")
    if num_classes < 2:
        raise ValueError(f"num_classes: must be >= 2, got {num_classes}")
    rng = np.random.default_rng(seed)
    means = separation * rng.standard_normal((num_classes, dim))
    if shared_covariance:
        covs = np.broadcast_to(_random_spd(rng, dim, 0.25, 1.0), (num_classes, dim, dim))
    else:
        covs = np.stack([_random_spd(rng, dim, 0.25, 1.0) for _ in range(num_classes)])
    return GaussianMixture(means, covs, np.full(num_classes, 1.0 / num_classes))


def load_gmm(
    *,
    num_train: int = 1000,
    num_test: int = 1000,
    dim: int = 2,
    num_classes: int = 3,
    separation: float = 2.0,
    shared_covariance: bool = False,
    transfer_size: int = 0,
    seed: int = 0,
) -> Dataset:
    """Samples a :func:`make_gmm_problem` problem, with the exact posterior on the test inputs.

    Inputs are not rescaled (the posterior refers to the raw inputs). ``meta["problem"]`` holds
    the :class:`GaussianMixture`, so ``bayes_probs`` can be evaluated anywhere (grids, transfer
    inputs). ``bayes_probs_test`` is computed on the stored ``float32`` test inputs.
    """
    s_problem, s_train, s_test, s_transfer = _seeds(seed, 4)
    problem = make_gmm_problem(
        dim=dim,
        num_classes=num_classes,
        separation=separation,
        shared_covariance=shared_covariance,
        seed=s_problem,
    )
    x_train, y_train = problem.sample(num_train, seed=s_train)
    x_test, y_test = problem.sample(num_test, seed=s_test)
    x_test = x_test.astype(np.float32)
    x_transfer = problem.sample(transfer_size, seed=s_transfer)[0] if transfer_size else None
    return Dataset(
        name="gmm",
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        num_classes=num_classes,
        x_transfer=x_transfer,
        bayes_probs_test=problem.bayes_probs(x_test),
        meta={"problem": problem, "seed": seed, "separation": separation},
    )


def _moons(n: int, noise: float, seed) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_moons

    rng = np.random.default_rng(seed)
    return make_moons(n, noise=noise, random_state=int(rng.integers(2**31 - 1)))


def load_moons(
    *,
    num_train: int = 500,
    num_test: int = 500,
    noise: float = 0.2,
    transfer_size: int = 0,
    seed: int = 0,
) -> Dataset:
    """sklearn's two interleaving half-moons, ``x: float32 [N, 2]``, 2 classes."""
    s_train, s_test, s_transfer = _seeds(seed, 3)
    x_train, y_train = _moons(num_train, noise, s_train)
    x_test, y_test = _moons(num_test, noise, s_test)
    x_transfer = _moons(transfer_size, noise, s_transfer)[0] if transfer_size else None
    return Dataset(
        name="moons",
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        num_classes=2,
        x_transfer=x_transfer,
        meta={"noise": noise, "seed": seed},
    )


def spirals(
    n: int, *, num_classes: int = 2, noise: float = 0.05, turns: float = 1.5, seed: SeedLike
) -> tuple[np.ndarray, np.ndarray]:
    """Interleaved spiral arms, one per class: ``x: float64 [n, 2]`` (radius <= 1), ``y: int32 [n]``.

    Class ``k``'s arm is ``r (cos a, sin a)`` with ``r ~ U(0.05, 1)`` and
    ``a = 2 pi (turns * r + k / num_classes)``, plus isotropic Gaussian noise of std ``noise``.
    Classes are balanced (counts differ by at most one) and the order is shuffled.
    """
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % num_classes).astype(np.int32)
    r = rng.uniform(0.05, 1.0, size=n)
    angle = 2 * np.pi * (turns * r + y / num_classes)
    x = r[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return x + noise * rng.standard_normal((n, 2)), y


def load_spirals(
    *,
    num_train: int = 500,
    num_test: int = 500,
    num_classes: int = 2,
    noise: float = 0.05,
    transfer_size: int = 0,
    seed: int = 0,
) -> Dataset:
    """Interleaved spirals (see :func:`spirals`), ``x: float32 [N, 2]``."""
    s_train, s_test, s_transfer = _seeds(seed, 3)
    kw = {"num_classes": num_classes, "noise": noise}
    x_train, y_train = spirals(num_train, seed=s_train, **kw)
    x_test, y_test = spirals(num_test, seed=s_test, **kw)
    x_transfer = spirals(transfer_size, seed=s_transfer, **kw)[0] if transfer_size else None
    return Dataset(
        name="spirals",
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        num_classes=num_classes,
        x_transfer=x_transfer,
        meta={"noise": noise, "seed": seed},
    )


def grid_2d(
    x, *, resolution: int = 100, margin: float = 0.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A regular grid covering 2-D inputs, for decision-boundary plots.

    Args:
      x: ``[N, 2]`` inputs whose bounding box (plus ``margin`` on every side) is covered.
      resolution: points per axis ``R``.
      margin: padding added around the bounding box, in input units.

    Returns:
      ``points: float32 [R*R, 2]``, and ``xx, yy: float32 [R, R]`` from ``np.meshgrid`` such that
      ``points == stack([xx.ravel(), yy.ravel()], 1)``; reshape predictions with
      ``preds.reshape(xx.shape)`` for ``plt.contourf(xx, yy, ...)``.

    Example:
      >>> points, xx, yy = grid_2d(np.array([[0.0, 0.0], [1.0, 2.0]]), resolution=3, margin=0)
      >>> points.shape, xx[0], yy[:, 0]
      ((9, 2), array([0. , 0.5, 1. ], dtype=float32), array([0., 1., 2.], dtype=float32))
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"x: must have shape [N, 2], got {x.shape}")
    lo, hi = x.min(axis=0) - margin, x.max(axis=0) + margin
    xx, yy = np.meshgrid(
        np.linspace(lo[0], hi[0], resolution, dtype=np.float32),
        np.linspace(lo[1], hi[1], resolution, dtype=np.float32),
    )
    return np.stack([xx.ravel(), yy.ravel()], axis=1), xx, yy


def annulus(n: int, *, inner: float, outer: float, seed: SeedLike) -> np.ndarray:
    r"""``n`` points uniform in area on the ring :math:`\text{inner} \le \|x\| \le \text{outer}`,
    ``float32 [n, 2]``: inputs away from data that lie inside the inner radius (a 2-D
    out-of-distribution set).

    Uniform in area means :math:`r^2 \sim U(\text{inner}^2, \text{outer}^2)` and the angle
    :math:`a \sim U(0, 2\pi)`, so :math:`P(\|x\| \le \rho) = (\rho^2 - \text{inner}^2) /
    (\text{outer}^2 - \text{inner}^2)`.

    Example:
      >>> x = annulus(5, inner=1.0, outer=1.0, seed=0)  # a degenerate ring: the unit circle
      >>> x.shape, np.allclose(np.linalg.norm(x, axis=1), 1.0)
      ((5, 2), True)
    """
    if not 0 <= inner <= outer:
        raise ValueError(f"inner, outer: need 0 <= inner <= outer, got {inner!r}, {outer!r}")
    rng = np.random.default_rng(seed)
    r = np.sqrt(rng.uniform(inner**2, outer**2, n))
    a = rng.uniform(0, 2 * np.pi, n)
    return np.stack([r * np.cos(a), r * np.sin(a)], 1).astype(np.float32)


def gmm_toy(per_class: int = 10, *, separation: float = 1.5, pool: int = 200,
            seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """A tiny 2-class 2-D Gaussian-mixture training set (the toy of Korattikara et al. 2015,
    §4.1: 10 points per class): the first ``per_class`` points of each class among ``pool``
    draws of :func:`make_gmm_problem` (``dim=2, num_classes=2``), class 0 first.

    Returns:
      ``x: float32 [2 * per_class, 2]``, ``y: int32 [2 * per_class]``.
    """
    problem = make_gmm_problem(dim=2, num_classes=2, separation=separation, seed=seed)
    x, y = problem.sample(pool, seed=seed)
    idx = np.concatenate([np.flatnonzero(y == c)[:per_class] for c in (0, 1)])
    if len(idx) < 2 * per_class:
        raise ValueError(f"per_class: {pool} draws hold fewer than {per_class} points of a class")
    return x[idx].astype(np.float32), y[idx].astype(np.int32)

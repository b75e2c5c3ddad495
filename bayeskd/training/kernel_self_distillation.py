r"""Kernel self-distillation in closed form (Mobahi, Farajtabar & Bartlett 2020, §3–4).

Each round solves, over the RKHS of a kernel with Gram matrix :math:`G = U \operatorname{diag}(d)
U^\top` on the :math:`K` training inputs,

.. math::
    \min_f \|f\|_{\mathcal H} \quad\text{s.t.}\quad
    \frac1K \sum_k \big(f(x_k) - y^{(t-1)}_k\big)^2 \le \epsilon ,

whose solution is :math:`f_t(x) = k(x, X)\,\alpha_t` with :math:`\alpha_t = (c_t I + G)^{-1}
y^{(t-1)}` and fitted values :math:`y^{(t)} = G \alpha_t`, the next round's targets. The
multiplier :math:`c_t > 0` is the root of :math:`\|c_t (c_t I + D)^{-1} z\|^2 = K\epsilon` with
:math:`z = U^\top y^{(t-1)}` (:func:`constraint_multiplier`). Eigendirection :math:`k` is shrunk
by :math:`d_k / (d_k + c_t)` in round :math:`t`; once :math:`\|y^{(t)}\|^2 \le K\epsilon` the zero
function is feasible and the solution collapses (:math:`c = \infty`, :math:`\alpha = 0`).

Every round moves the fit by exactly :math:`\sqrt{K\epsilon}`, so :math:`\|y^{(t)}\| \ge \|y_0\|
- t\sqrt{K\epsilon}` and collapse cannot come before round :math:`r_0 - 1`, :math:`r_0 =
\|y_0\| / \sqrt{K\epsilon}` (the paper's bound, weakened by the condition number
:math:`\kappa = d_{\max}/d_{\min}`, is :math:`(r_0 - 1)/\kappa`).

The solver is NumPy in float64: an eigendecomposition of an ill-conditioned Gram matrix and a
bisection, run once per figure, outside any compiled program.
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["KernelRounds", "constraint_multiplier", "kernel_self_distillation", "rbf_kernel",
           "sine_self_distillation"]


def rbf_kernel(a: np.ndarray, b: np.ndarray, *, length_scale: float) -> np.ndarray:
    r"""The RBF kernel matrix ``[N, M]`` of 1-D inputs ``a [N]`` and ``b [M]``,
    :math:`k(a_i, b_j) = \exp(-(a_i - b_j)^2 / (2\ell^2))`.

    >>> rbf_kernel(np.array([0.0, 1.0]), np.array([0.0]), length_scale=1.0).round(4).tolist()
    [[1.0], [0.6065]]
    """
    return np.exp(-((a[:, None] - b[None, :]) ** 2) / (2 * length_scale**2))


def constraint_multiplier(z: np.ndarray, d: np.ndarray, *, target: float) -> float:
    r"""The root :math:`c > 0` of :math:`\sum_k (c z_k / (c + d_k))^2 = \text{target}`.

    The left side increases in :math:`c` from 0 to :math:`\|z\|^2`; ``inf`` when
    :math:`\|z\|^2 \le` target (the zero function is feasible). Bisection on :math:`\log c` over
    :math:`[e^{-80}, e^{40}]`.

    Args:
      z: the targets in the eigenbasis, ``[K]``.
      d: the Gram matrix's eigenvalues, ``[K]`` (positive).
      target: :math:`K\epsilon`.

    >>> round(constraint_multiplier(np.array([2.0]), np.array([1.0]), target=1.0), 6)
    1.0
    """
    if float(z @ z) <= target:
        return float("inf")
    lo, hi = -80.0, 40.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        c = np.exp(mid)
        val = float(np.sum((c * z / (c + d)) ** 2))
        lo, hi = (mid, hi) if val < target else (lo, mid)
    return float(np.exp(0.5 * (lo + hi)))


@dataclasses.dataclass(frozen=True)
class KernelRounds:
    """The rounds of :func:`kernel_self_distillation` (``R`` rounds, ``K`` inputs).

    Attributes:
      alpha: ``[R, K]`` dual coefficients; round ``t``'s function is ``k(x, X) @ alpha[t]``.
      fits: ``[R, K]`` fitted values on the training inputs (round ``t + 1``'s targets).
      c: ``[R]`` the multipliers (``inf`` once collapsed).
      shrinkage: ``[R, K]`` cumulative factor :math:`\\prod_{s \\le t} d_k/(d_k + c_s)`, largest
        eigenvalue first.
      eigenvalues: ``[K]`` of the Gram matrix, largest first.
      collapse_round: the first round whose solution is zero (``R`` if none).
      r0: :math:`\\|y_0\\| / \\sqrt{K\\epsilon}`.
      kappa: the Gram matrix's condition number.
    """

    alpha: np.ndarray
    fits: np.ndarray
    c: np.ndarray
    shrinkage: np.ndarray
    eigenvalues: np.ndarray
    collapse_round: int
    r0: float
    kappa: float


def kernel_self_distillation(gram: np.ndarray, y0: np.ndarray, *, epsilon: float,
                             rounds: int) -> KernelRounds:
    r"""``rounds`` rounds of kernel self-distillation from targets ``y0 [K]`` with Gram matrix
    ``gram [K, K]`` and tolerance ``epsilon`` (mean squared residual per round), exactly.

    Eigenvalues below ``1e-12`` (round-off can make them slightly negative) are raised to it.
    """
    k = len(y0)
    d, U = np.linalg.eigh(gram)  # ascending
    d = np.maximum(d, 1e-12)
    target = k * epsilon
    y = np.asarray(y0, np.float64).copy()
    alphas, fits, cs, shrink = [], [], [], []
    cumulative = np.ones(k)
    collapse = rounds
    for t in range(rounds):
        z = U.T @ y
        c = constraint_multiplier(z, d, target=target)
        if np.isfinite(c):
            alpha, factor = U @ (z / (c + d)), d / (d + c)
        else:
            collapse = min(collapse, t)
            alpha, factor = np.zeros(k), np.zeros(k)
        cumulative = cumulative * factor
        y = U @ (d * (U.T @ alpha))
        alphas.append(alpha)
        fits.append(y)
        cs.append(c)
        shrink.append(cumulative[::-1].copy())
    return KernelRounds(np.array(alphas), np.array(fits), np.array(cs), np.array(shrink),
                        d[::-1].copy(), collapse, float(np.linalg.norm(y0) / np.sqrt(target)),
                        float(d.max() / d.min()))


def sine_self_distillation(points: int, rounds: int, *, noise: float, length_scale: float,
                           epsilon: float, seed: int, grid_points: int = 400) -> dict:
    r"""Mobahi et al.'s toy problem: :func:`kernel_self_distillation` with an RBF kernel on
    ``points`` inputs uniform on [0, 1] (sorted), :math:`y = \sin(2\pi x) + \text{noise}
    \cdot \mathcal N(0, 1)` (the draw is ``seed``), scored against the noise-free function on a
    ``grid_points`` grid.

    Returns the data (``x``, ``y0``, ``grid``), the fits on the grid ``fits [R, G]``, the
    shrinkage of the 12 largest eigendirections ``[R, 12]``, the per-round ``test_mse``, and the
    scalars ``collapse_round``, ``best_round`` (lowest test MSE), ``r0_minus_1``, ``kappa``,
    ``kappa_bound`` (:math:`(r_0 - 1)/\kappa`) and ``mse_first``, ``mse_best``, ``mse_last``.
    """
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(0, 1, points))
    y0 = np.sin(2 * np.pi * x) + noise * rng.standard_normal(points)
    grid = np.linspace(0, 1, grid_points)
    out = kernel_self_distillation(rbf_kernel(x, x, length_scale=length_scale), y0,
                                   epsilon=epsilon, rounds=rounds)
    fits = out.alpha @ rbf_kernel(grid, x, length_scale=length_scale).T
    mse = np.mean((fits - np.sin(2 * np.pi * grid)) ** 2, axis=1)
    return {"x": x, "y0": y0, "grid": grid, "fits": fits, "shrinkage": out.shrinkage[:, :12],
            "test_mse": [float(e) for e in mse], "collapse_round": out.collapse_round,
            "best_round": int(np.argmin(mse)), "r0_minus_1": out.r0 - 1, "kappa": out.kappa,
            "kappa_bound": (out.r0 - 1) / out.kappa, "mse_first": float(mse[0]),
            "mse_best": float(mse.min()), "mse_last": float(mse[-1])}

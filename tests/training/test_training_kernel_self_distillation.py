"""Kernel self-distillation against closed forms: the multiplier of a scaled identity, each round
as a linear solve, the constraint met with equality, the collapse and its lower bound."""

import numpy as np
import pytest

from bayeskd.training.kernel_self_distillation import (
    constraint_multiplier,
    kernel_self_distillation,
    rbf_kernel,
)


def test_multiplier_of_equal_eigenvalues_is_closed_form():
    # d_k = d for all k: ||c z / (c + d)|| = s  <=>  c = d s / (||z|| - s)
    rng = np.random.default_rng(0)
    z, d, s = rng.normal(size=7), 0.3, 0.5
    c = constraint_multiplier(z, np.full(7, d), target=s**2)
    assert c == pytest.approx(d * s / (np.linalg.norm(z) - s), rel=1e-9)


def test_multiplier_is_infinite_when_zero_is_feasible():
    assert constraint_multiplier(np.array([0.3, 0.4]), np.ones(2), target=0.25) == float("inf")


def test_each_round_is_the_ridge_solution_meeting_the_constraint():
    rng = np.random.default_rng(1)
    x = np.sort(rng.uniform(0, 1, 20))
    y0 = np.sin(2 * np.pi * x) + 0.3 * rng.normal(size=20)
    gram, eps = rbf_kernel(x, x, length_scale=0.05), 0.02
    out = kernel_self_distillation(gram, y0, epsilon=eps, rounds=3)
    y = y0
    for t in range(3):
        alpha = np.linalg.solve(out.c[t] * np.eye(20) + gram, y)  # (cI + G)^{-1} y
        np.testing.assert_allclose(out.alpha[t], alpha, rtol=1e-5, atol=1e-8)
        # the residual to the previous targets has mean square exactly epsilon
        assert np.mean((gram @ out.alpha[t] - y) ** 2) == pytest.approx(eps, rel=1e-6)
        np.testing.assert_allclose(out.fits[t], gram @ out.alpha[t], atol=1e-8)
        y = out.fits[t]
    d = out.eigenvalues
    np.testing.assert_allclose(out.shrinkage[1], d / (d + out.c[0]) * d / (d + out.c[1]))


def test_collapse_comes_no_earlier_than_r0_minus_1_and_zeroes_the_fit():
    x = np.linspace(0, 1, 15)
    out = kernel_self_distillation(rbf_kernel(x, x, length_scale=0.1), np.sin(3 * x),
                                   epsilon=0.05, rounds=40)
    assert out.collapse_round < 40 and out.collapse_round >= out.r0 - 1
    assert np.all(np.isinf(out.c[out.collapse_round:]))
    assert np.all(out.alpha[out.collapse_round:] == 0)
    assert np.all(np.isfinite(out.c[:out.collapse_round]))
    assert out.r0 == pytest.approx(np.linalg.norm(np.sin(3 * x)) / np.sqrt(15 * 0.05))

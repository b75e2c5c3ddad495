"""Exact solvers: Newton finds closed-form minimisers in float64; generalised distillation's
linear students."""

import jax
import jax.numpy as jnp
import numpy as np

from bayeskd.training.logistic import (
    generalised_distillation,
    linear_accuracy,
    newton_minimize,
)


def test_newton_finds_the_ridge_regression_solution():
    rng = np.random.default_rng(0)
    X, y, lam = rng.standard_normal((30, 4)), rng.standard_normal(30), 0.3

    def f(th, X_, y_, *, lam):
        return 0.5 * jnp.sum((X_ @ th - y_) ** 2) + 0.5 * lam * jnp.sum(th**2)

    with jax.enable_x64(True):
        got = newton_minimize(f, (jnp.asarray(X), jnp.asarray(y)), 4, lam=lam)
    want = np.linalg.solve(X.T @ X + lam * np.eye(4), X.T @ y)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_generalised_distillation_at_zero_imitation_is_the_label_student():
    from bayeskd.data.privileged import synthetic_sets

    sets = synthetic_sets(2, 2, dim=10, sizes=(100, 50, 200))
    acc = generalised_distillation(sets, [(0.0, 1.0), (0.0, 5.0), (1.0, 2.0)], steps=200)
    assert acc["teacher"].shape == (2,) and acc["val"].shape == acc["test"].shape == (2, 3)
    np.testing.assert_array_equal(acc["test"][:, 0], acc["test"][:, 1])  # T unused at λ = 0
    assert np.all(acc["teacher"] > 0.9)  # x* = x_J decides the label
    # the teacher's accuracy is its linear classifier's on the privileged test inputs
    assert linear_accuracy(np.eye(2), np.zeros(2), np.array([[1.0, 0.0], [0.0, 1.0]]),
                           np.array([0, 0])) == 0.5

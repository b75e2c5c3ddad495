"""Synthetic problems: the Gaussian-mixture posterior against closed forms; moons, spirals, grids."""

import numpy as np
import pytest
from scipy.special import expit, softmax
from scipy.stats import multivariate_normal
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from bayeskd.data import (
    GaussianMixture,
    grid_2d,
    load_gmm,
    load_moons,
    load_spirals,
    make_gmm_problem,
    spirals,
)


def test_one_dimensional_equal_variance_posterior_is_logistic():
    mu0, mu1, var, pi1 = -0.7, 1.3, 0.8, 0.3
    gm = GaussianMixture([[mu0], [mu1]], [[[var]], [[var]]], [1 - pi1, pi1])
    x = np.linspace(-30, 30, 601)[:, None]
    w = (mu1 - mu0) / var
    b = (mu0**2 - mu1**2) / (2 * var) + np.log(pi1 / (1 - pi1))
    probs = gm.bayes_probs(x)
    np.testing.assert_allclose(probs[:, 1], expit(w * x[:, 0] + b), rtol=1e-10, atol=1e-300)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=0, atol=1e-12)


def test_shared_covariance_posterior_is_softmax_of_linear_logits():
    gm = make_gmm_problem(dim=4, num_classes=5, shared_covariance=True, seed=3)
    x, _ = gm.sample(500, seed=1)
    prec = np.linalg.inv(gm.covariances[0])
    weights = gm.means @ prec  # [K, D]
    bias = -0.5 * np.einsum("kd,kd->k", weights, gm.means) + np.log(gm.priors)
    np.testing.assert_allclose(gm.bayes_probs(x), softmax(x @ weights.T + bias, axis=1), atol=1e-10)


def test_log_joint_matches_scipy_densities():
    gm = make_gmm_problem(dim=3, num_classes=4, seed=5)
    x, _ = gm.sample(50, seed=2)
    expected = np.stack(
        [
            np.log(p) + multivariate_normal(m, c).logpdf(x)
            for m, c, p in zip(gm.means, gm.covariances, gm.priors, strict=True)
        ],
        axis=1,
    )
    np.testing.assert_allclose(gm.log_joint(x), expected, rtol=1e-10)


def test_posterior_is_stable_far_from_the_data():
    gm = make_gmm_problem(dim=2, num_classes=3, seed=0)
    probs = gm.bayes_probs(np.array([[1e4, -1e4], [-1e6, 3e5], [0.0, 0.0]]))
    assert np.all(np.isfinite(probs)) and probs.min() >= 0
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-12)


def test_sampling_matches_the_model_moments():
    gm = GaussianMixture(
        means=[[0.0, 0.0], [3.0, 1.0]],
        covariances=[[[1.0, 0.5], [0.5, 2.0]], [[0.3, 0.0], [0.0, 0.2]]],
        priors=[0.25, 0.75],
    )
    x, y = gm.sample(40_000, seed=0)
    assert x.shape == (40_000, 2) and y.dtype == np.int32
    assert abs(np.mean(y == 1) - 0.75) < 0.01
    for k in range(2):
        np.testing.assert_allclose(x[y == k].mean(0), gm.means[k], atol=0.05)
        np.testing.assert_allclose(np.cov(x[y == k].T), gm.covariances[k], atol=0.06)


def test_posterior_is_calibrated_and_optimal():
    """E_x[p(k|x)] = pi_k, accuracy of argmax = E[max p], and no fitted classifier beats it."""
    gm = make_gmm_problem(dim=2, num_classes=3, separation=1.0, seed=1)
    x, y = gm.sample(20_000, seed=0)
    probs = gm.bayes_probs(x)
    np.testing.assert_allclose(probs.mean(0), gm.priors, atol=0.01)
    accuracy = np.mean(probs.argmax(1) == y)
    assert abs(accuracy - probs.max(1).mean()) < 0.01
    x_fit, y_fit = gm.sample(2000, seed=1)
    for clf in (LogisticRegression(), KNeighborsClassifier(15)):
        assert accuracy >= np.mean(clf.fit(x_fit, y_fit).predict(x) == y)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"means": [[0.0, 0.0]]}, "means"),
        ({"covariances": np.zeros((2, 2, 2))}, "covariances"),
        ({"covariances": [[[1.0, 0.5], [0.0, 1.0]]] * 2}, "covariances"),
        ({"covariances": np.ones((2, 3, 3))}, "covariances"),
        ({"priors": [0.5, 0.6]}, "priors"),
        ({"priors": [1.0, 0.0]}, "priors"),
    ],
)
def test_invalid_mixtures(kwargs, field):
    fields = {
        "means": [[0.0, 0.0], [1.0, 1.0]],
        "covariances": [np.eye(2)] * 2,
        "priors": [0.5] * 2,
    }
    with pytest.raises(ValueError, match=rf"^{field}: "):
        GaussianMixture(**{**fields, **kwargs})


def test_load_gmm_fills_the_exact_posterior():
    ds = load_gmm(num_train=100, num_test=50, dim=3, num_classes=4, transfer_size=20, seed=2)
    assert ds.name == "gmm" and ds.num_classes == 4
    assert ds.x_train.shape == (100, 3) and ds.x_test.shape == (50, 3)
    assert ds.x_transfer.shape == (20, 3)
    np.testing.assert_array_equal(ds.bayes_probs_test, ds.meta["problem"].bayes_probs(ds.x_test))
    assert not np.allclose(ds.x_train[:50], ds.x_test)
    again = load_gmm(num_train=100, num_test=50, dim=3, num_classes=4, transfer_size=20, seed=2)
    np.testing.assert_array_equal(again.x_train, ds.x_train)
    np.testing.assert_array_equal(again.x_transfer, ds.x_transfer)
    other = load_gmm(num_train=100, num_test=50, dim=3, num_classes=4, seed=3)
    assert not np.allclose(other.x_train, ds.x_train) and other.x_transfer is None


@pytest.mark.parametrize("loader", [load_moons, load_spirals])
def test_two_dimensional_loaders(loader):
    ds = loader(num_train=200, num_test=100, transfer_size=30, seed=0)
    assert ds.x_train.shape == (200, 2) and ds.x_test.shape == (100, 2)
    assert ds.x_transfer.shape == (30, 2) and ds.bayes_probs_test is None
    assert np.bincount(ds.y_train).tolist() == [100, 100]
    again = loader(num_train=200, num_test=100, transfer_size=30, seed=0)
    np.testing.assert_array_equal(again.x_train, ds.x_train)
    np.testing.assert_array_equal(again.x_transfer, ds.x_transfer)
    assert not np.allclose(loader(num_train=200, num_test=100, seed=1).x_train, ds.x_train)
    knn = KNeighborsClassifier(5).fit(ds.x_train, ds.y_train)
    assert knn.score(ds.x_test, ds.y_test) > 0.85  # the problem has learnable structure


def test_spirals_arms_and_balance():
    x, y = spirals(301, num_classes=3, noise=0.0, seed=0)
    assert x.shape == (301, 2) and sorted(np.bincount(y)) == [100, 100, 101]
    radius = np.linalg.norm(x, axis=1)
    assert radius.max() <= 1.0 and radius.min() >= 0.05 - 1e-12
    # Without noise, each point sits at angle 2 pi (turns * r + k / K) on its class's arm.
    angle = np.arctan2(x[:, 1], x[:, 0])
    expected = 2 * np.pi * (1.5 * radius + y / 3)
    np.testing.assert_allclose(np.cos(angle - expected), 1.0, atol=1e-9)
    ds = load_spirals(num_train=90, num_test=30, num_classes=3, seed=0)
    assert ds.num_classes == 3


def test_grid_2d_covers_the_inputs():
    x = np.array([[-1.0, 2.0], [3.0, 5.0], [0.0, 4.0]])
    points, xx, yy = grid_2d(x, resolution=7, margin=0.5)
    assert points.shape == (49, 2) and xx.shape == yy.shape == (7, 7)
    assert points.dtype == np.float32
    np.testing.assert_allclose(points.min(0), [-1.5, 1.5])
    np.testing.assert_allclose(points.max(0), [3.5, 5.5])
    np.testing.assert_array_equal(points, np.stack([xx.ravel(), yy.ravel()], 1))
    np.testing.assert_array_equal(points[:, 0].reshape(xx.shape), xx)
    with pytest.raises(ValueError, match="^x: "):
        grid_2d(np.zeros((3, 3)))

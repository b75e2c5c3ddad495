"""The ring of out-of-distribution inputs and the Bayesian-dark-knowledge toy."""

import numpy as np
import pytest

from bayeskd.data import annulus, gmm_toy, make_gmm_problem


def test_annulus_stays_on_the_ring_and_is_uniform_in_area():
    x = annulus(20000, inner=1.3, outer=2.0, seed=0)
    r = np.linalg.norm(x, axis=1)
    assert x.shape == (20000, 2) and x.dtype == np.float32
    assert r.min() >= 1.3 - 1e-6 and r.max() <= 2.0 + 1e-6
    # uniform in area: P(|x| <= rho) = (rho^2 - inner^2) / (outer^2 - inner^2); at the middle
    # radius that is (1.65^2 - 1.69) / (4 - 1.69) = 0.4471..., not the 0.5 of uniform radii
    want = (1.65**2 - 1.3**2) / (2.0**2 - 1.3**2)
    assert np.mean(r <= 1.65) == pytest.approx(want, abs=0.01)
    # angles uniform: each quadrant holds a quarter
    quad = np.bincount((np.arctan2(x[:, 1], x[:, 0]) // (np.pi / 2)).astype(int) + 2)
    np.testing.assert_allclose(quad / len(x), 0.25, atol=0.01)


def test_annulus_is_seeded_and_checks_its_radii():
    np.testing.assert_array_equal(annulus(5, inner=1, outer=2, seed=3),
                                  annulus(5, inner=1, outer=2, seed=3))
    np.testing.assert_allclose(np.linalg.norm(annulus(9, inner=1.5, outer=1.5, seed=0), axis=1),
                               1.5, rtol=1e-6)
    with pytest.raises(ValueError, match=r"^inner, outer: need 0 <= inner <= outer, got 2, 1"):
        annulus(5, inner=2, outer=1, seed=0)


def test_gmm_toy_is_the_first_points_of_each_class():
    x, y = gmm_toy(10, seed=1)
    assert x.shape == (20, 2) and x.dtype == np.float32 and y.dtype == np.int32
    assert y.tolist() == [0] * 10 + [1] * 10
    xs, ys = make_gmm_problem(dim=2, num_classes=2, separation=1.5, seed=1).sample(200, seed=1)
    np.testing.assert_allclose(x[:10], xs[ys == 0][:10], rtol=1e-6)
    np.testing.assert_allclose(x[10:], xs[ys == 1][:10], rtol=1e-6)
    with pytest.raises(ValueError, match=r"^per_class: 200 draws hold fewer than 150 points"):
        gmm_toy(150)

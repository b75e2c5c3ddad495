"""Transfer-set helpers: Gaussian noise and unlabelled mixup."""

import numpy as np
import pytest

from bayeskd.data import mixup_inputs, noised


def test_noised_statistics_and_layout():
    x = np.arange(12.0).reshape(4, 3)
    out = noised(x, sigma=0.5, seed=0, copies=2000)
    assert out.shape == (8000, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out.reshape(2000, 4, 3).mean(0), x, atol=0.05)
    assert abs((out - np.tile(x, (2000, 1))).std() - 0.5) < 0.01
    np.testing.assert_array_equal(noised(x, sigma=0.0, seed=1), x)


def test_noised_is_deterministic_in_its_seed():
    x = np.zeros((5, 2, 2, 1))
    np.testing.assert_array_equal(noised(x, sigma=1, seed=3), noised(x, sigma=1, seed=3))
    assert not np.array_equal(noised(x, sigma=1, seed=3), noised(x, sigma=1, seed=4))
    with pytest.raises(ValueError, match="^sigma: "):
        noised(x, sigma=-1, seed=0)
    with pytest.raises(ValueError, match="^copies: "):
        noised(x, sigma=1, seed=0, copies=0)


def test_mixup_inputs_are_convex_pair_combinations():
    x = np.eye(6)[:, None, :].repeat(2, axis=1)  # [6, 2, 6] images whose pixels identify the source
    out = mixup_inputs(x, num=500, alpha=0.3, seed=0)
    assert out.shape == (500, 2, 6) and out.dtype == np.float32
    weights = out[:, 0, :]
    assert weights.min() >= 0
    np.testing.assert_allclose(weights.sum(1), 1.0, atol=1e-6)
    assert np.all((weights > 1e-7).sum(1) <= 2)
    np.testing.assert_array_equal(out[:, 0], out[:, 1])
    # Beta(0.3, 0.3) puts most mass near 0 and 1: most mixes stay close to one real input.
    assert np.median(weights.max(1)) > 0.8
    np.testing.assert_array_equal(out, mixup_inputs(x, num=500, alpha=0.3, seed=0))


def test_mixup_input_validation():
    with pytest.raises(ValueError, match="^alpha: "):
        mixup_inputs(np.zeros((3, 2)), num=2, alpha=0.0, seed=0)
    with pytest.raises(ValueError, match="^num: "):
        mixup_inputs(np.zeros((3, 2)), num=-1, alpha=1.0, seed=0)
    with pytest.raises(ValueError, match="^x: "):
        mixup_inputs(np.zeros((0, 2)), num=2, alpha=1.0, seed=0)
    assert mixup_inputs(np.zeros((3, 2)), num=0, alpha=1.0, seed=0).shape == (0, 2)

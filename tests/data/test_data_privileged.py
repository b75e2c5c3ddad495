"""Generalised distillation's data: the setups hide what they say, the targets give the
generalised-distillation loss, the pooled views average blocks; bad shapes are refused."""

import jax
import numpy as np
import pytest

from bayeskd.data.privileged import (
    SETUPS,
    digits_views,
    downsample,
    generalised_targets,
    privileged_table,
    sample_setup,
    synthetic_sets,
)


def test_generalised_targets_give_the_generalised_distillation_loss():
    rng = np.random.default_rng(0)
    z, logits = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    y = np.array([0, 1, 2, 0, 1])
    log_s = privileged_table(z, np.zeros((5, 2)), temperature=4.0)
    np.testing.assert_allclose(np.exp(log_s), jax.nn.softmax(z / 4.0), rtol=1e-5)
    q = generalised_targets(y, log_s, imitation=0.3)
    logp = np.asarray(jax.nn.log_softmax(logits))
    want = 0.7 * -logp[np.arange(5), y] + 0.3 * -np.sum(np.exp(log_s) * logp, -1)
    np.testing.assert_allclose(-np.sum(q * logp, -1), want, rtol=1e-5)


def test_row_counts_and_temperature_are_checked():
    with pytest.raises(ValueError, match=r"^teacher_logits: .*one row per regular input \(N = 4\)"):
        privileged_table(np.zeros((3, 2)), np.zeros((4, 5)), temperature=2.0)
    with pytest.raises(ValueError, match="^temperature: must be a finite number > 0"):
        privileged_table(np.zeros((2, 2)), np.zeros((2, 1)), temperature=0.0)
    with pytest.raises(ValueError, match=r"^log_s: .*one row per regular label \(N = 3\)"):
        generalised_targets(np.array([0, 1, 0]), np.zeros((2, 2)), imitation=0.5)
    with pytest.raises(ValueError, match="^setup: one of 0..3"):
        sample_setup(4, 3, np.zeros(5), rng=np.random.default_rng(0))


def test_setups_hide_what_they_say():
    rng = np.random.default_rng(0)
    alpha = rng.standard_normal(50)
    x, xs, y = sample_setup(0, 500, alpha, rng=rng)  # clean labels: x*_1 = <alpha, x>
    np.testing.assert_allclose(xs[:, 0], (x @ alpha).astype(np.float32), rtol=1e-4, atol=1e-4)
    x, xs, y = sample_setup(2, 500, alpha, rng=rng)  # relevant features: x* = x_J
    np.testing.assert_array_equal(xs[:, :3], x[:, :3])
    assert np.all(xs[:, 3:] == 0)
    np.testing.assert_array_equal(y, (x[:, :3] @ alpha[:3] > 0).astype(np.int32))
    x, xs, y = sample_setup(1, 500, alpha, rng=rng)  # clean features: labels from x* only
    np.testing.assert_array_equal(y, (xs @ alpha > 0).astype(np.int32))
    assert np.std(x - xs) > 0.9
    x, xs, _ = sample_setup(3, 200, alpha, rng=rng)  # each x*_i is three of x_i's coordinates
    assert all(np.isin(xs[i, :3], x[i]).all() for i in range(200))


def test_synthetic_sets_are_seeded_per_setup_and_repeat():
    a, b = synthetic_sets(2, 2, sizes=(5, 4, 3)), synthetic_sets(2, 2, sizes=(5, 4, 3))
    assert [len(s[0]) for s in a[0]] == [5, 4, 3] and len(SETUPS) == 4
    np.testing.assert_array_equal(a[1][0][0], b[1][0][0])
    assert not np.array_equal(a[0][0][0], a[1][0][0])


def test_downsample_averages_blocks_and_digits_views():
    x = np.arange(16, dtype=float).reshape(1, 4, 4, 1)
    np.testing.assert_array_equal(downsample(x, 2)[0, :, :, 0], [[2.5, 4.5], [10.5, 12.5]])
    big, small = digits_views(20, (4,))
    assert big.x_train.shape[1:3] == (8, 8) and small.x_train.shape[1:3] == (2, 2)
    np.testing.assert_allclose(small.x_train, downsample(big.x_train, 4))
    np.testing.assert_array_equal(small.y_train, big.y_train)

"""Augmentations: shapes and dtypes kept, one key one view, exact answers at the edges, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayeskd.data import (
    CropFlip,
    Mixup,
    ShiftScaleNoise,
    augmented_copies,
    default_augmentation,
    make_augmentation,
    parse_augmentation,
)

CASES = [
    (ShiftScaleNoise(), (16, 40)),
    (CropFlip(), (8, 12, 12, 3)),
    (CropFlip(pad=1, flip=False), (8, 8, 8, 1)),
    (Mixup(alpha=0.4), (16, 5)),
    (Mixup(alpha=0.4), (8, 6, 6, 1)),
]


@pytest.mark.parametrize(("augment", "shape"), CASES)
def test_shape_dtype_and_one_view_per_key(augment, shape):
    x = jax.random.normal(jax.random.key(0), shape, jnp.float32)
    a = augment(jax.random.key(1), x)
    b = augment(jax.random.key(1), x)
    c = augment(jax.random.key(2), x)
    assert a.shape == x.shape and a.dtype == x.dtype
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(c))
    assert not np.array_equal(np.asarray(a), np.asarray(x))


@pytest.mark.parametrize(("augment", "shape"), CASES)
def test_jit_gives_the_eager_view(augment, shape):
    x = jax.random.normal(jax.random.key(0), shape, jnp.float32)
    np.testing.assert_allclose(np.asarray(jax.jit(augment)(jax.random.key(3), x)),
                               np.asarray(augment(jax.random.key(3), x)), rtol=1e-6, atol=1e-6)


def test_shift_alone_is_a_circular_roll_within_the_range():
    x = np.arange(3 * 10, dtype=np.float32).reshape(3, 10)
    out = np.asarray(ShiftScaleNoise(max_shift=2, scale=0.0, noise=0.0)(jax.random.key(4), x))
    for row, orig in zip(out, x, strict=True):
        shifts = [k for k in range(-2, 3) if np.array_equal(row, np.roll(orig, k))]
        assert len(shifts) == 1


def test_scale_alone_multiplies_each_signal_within_the_range():
    x = np.ones((64, 7), np.float32)
    out = np.asarray(ShiftScaleNoise(max_shift=0, scale=0.4, noise=0.0)(jax.random.key(5), x))
    factor = out[:, 0]
    np.testing.assert_allclose(out, np.repeat(factor[:, None], 7, axis=1), rtol=1e-6)
    assert factor.min() >= 0.8 and factor.max() <= 1.2 and factor.std() > 0.05


def test_noise_alone_has_the_stated_scale():
    x = np.zeros((200, 40), np.float32)
    out = np.asarray(ShiftScaleNoise(max_shift=0, scale=0.0, noise=0.13)(jax.random.key(6), x))
    assert abs(out.std() - 0.13) < 0.005 and abs(out.mean()) < 0.005


def test_crop_flip_without_padding_or_flip_is_the_identity():
    x = np.random.default_rng(0).normal(size=(4, 5, 5, 2)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(CropFlip(pad=0, flip=False)(jax.random.key(0), x)), x)


def test_crop_flip_flips_or_keeps_each_image_without_padding():
    x = np.random.default_rng(0).normal(size=(32, 4, 4, 1)).astype(np.float32)
    out = np.asarray(CropFlip(pad=0, flip=True)(jax.random.key(1), x))
    flipped = [np.array_equal(o, i[:, ::-1]) for o, i in zip(out, x, strict=True)]
    kept = [np.array_equal(o, i) for o, i in zip(out, x, strict=True)]
    assert all(f or k for f, k in zip(flipped, kept, strict=True))
    assert 0 < sum(flipped) < len(x)


def test_mixup_keeps_each_example_dominant():
    x = np.eye(12, dtype=np.float32)
    out = np.asarray(Mixup(alpha=1.0)(jax.random.key(2), x))
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-6)
    assert np.all(np.diag(out) >= 0.5 - 1e-6)
    assert np.any(np.diag(out) < 1.0)  # something was mixed in


def test_augmented_copies_rows_and_keys():
    x = np.random.default_rng(0).normal(size=(5, 40)).astype(np.float32)
    aug = ShiftScaleNoise()
    out = augmented_copies(aug, x, copies=3, key=jax.random.key(0), batch_size=2)
    assert out.shape == (15, 40) and out.dtype == np.float32
    again = augmented_copies(aug, x, copies=3, key=jax.random.key(0), batch_size=2)
    np.testing.assert_array_equal(out, again)
    first = np.asarray(aug(jax.random.fold_in(jax.random.fold_in(jax.random.key(0), 1), 0), x[:2]))
    np.testing.assert_array_equal(out[5:7], first)


def test_registry_and_defaults():
    assert make_augmentation("mixup", alpha=0.2) == Mixup(alpha=0.2)
    assert parse_augmentation("mnist1d:max_shift=3,noise=0") == ShiftScaleNoise(max_shift=3,
                                                                                  noise=0)
    assert parse_augmentation("crop_flip:pad=2,flip=false") == CropFlip(pad=2, flip=False)
    assert default_augmentation("mnist1d", (40,)) == ShiftScaleNoise()
    assert default_augmentation("cifar10", (32, 32, 3)) == CropFlip(pad=4, flip=True)
    assert default_augmentation("mnist", (28, 28, 1)) == CropFlip(pad=4, flip=False)
    assert default_augmentation("gmm", (2,)) == Mixup()
    assert hash(ShiftScaleNoise()) == hash(ShiftScaleNoise())


@pytest.mark.parametrize(("spec", "match"), [
    ("rotate", "augment: unknown 'rotate'"),
    ("mnist1d:max_shift=-1", "max_shift: must be an integer >= 0, got -1"),
    ("mnist1d:max_shift=1.5", "max_shift: must be an integer >= 0"),
    ("mnist1d:noise=-0.1", "noise: must be a finite number > 0"),
    ("mixup:alpha=0", "alpha: mixup needs a Beta concentration > 0, got 0"),
    ("mixup:alpha=-1", "alpha: mixup needs a Beta concentration > 0"),
    ("mixup:beta=1", "augment: mixup has no setting 'beta'"),
    ("crop_flip:pad=-2", "pad: must be an integer >= 0"),
    ("mixup:alpha", "augment: settings are SETTING=VALUE"),
    ("mixup:alpha=x", "alpha: must be a number"),
])
def test_bad_settings_name_the_argument(spec, match):
    with pytest.raises(ValueError, match=match):
        parse_augmentation(spec)


def test_crop_flip_refuses_vectors():
    with pytest.raises(ValueError, match=r"x: crop_flip needs images \[B, H, W, C\]"):
        CropFlip()(jax.random.key(0), np.zeros((3, 4), np.float32))

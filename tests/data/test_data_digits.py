"""sklearn digits: stratified split, [0, 1] scaling then training-set standardisation."""

import numpy as np

from bayeskd.data import load_digits


def test_digits_split_and_normalisation():
    ds = load_digits()
    assert ds.name == "digits" and ds.num_classes == 10
    assert ds.x_train.shape == (1347, 8, 8, 1) and ds.x_test.shape == (450, 8, 8, 1)
    assert abs(ds.x_train.mean()) < 1e-5 and abs(ds.x_train.std() - 1) < 1e-5
    raw_max = ds.x_train.max() * ds.meta["std"] + ds.meta["mean"]
    assert abs(raw_max - 1.0) < 1e-5  # pixels were scaled by 1/16 to [0, 1]
    # Stratified: class proportions agree between the splits.
    train_freq = np.bincount(ds.y_train, minlength=10) / ds.num_train
    test_freq = np.bincount(ds.y_test, minlength=10) / ds.num_test
    np.testing.assert_allclose(train_freq, test_freq, atol=0.01)


def test_digits_flatten_seed_and_fraction():
    flat = load_digits(flatten=True)
    images = load_digits()
    assert flat.x_train.shape == (1347, 64)
    np.testing.assert_array_equal(flat.x_train, images.x_train.reshape(1347, 64))
    other = load_digits(seed=1, test_fraction=0.5)
    assert other.num_test == 899
    assert not np.array_equal(load_digits(seed=1).y_train, images.y_train)

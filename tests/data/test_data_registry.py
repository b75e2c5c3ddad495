"""load_dataset dispatch, the DATASETS names, and the doctested examples of bayeskd.data."""

import doctest

import numpy as np
import pytest

import bayeskd.data
from bayeskd.data import (
    DATASETS,
    Dataset,
    digits,
    files,
    load_dataset,
    mnist1d,
    synthetic,
    transfer,
)
from bayeskd.data import dataset as dataset_module


def test_names():
    assert DATASETS == (
        "mnist1d",
        "digits",
        "gmm",
        "moons",
        "spirals",
        "mnist",
        "fashion_mnist",
        "cifar10",
    )


def test_unknown_name_message_is_exact():
    with pytest.raises(ValueError) as info:
        load_dataset("imagenet")
    assert str(info.value) == (
        "dataset: unknown name 'imagenet'; choose one of: mnist1d, digits, gmm, moons, spirals, "
        "mnist, fashion_mnist, cifar10"
    )


@pytest.mark.parametrize("name", ["gmm", "moons", "spirals"])
def test_generated_datasets_honour_size(name):
    ds = load_dataset(name, size=40, num_test=20, transfer_size=8)
    assert isinstance(ds, Dataset) and ds.name == name
    assert (ds.num_train, ds.num_test, len(ds.x_transfer)) == (40, 20, 8)


def test_mnist1d_dispatch_with_fake_generator(tmp_path, monkeypatch):
    def fake_raw_samples(args):
        rng = np.random.default_rng(args["seed"])
        n = args["num_samples"] // 10 * 10
        return rng.normal(size=(n, 40)), np.arange(n) % 10

    monkeypatch.setattr(mnist1d, "_raw_samples", fake_raw_samples)
    ds = load_dataset("mnist1d", size=50, num_test=10, cache_dir=tmp_path)
    assert (ds.num_train, ds.num_test, ds.input_shape) == (50, 10, (40,))


def test_digits_size_takes_a_prefix():
    full = load_dataset("digits")
    small = load_dataset("digits", size=100)
    np.testing.assert_array_equal(small.x_train, full.x_train[:100])
    assert small.num_test == full.num_test


def test_size_and_num_train_conflict():
    with pytest.raises(ValueError, match="^size: "):
        load_dataset("gmm", size=10, num_train=20)


def test_file_datasets_use_data_dir_or_the_data_root(tmp_path, monkeypatch):
    monkeypatch.setenv("BAYESKD_DATA", str(tmp_path))
    for name, expected in [
        ("mnist", "train-images-idx3-ubyte(.gz)"),
        ("fashion_mnist", "train-images-idx3-ubyte(.gz)"),
        ("cifar10", "data_batch_1"),
    ]:
        with pytest.raises(FileNotFoundError) as info:
            load_dataset(name)
        assert str(info.value).startswith(f"expected {expected} in {tmp_path / name}")
    with pytest.raises(FileNotFoundError, match="elsewhere"):
        load_dataset("mnist", data_dir=tmp_path / "elsewhere")


@pytest.mark.parametrize(
    "module",
    [bayeskd.data, dataset_module, digits, files, mnist1d, synthetic, transfer],
    ids=lambda m: m.__name__,
)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0

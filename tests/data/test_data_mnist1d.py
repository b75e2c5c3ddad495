"""MNIST-1D: exact agreement with the mnist1d package, shared normalisation, on-disk cache."""

import pathlib
import random

import numpy as np
import pytest
from mnist1d.data import make_dataset
from mnist1d.utils import ObjectView

from bayeskd.cache import CacheWarning
from bayeskd.data import cache_root, load_mnist1d
from bayeskd.data import mnist1d as m1d


@pytest.fixture
def restore_global_random():
    np_state, py_state = np.random.get_state(), random.getstate()
    yield
    np.random.set_state(np_state)
    random.setstate(py_state)


@pytest.mark.parametrize(("seed", "shuffle_seq"), [(42, False), (7, True)])
def test_raw_samples_reproduce_make_dataset(restore_global_random, seed, shuffle_seq):
    args = m1d.mnist1d_args(seed=seed, num_samples=120, shuffle_seq=shuffle_seq)
    xs, ys = m1d._raw_samples(args)
    reference = make_dataset(ObjectView(dict(args)))
    standardised = (xs - xs.mean()) / xs.std()
    split = int(len(ys) * args["train_split"])
    np.testing.assert_allclose(standardised[:split], reference["x"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(standardised[split:], reference["x_test"], rtol=0, atol=1e-10)
    np.testing.assert_array_equal(ys[:split], reference["y"])
    np.testing.assert_array_equal(ys[split:], reference["y_test"])


def test_raw_samples_restore_global_random_state(restore_global_random):
    np.random.seed(123)
    random.seed(123)
    expected = np.random.random(), random.random()
    np.random.seed(123)
    random.seed(123)
    m1d._raw_samples(m1d.mnist1d_args(num_samples=10))
    assert (np.random.random(), random.random()) == expected


@pytest.fixture(scope="module")
def cached(tmp_path_factory):
    cache = tmp_path_factory.mktemp("mnist1d_cache")
    ds = load_mnist1d(num_train=300, num_test=200, transfer_size=25, cache_dir=cache)
    return ds, cache


def test_shapes_dtypes_and_meta(cached):
    ds, _ = cached
    assert ds.name == "mnist1d" and ds.num_classes == 10
    assert ds.x_train.shape == (300, 40) and ds.x_test.shape == (200, 40)
    assert ds.x_transfer.shape == (25, 40)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int32
    assert set(np.unique(ds.y_train)) == set(range(10))
    assert ds.meta["seed"] == 42 and ds.meta["transfer_seed"] == 1
    assert ds.meta["std"] > 0


def test_train_test_are_the_default_split_normalised_by_training_stats(cached):
    ds, cache = cached
    args = m1d.mnist1d_args(seed=42, num_samples=5000, train_split=0.8)
    with np.load(m1d._cache_path(args, cache)) as f:
        xs, ys = f["xs"], f["ys"]
    assert xs.shape == (5000, 40)
    mean, std = xs[:4000].mean(), xs[:4000].std()
    assert (ds.meta["mean"], ds.meta["std"]) == (mean, std)
    np.testing.assert_allclose(ds.x_train, (xs[:300] - mean) / std, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ds.x_test, (xs[4000:4200] - mean) / std, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(ds.y_train, ys[:300])
    np.testing.assert_array_equal(ds.y_test, ys[4000:4200])


def test_transfer_uses_its_own_seed_and_the_training_stats(cached, restore_global_random):
    ds, _ = cached
    raw, _ = m1d._raw_samples(m1d.mnist1d_args(seed=1, num_samples=30))
    expected = (raw[:25] - ds.meta["mean"]) / ds.meta["std"]
    np.testing.assert_allclose(ds.x_transfer, expected, rtol=1e-6, atol=1e-6)
    # Fresh inputs, not copies of training ones.
    dists = np.abs(ds.x_transfer[:, None] - ds.x_train[None]).max(-1)
    assert dists.min() > 1e-3


def test_second_call_reads_the_cache(cached, monkeypatch):
    ds, cache = cached

    def no_generation(args):
        raise AssertionError("cache miss: regenerated")

    monkeypatch.setattr(m1d, "_raw_samples", no_generation)
    again = load_mnist1d(num_train=300, num_test=200, transfer_size=25, cache_dir=cache)
    np.testing.assert_array_equal(again.x_train, ds.x_train)
    np.testing.assert_array_equal(again.x_transfer, ds.x_transfer)
    # 21..30 transfer examples share the 30-sample cache entry; a different seed would not.
    assert load_mnist1d(num_train=5, num_test=5, transfer_size=30, cache_dir=cache).meta
    with pytest.raises(AssertionError, match="cache miss"):
        load_mnist1d(num_train=5, num_test=5, transfer_size=25, transfer_seed=2, cache_dir=cache)
    names = sorted(p.name for p in (pathlib.Path(cache) / "mnist1d").iterdir())
    assert len(names) == 2 and all(n.endswith(".npz") for n in names)


def test_cache_key_depends_on_every_argument(tmp_path):
    base = m1d.mnist1d_args(num_samples=10)
    paths = {
        m1d._cache_path(base, tmp_path),
        m1d._cache_path({**base, "seed": 0}, tmp_path),
        m1d._cache_path({**base, "num_samples": 20}, tmp_path),
        m1d._cache_path({**base, "shear_scale": 0.7}, tmp_path),
    }
    assert len(paths) == 4
    assert m1d._cache_path(dict(base), tmp_path) in paths


def test_corrupted_cache_entry_is_regenerated_atomically(tmp_path, restore_global_random):
    args = m1d.mnist1d_args(num_samples=10, seed=3)
    path = m1d._cache_path(args, tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not an npz file")
    with pytest.warns(CacheWarning, match="is unreadable"):
        xs, ys = m1d._cached_raw_samples(args, tmp_path, use_cache=True)
    with np.load(path) as f:
        np.testing.assert_array_equal(f["xs"], xs)
        np.testing.assert_array_equal(f["ys"], ys)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp files left behind


def test_use_cache_false_writes_nothing(tmp_path, restore_global_random):
    args = m1d.mnist1d_args(num_samples=10)
    xs, _ = m1d._cached_raw_samples(args, tmp_path / "c", use_cache=False)
    assert xs.shape == (10, 40)
    assert not (tmp_path / "c").exists()


def test_cache_root_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv("BAYESKD_CACHE", str(tmp_path / "env"))
    assert cache_root() == tmp_path / "env"
    assert cache_root(tmp_path / "explicit") == tmp_path / "explicit"
    monkeypatch.delenv("BAYESKD_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_root() == tmp_path / ".cache" / "bayeskd"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"num_train": 4001}, "num_train"),
        ({"num_train": 0}, "num_train"),
        ({"num_test": 1001}, "num_test"),
        ({"transfer_size": -1}, "transfer_size"),
        ({"transfer_size": 10, "seed": 1, "transfer_seed": 1}, "transfer_seed"),
    ],
)
def test_invalid_arguments(kwargs, field):
    with pytest.raises(ValueError, match=rf"^{field}: "):
        load_mnist1d(**kwargs)


def test_unknown_generation_argument():
    with pytest.raises(ValueError, match="unknown arguments"):
        m1d.mnist1d_args(num_sample=10)

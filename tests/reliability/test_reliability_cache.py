"""Cache files are checked like checkpoints: a truncated or altered MNIST-1D or teacher cache file
is reported in one warning naming the file and recomputed, never used and never a traceback."""

import random
import zipfile

import jax
import numpy as np
import pytest

import bayeskd.data.mnist1d as m1d
from bayeskd.cache import (
    DIGEST_KEY,
    CacheWarning,
    array_digest,
    entry_path,
    read_npz_verified,
    write_npz_verified,
)
from bayeskd.data import load_dataset
from bayeskd.experiments.teachers import train_teacher


@pytest.fixture
def restore_global_random():
    np_state, py_state = np.random.get_state(), random.getstate()
    yield
    np.random.set_state(np_state)
    random.setstate(py_state)


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _alter(path, **replace):
    """Rewrite a cache file as a valid archive whose arrays differ from the ones its digest
    covers (the stored digest is kept)."""
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays.update(replace)
    np.savez(path, **arrays)


def test_digest_covers_names_dtypes_shapes_and_bytes():
    a = {"x": np.arange(6, dtype=np.int32)}
    assert array_digest(a) == array_digest({"x": np.arange(6, dtype=np.int32)})
    assert len({array_digest(a), array_digest({"y": a["x"]}),
                array_digest({"x": a["x"].astype(np.int64)}),
                array_digest({"x": a["x"].reshape(2, 3)}),
                array_digest({"x": a["x"] + 1})}) == 5


def test_verified_roundtrip_and_each_problem(tmp_path):
    path = tmp_path / "entry.npz"
    assert read_npz_verified(path) == (None, None)  # missing: no problem to report
    write_npz_verified(path, {"x": np.arange(4.0)})
    found = read_npz_verified(path)
    assert found.problem is None and found.arrays["x"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert DIGEST_KEY not in found.arrays
    _alter(path, x=np.zeros(4))
    assert read_npz_verified(path) == (None, "does not match its stored SHA-256 (altered or "
                                             "damaged)")
    np.savez(path, x=np.arange(4.0))
    assert read_npz_verified(path) == (None, "has no digest (written by an older bayeskd)")
    write_npz_verified(path, {"x": np.arange(4.0)})
    _truncate(path)
    arrays, problem = read_npz_verified(path)
    assert arrays is None and problem.startswith("is unreadable (BadZipFile")


@pytest.mark.parametrize("damage", ["truncated", "altered"])
def test_bad_mnist1d_cache_is_regenerated(tmp_path, restore_global_random, damage):
    args = m1d.mnist1d_args(num_samples=20, seed=5)
    xs, ys = m1d._cached_raw_samples(args, tmp_path, use_cache=True)
    (path,) = (tmp_path / "mnist1d").glob("*.npz")
    if damage == "truncated":
        _truncate(path)
    else:  # the shape x_train would complain about, if it were ever used
        _alter(path, xs=np.zeros((3, 40)))
    with pytest.warns(CacheWarning, match=f"cache file '{path}' .*; computing the mnist1d entry") as record:
        xs2, ys2 = m1d._cached_raw_samples(args, tmp_path, use_cache=True)
    assert len(record) == 1
    np.testing.assert_array_equal(xs2, xs)
    np.testing.assert_array_equal(ys2, ys)
    assert read_npz_verified(path).problem is None  # replaced by a good file
    assert [p.name for p in (tmp_path / "mnist1d").iterdir()] == [path.name]


def test_mnist1d_loader_blames_the_cache_file_not_the_arrays(tmp_path, restore_global_random):
    """An altered cache file used to surface as 'x_train: ...' from the dataset; now the file is
    named and regenerated, and the dataset is the good one."""
    good = load_dataset("mnist1d", num_train=20, num_test=10, cache_dir=tmp_path)
    (path,) = (tmp_path / "mnist1d").glob("*.npz")
    _alter(path, xs=np.full((7, 40), np.nan))
    with pytest.warns(CacheWarning, match=str(path)):
        again = load_dataset("mnist1d", num_train=20, num_test=10, cache_dir=tmp_path)
    np.testing.assert_array_equal(again.x_train, good.x_train)


@pytest.fixture(scope="module")
def tiny():
    return load_dataset("moons", size=40, num_test=20)


def _teacher(ds, trained: list):
    return train_teacher(ds, model="mlp-small", steps=4, seed=3, progress=False,
                         log=trained.append)


@pytest.mark.parametrize("damage", ["truncated", "altered"])
def test_bad_teacher_cache_is_retrained(tiny, tmp_path, monkeypatch, damage):
    monkeypatch.setenv("BAYESKD_CACHE", str(tmp_path))
    trained: list = []
    first = _teacher(tiny, trained)
    _teacher(tiny, trained)
    assert len(trained) == 1  # the second call read the cache
    (path,) = (tmp_path / "teachers").glob("*.npz")
    if damage == "truncated":
        _truncate(path)
    else:  # uniform log-probabilities: a valid archive, a useless teacher
        _alter(path, logp_test=np.full_like(first.logp_test, -np.log(2)))
    with pytest.warns(CacheWarning, match=f"cache file '{path}' .*computing the teachers entry"):
        again = _teacher(tiny, trained)
    assert len(trained) == 2
    for k in ("logp_train", "logp_test", "logp_transfer"):
        np.testing.assert_array_equal(getattr(again, k), getattr(first, k))
    _teacher(tiny, trained)
    assert len(trained) == 2  # the retrained teacher replaced the bad file
    with zipfile.ZipFile(path) as zf:
        assert f"{DIGEST_KEY}.npy" in zf.namelist()


def test_a_teacher_cached_under_other_jax_numerics_is_retrained(tiny, tmp_path, monkeypatch):
    """Compiler settings change the bits a teacher is trained to: a teacher cached by a process
    with XLA's optimisations off (the distributed and notebook tests run so) is not reused by
    one with them on, and other ``XLA_FLAGS`` key another entry."""
    monkeypatch.setenv("BAYESKD_CACHE", str(tmp_path))
    trained: list = []
    _teacher(tiny, trained)
    jax.config.update("jax_disable_most_optimizations", True)
    try:
        _teacher(tiny, trained)
        assert len(trained) == 2  # not read from the entry the optimised process stored
        _teacher(tiny, trained)
        assert len(trained) == 2  # its own entry is reused
    finally:
        jax.config.update("jax_disable_most_optimizations", False)
    assert len(list((tmp_path / "teachers").glob("*.npz"))) == 2
    key = {"teacher": "any"}
    before = entry_path("teachers", key, code=("bayeskd.cache",))
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_enable_fast_math=true")
    assert entry_path("teachers", key, code=("bayeskd.cache",)) != before
    assert entry_path("teachers", key, code=("bayeskd.cache",), runs_jax=False) == entry_path(
        "teachers", key, code=("bayeskd.cache",), runs_jax=False)

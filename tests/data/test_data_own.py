"""Bring-your-own arrays and teacher outputs: formats, conversions and every error message."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bayeskd.data import load_npz, load_teacher_outputs


def _write_data(path, *, n_train=6, n_test=4, n_transfer=0, k=3, **extra):
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.normal(size=(n_train, 2)), "y_train": np.arange(n_train) % k,
              "x_test": rng.normal(size=(n_test, 2)), "y_test": np.arange(n_test) % k}
    if n_transfer:
        arrays["x_transfer"] = rng.normal(size=(n_transfer, 2))
    arrays.update(extra)
    np.savez(path, **arrays)
    return path


def test_load_npz_keeps_the_arrays(tmp_path):
    ds = load_npz(_write_data(tmp_path / "mine.npz", n_transfer=5))
    with np.load(tmp_path / "mine.npz") as z:
        np.testing.assert_array_equal(ds.x_train, z["x_train"].astype(np.float32))
        np.testing.assert_array_equal(ds.y_test, z["y_test"])
    assert ds.name == "mine" and ds.num_classes == 3 and ds.x_transfer.shape == (5, 2)


def test_num_classes_key_counts_classes_absent_from_the_labels(tmp_path):
    ds = load_npz(_write_data(tmp_path / "d.npz", num_classes=np.int64(7)))
    assert ds.num_classes == 7


@pytest.mark.parametrize("case, match", [
    (dict(drop="y_test"), "lacks y_test"),
    (dict(extra={"labels": np.zeros(3)}), "unknown keys labels"),
    (dict(extra={"y_train": np.zeros(6)}), "y_train must be a 1-D integer array"),
    (dict(extra={"y_train": -np.ones(6, int)}), "class indices >= 0"),
    (dict(extra={"x_test": np.zeros((4, 5))}), "x_test: feature shape"),
    (dict(extra={"x_train": np.full((6, 2), np.nan)}), "x_train: inputs must be finite"),
    (dict(extra={"num_classes": np.int64(2)}), "labels must lie in \\[0, 2\\)"),
])
def test_load_npz_errors_name_the_key(tmp_path, case, match):
    p = _write_data(tmp_path / "d.npz", **case.get("extra", {}))
    if "drop" in case:
        with np.load(p) as z:
            arrays = {k: z[k] for k in z.files if k != case["drop"]}
        np.savez(p, **arrays)
    with pytest.raises(ValueError, match=match):
        load_npz(p)


def test_load_npz_file_errors(tmp_path):
    with pytest.raises(ValueError, match="--data: expected a .npz file"):
        load_npz(tmp_path / "d.csv")
    with pytest.raises(ValueError, match="--data: file .* does not exist"):
        load_npz(tmp_path / "missing.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"is not an \.npz archive \(it is text\)"):
        load_npz(tmp_path / "bad.npz")


def _log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def test_npy_rows_split_in_order_and_logits_become_log_probs(tmp_path):
    ds = load_npz(_write_data(tmp_path / "d.npz", n_transfer=5))
    z = np.random.default_rng(1).normal(size=(6 + 5 + 4, 3)) * 3
    np.save(tmp_path / "t.npy", z)
    out = load_teacher_outputs(tmp_path / "t.npy", ds)
    assert out["kind"] == "logits"
    np.testing.assert_allclose(out["logp_train"][0], _log_softmax(z[:6]), atol=1e-6)
    np.testing.assert_allclose(out["logp_transfer"][0], _log_softmax(z[6:11]), atol=1e-6)
    np.testing.assert_allclose(out["logp_test"][0], _log_softmax(z[11:]), atol=1e-6)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(0.1, 20.0))
def test_probabilities_logits_and_log_probs_give_the_same_teacher(seed, scale):
    ds = load_npz(_DATA)
    z = np.random.default_rng(seed).normal(size=(10, 3)) * scale
    p = np.exp(_log_softmax(z))
    as_logits = load_teacher_outputs(_write(z, "z"), ds)
    as_logp = load_teacher_outputs(_write(_log_softmax(z), "lp"), ds)
    as_probs = load_teacher_outputs(_write(p, "p"), ds, kind="probs")
    np.testing.assert_allclose(as_logp["logp_train"], as_logits["logp_train"], atol=2e-5)
    np.testing.assert_allclose(as_logp["logp_test"], as_logits["logp_test"], atol=2e-5)
    # probabilities are floored at 1e-12 before the log, so compare them as probabilities
    for split in ("logp_train", "logp_test"):
        np.testing.assert_allclose(np.exp(as_probs[split]), np.exp(as_logits[split]), atol=1e-6)
        assert as_probs[split].min() >= np.log(1e-12) - 1e-3
    assert as_probs["kind"] == "probs"


_DIR = None
_DATA = None


@pytest.fixture(autouse=True, scope="module")
def _module_dir(tmp_path_factory):
    global _DIR, _DATA
    _DIR = tmp_path_factory.mktemp("own")
    _DATA = _write_data(_DIR / "d.npz")
    yield


def _write(a, name):
    path = _DIR / f"{name}.npy"
    np.save(path, a)
    return path


def test_npz_teacher_with_named_splits_and_auto_probabilities(tmp_path):
    ds = load_npz(_write_data(tmp_path / "d.npz"))
    rng = np.random.default_rng(2)
    p_train, p_test = rng.dirichlet(np.ones(3), 6), rng.dirichlet(np.ones(3), 4)
    np.savez(tmp_path / "t.npz", train=p_train, test=p_test)
    out = load_teacher_outputs(tmp_path / "t.npz", ds)
    assert out["kind"] == "probs" and out["logp_transfer"].shape == (1, 0, 3)
    np.testing.assert_allclose(np.exp(out["logp_test"][0]), p_test, atol=1e-6)


@pytest.mark.parametrize("arr, kwargs, match", [
    (np.zeros((9, 3)), {}, r"must have shape \[10, 3\] \(rows: 6 train \+ 4 test"),
    (np.zeros((10, 4)), {}, r"must have shape \[10, 3\]"),
    (np.zeros(10), {}, r"must have shape \[10, 3\]"),
    (np.full((10, 3), np.inf), {}, "non-finite"),
    (np.full((10, 3), 0.5), {"kind": "probs"}, "rows summing to 1"),
    (np.zeros((10, 3)), {"kind": "softmax"}, "teacher_kind: must be one of auto, logits, probs"),
])
def test_teacher_output_errors(arr, kwargs, match):
    ds = load_npz(_DATA)
    with pytest.raises(ValueError, match=match):
        load_teacher_outputs(_write(arr, "bad"), ds, **kwargs)


def test_npz_teacher_errors(tmp_path):
    ds = load_npz(_DATA)
    np.savez(tmp_path / "a.npz", train=np.zeros((6, 3)))
    with pytest.raises(ValueError, match="needs keys train and test"):
        load_teacher_outputs(tmp_path / "a.npz", ds)
    np.savez(tmp_path / "b.npz", train=np.zeros((6, 3)), test=np.zeros((4, 3)),
             transfer=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="the data has no x_transfer"):
        load_teacher_outputs(tmp_path / "b.npz", ds)
    np.savez(tmp_path / "c.npz", train=np.zeros((6, 3)), test=np.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"test outputs must have shape \[4, 3\]"):
        load_teacher_outputs(tmp_path / "c.npz", ds)
    with pytest.raises(ValueError, match="--teacher-logits: expected a .npy or .npz file"):
        load_teacher_outputs(tmp_path / "t.pt", ds)

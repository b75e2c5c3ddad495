"""Files that are not what they claim: a text file given as data, a teacher file named as
probabilities that holds logits; and the shapes read from an archive's headers."""

import numpy as np
import pytest

from bayeskd.data import load_npz, load_teacher_outputs
from bayeskd.data.own import npz_num_classes, npz_shapes


def _data(path, k=3):
    rng = np.random.default_rng(0)
    np.savez(path, x_train=rng.normal(size=(6, 2)), y_train=np.arange(6) % k,
             x_test=rng.normal(size=(4, 2)), y_test=np.arange(4) % k)
    return path


@pytest.mark.parametrize(("content", "what"), [
    (b"x_train,y_train\n0.1,1\n", "text"),
    (b"", "empty"),
    (b"\x00\x01\x02\xff" * 10, "something else"),
])
def test_data_that_is_not_an_archive_says_so(tmp_path, content, what):
    path = tmp_path / "data.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError) as info:
        load_npz(path)
    assert str(info.value).startswith(f"--data: '{path}' is not an .npz archive (it is {what})")
    assert "pickled" not in str(info.value)


def test_a_bare_npy_array_given_as_data_says_so(tmp_path):
    path = tmp_path / "data.npz"
    with open(path, "wb") as f:
        np.save(f, np.zeros(3))
    with pytest.raises(ValueError, match=r"is not an \.npz archive \(it is a \.npy array\)"):
        load_npz(path)


def test_teacher_npy_that_is_text_says_so(tmp_path):
    ds = load_npz(_data(tmp_path / "d.npz"))
    (tmp_path / "t.npy").write_text("0.1 0.2 0.7\n")
    with pytest.raises(ValueError, match=r"^--teacher-logits: .* is not a \.npy array \(it is text\)"):
        load_teacher_outputs(tmp_path / "t.npy", ds)


def test_shapes_come_from_the_headers(tmp_path):
    path = _data(tmp_path / "d.npz", k=3)
    assert npz_shapes(path) == {"x_train": (6, 2), "y_train": (6,), "x_test": (4, 2), "y_test": (4,)}
    assert npz_num_classes(path) == 3
    np.savez(path, x_train=np.zeros((2, 5)), y_train=[0, 1], x_test=np.zeros((1, 5)), y_test=[0],
             num_classes=7)
    assert npz_num_classes(path) == 7


@pytest.mark.parametrize("stem", ["teacher_probs", "softmax_outputs", "P_teacher_PROBS"])
def test_file_named_as_probabilities_holding_negatives_is_refused(tmp_path, stem):
    ds = load_npz(_data(tmp_path / "d.npz"))
    z = np.random.default_rng(1).normal(size=(10, 3))  # negative in every split
    path = tmp_path / f"{stem}.npy"
    np.save(path, z)
    with pytest.raises(ValueError) as info:
        load_teacher_outputs(path, ds)
    msg = str(info.value)
    assert msg.startswith(f"--teacher-logits: {stem}.npy is named as probabilities but its values "
                          f"are not (minimum {z.min():.3g}")
    assert "--teacher-kind logits" in msg
    # said to be logits, they are read as logits
    assert load_teacher_outputs(path, ds, kind="logits")["kind"] == "logits"


@pytest.mark.parametrize("stem", ["teacher_logits", "teacher_logprobs", "log_probs", "outputs"])
def test_other_names_holding_negatives_are_logits(tmp_path, stem):
    ds = load_npz(_data(tmp_path / "d.npz"))
    path = tmp_path / f"{stem}.npy"
    np.save(path, np.random.default_rng(1).normal(size=(10, 3)))
    assert load_teacher_outputs(path, ds)["kind"] == "logits"


def test_probabilities_in_a_probs_named_file_are_read(tmp_path):
    ds = load_npz(_data(tmp_path / "d.npz"))
    p = np.random.default_rng(2).dirichlet(np.ones(3), size=10)
    np.save(tmp_path / "teacher_probs.npy", p)
    out = load_teacher_outputs(tmp_path / "teacher_probs.npy", ds)
    assert out["kind"] == "probs"
    np.testing.assert_allclose(np.exp(out["logp_train"][0]), p[:6], rtol=1e-5)


@pytest.mark.parametrize(("name", "kind", "needle"), [
    ("teacher.npy", "probs", "given as probabilities must be >= 0"),
    ("teacher_probs.npy", "auto", "is named as probabilities but its values are not"),
])
def test_cli_refuses_probabilities_that_are_not(tmp_path, capsys, name, kind, needle):
    from bayeskd.cli import main

    data = _data(tmp_path / "d.npz")
    np.save(tmp_path / name, np.random.default_rng(1).normal(size=(10, 3)))
    out = tmp_path / "out"
    code = main(["compare-priors", "--size", "smoke", "--data", str(data), "--teacher-logits",
                 str(tmp_path / name), "--teacher-kind", kind, "--no-progress", "--out", str(out)])
    err = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert code == 2 and len(err) == 1 and needle in err[0], err
    assert not out.exists()

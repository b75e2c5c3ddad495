"""``compare-priors --data FILE.npz --teacher-logits FILE``: a teacher from elsewhere, end to end.

The test writes its own files: Gaussian-mixture arrays and, as the "external" teacher, the exact
Bayes posterior ``p*(y|x)`` of the mixture, saved once as probabilities (.npz) and once as logits
(.npy), the way a user exports a PyTorch model's outputs.
"""

import json

import numpy as np
import pytest

from bayeskd.cli import main
from bayeskd.data import load_gmm
from bayeskd.metrics import classification_metrics

N_TRAIN, N_TEST, N_TRANSFER = 200, 300, 400


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("own")
    ds = load_gmm(num_train=N_TRAIN, num_test=N_TEST, transfer_size=N_TRANSFER, dim=2,
                  num_classes=3, separation=1.5, seed=3)
    problem = ds.meta["problem"]
    np.savez(d / "mine.npz", x_train=ds.x_train, y_train=ds.y_train, x_test=ds.x_test,
             y_test=ds.y_test, x_transfer=ds.x_transfer)
    probs = {s: problem.bayes_probs(x) for s, x in
             (("train", ds.x_train), ("transfer", ds.x_transfer), ("test", ds.x_test))}
    np.savez(d / "teacher_probs.npz", **probs)
    rng = np.random.default_rng(0)  # logits are log-probabilities plus any per-row shift
    logits = np.concatenate([np.log(probs[s]) for s in ("train", "transfer", "test")])
    np.save(d / "teacher_logits.npy", logits + rng.normal(size=(len(logits), 1)) * 5)
    return d, probs, ds


def _run(out, *args):
    return main(["compare-priors", "--size", "smoke", "--seeds", "2", "--no-progress",
                 "--out", str(out), *args])


@pytest.fixture(scope="module")
def own_run(files, tmp_path_factory):
    d, _, _ = files
    out = tmp_path_factory.mktemp("run") / "out"
    assert _run(out, "--data", str(d / "mine.npz"), "--teacher-logits",
                str(d / "teacher_logits.npy"), "--priors", "none,kd,kd_transfer") == 0
    return json.loads((out / "results.json").read_text())


def test_external_teacher_is_used_as_given(files, own_run):
    _, probs, ds = files
    r = own_run
    assert r["dataset"] == "mine" and r["teacher"]["model"] == "external"
    assert r["teacher"]["param_count"] is None
    expected = classification_metrics(probs["test"], ds.y_test)
    for k in ("accuracy", "nll", "ece"):
        assert r["teacher"][k] == pytest.approx(expected[k], abs=1e-5), k
    assert r["data"] == {"num_train": N_TRAIN, "num_test": N_TEST, "num_transfer": N_TRANSFER}
    assert [row["prior"] for row in r["rows"]] == ["none"] * 2 + ["kd"] * 2 + ["kd_transfer"] * 2


def test_students_of_the_bayes_teacher_move_towards_it(own_run):
    s = own_run["summary"]
    # distilling p*(y|x) on transfer inputs puts the student closer to p* than labels alone do
    assert s["kd_transfer"]["kl_teacher_student"]["mean"] < s["none"]["kl_teacher_student"]["mean"]
    assert s["kd_transfer"]["agreement"]["mean"] > 0.9


def test_probabilities_and_logits_files_give_identical_runs(files, own_run, tmp_path):
    d, _, _ = files
    out = tmp_path / "out"
    assert _run(out, "--data", str(d / "mine.npz"), "--teacher-logits",
                str(d / "teacher_probs.npz"), "--priors", "none,kd,kd_transfer") == 0
    r = json.loads((out / "results.json").read_text())
    for a, b in zip(r["rows"], own_run["rows"], strict=True):
        assert a["prior"] == b["prior"]
        assert a["accuracy"] == pytest.approx(b["accuracy"], abs=1e-6)
        assert a["nll"] == pytest.approx(b["nll"], rel=1e-3)


def test_default_priors_drop_kd_transfer_without_transfer_outputs(files, tmp_path):
    d, probs, _ = files
    np.savez(tmp_path / "t.npz", train=probs["train"], test=probs["test"])
    from bayeskd.experiments.compare_priors import (
        DEFAULT_PRIORS,
        NETWORK_PRIORS,
        ComparePriorsConfig,
        load_inputs,
    )

    cfg = ComparePriorsConfig(size="smoke", data_file=str(d / "mine.npz"),
                              teacher_logits=str(tmp_path / "t.npz"))
    _, external, priors = load_inputs(cfg)
    assert priors == tuple(p for p in DEFAULT_PRIORS if p not in ("kd_transfer", *NETWORK_PRIORS))
    assert external["logp_transfer"].shape == (1, 0, 3)


@pytest.mark.parametrize("make, match", [
    (lambda d, t: ["--teacher-logits", str(t / "short.npy")], r"must have shape \[900, 3\]"),
    (lambda d, t: ["--teacher-logits", str(t / "t.npz"), "--priors", "kd_transfer"],
     "kd_transfer needs transfer inputs"),
    (lambda d, t: ["--dataset", "digits"], "give either --data FILE.npz or --dataset"),
    (lambda d, t: ["--teacher-logits", str(t / "missing.npy")], "does not exist"),
])
def test_bad_files_exit_2_before_writing(files, tmp_path, capsys, make, match):
    d, probs, _ = files
    np.save(tmp_path / "short.npy", np.zeros((10, 3)))
    np.savez(tmp_path / "t.npz", train=probs["train"], test=probs["test"])
    out = tmp_path / "out"
    assert _run(out, "--data", str(d / "mine.npz"), *make(d, tmp_path)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("bayeskd: error:")
    assert match.replace("\\", "") in err[0] or __import__("re").search(match, err[0]), err[0]
    assert not out.exists()

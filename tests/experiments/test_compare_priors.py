"""The main job at smoke size: outputs, schema, determinism, the science's direction, the
augmentation priors, your own data and teacher, and bad input."""

import json

import numpy as np
import pytest

from bayeskd.cli import main
from bayeskd.data import load_dataset, load_gmm
from bayeskd.experiments.specs.compare_priors import ARMS, SPEC, Config, load_inputs
from bayeskd.metrics import classification_metrics

DEFAULT = [n for n, a in ARMS.items() if a.default]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cp") / "out"
    assert main(["compare-priors", "--size", "smoke", "--out", str(out), "--no-progress"]) == 0
    return out


def _results(out) -> dict:
    return json.loads((out / "results.json").read_text())


def test_outputs_and_schema(smoke_run):
    for name in ("results.json", "results.csv", "compare_priors.png", "reliability.png",
                 "summary.md", "timing.json"):
        assert (smoke_run / name).stat().st_size > 0, name
    assert not list(smoke_run.glob("*.tmp")) and not list(smoke_run.glob(".*.tmp"))
    r = _results(smoke_run)
    assert r["spec"] == "compare_priors" and r["size"] == "smoke"
    assert r["extra"]["dataset"] == "mnist1d" and r["extra"]["priors"] == DEFAULT
    students = [row for row in r["rows"] if row["part"] == "student"]
    assert [row["prior"] for row in students] == [p for p in DEFAULT for _ in range(2)]
    need = {"prior", "seed", "accuracy", "nll", "ece", "brier", "agreement", "kl_teacher_student",
            "train_accuracy", "noise_accuracy", "input_grad_norm", "param_count"}
    for row in students:
        assert need <= set(row)
        assert 0 <= row["accuracy"] <= 1 and 0 <= row["ece"] <= 1 and row["nll"] > 0
    assert set(r["summary"]["priors"]) == set(DEFAULT)
    assert {"accuracy", "nll", "ece"} <= set(r["summary"]["teacher"]["teacher"])
    assert "runtime_s" not in json.dumps(r)  # wall time goes to timing.json
    assert json.loads((smoke_run / "timing.json").read_text())["runtime_s"] > 0
    assert len((smoke_run / "results.csv").read_text().splitlines()) == 1 + 1 + 2 * len(DEFAULT)
    assert set(r["verdicts"]) == {e.claim for e in SPEC.expectations}


def test_smoke_numbers_point_the_right_way(smoke_run):
    r = _results(smoke_run)
    s, t = r["summary"]["priors"], r["summary"]["teacher"]["teacher"]
    # even 400 steps of the CNN teacher beat the MLP students on MNIST-1D
    assert t["accuracy"]["mean"] > max(v["accuracy"]["mean"] for v in s.values()) + 0.1
    assert all(v["accuracy"]["mean"] > 0.3 for v in s.values())  # well above chance
    # label smoothing is better calibrated than maximum likelihood
    assert s["label_smoothing"]["ece"]["mean"] < s["none"]["ece"]["mean"]
    # the student fit to the teacher on fresh views agrees with it more than its fair control
    assert s["kd_augment"]["agreement"]["mean"] > s["augment"]["agreement"]["mean"]


def test_same_command_same_results(tmp_path, monkeypatch):
    args = ["compare-priors", "--size", "smoke", "--priors", "none,kd", "--seeds", "1",
            "--no-progress", "--out", "out"]
    for run in ("a", "b"):  # the same command line (provenance records it) in two folders
        (tmp_path / run).mkdir()
        monkeypatch.chdir(tmp_path / run)
        assert main(args) == 0
    a, b = tmp_path / "a" / "out", tmp_path / "b" / "out"
    for name in ("results.json", "results.csv", "compare_priors.png", "summary.md"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_crossfit_runs_out_of_fold_teachers(tmp_path):
    out = tmp_path / "out"
    assert main(["compare-priors", "--size", "smoke", "--out", str(out), "--no-progress",
                 "--priors", "none,kd_crossfit", "--folds", "2", "--seeds", "1"]) == 0
    r = _results(out)
    assert r["config"]["folds"] == 2
    assert [row["prior"] for row in r["rows"] if row["part"] == "student"] == ["none", "kd_crossfit"]


@pytest.mark.parametrize(("extra", "needle"), [
    (["--augment", "rotate"], "augment: unknown 'rotate'; choose one of: mnist1d, crop_flip, mixup"),
    (["--augment", "mnist1d:max_shift=-2"], "max_shift: must be an integer >= 0, got -2"),
    (["--augment", "mixup:alpha=0"], "alpha: mixup needs a Beta concentration > 0, got 0"),
    (["--priors", "kd_crossfit", "--folds", "1"], "folds: must be >= 2, got 1"),
    (["--priors", "kd_crossfit", "--folds", "4001"],
     "folds: must lie in [2, 4000] (the number of training examples), got 4001"),
    (["--priors", "none,magic"], "priors: must be one of none, weight_decay"),
    (["--temperature", "0"], "temperature: must be > 0, got 0.0"),
    (["--alpha", "1.5"], "alpha: must lie in [0, 1], got 1.5"),
    (["--seeds", "two"], "seeds: must be an integer, got 'two'"),
    (["--seeds", "100000"], "seeds: 100000 seeds of mlp on 6000 inputs need about"),
    (["--set", "nothing=1"], "--set: no field 'nothing'; allowed: dataset, data,"),
    (["--size", "huge"], "--size: unknown 'huge'; choose one of: smoke, quick, full"),
])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(extra, needle, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["compare-priors", "--size", "smoke", "--out", str(out), "--no-progress",
                 *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("bayeskd: error: "), err
    assert needle in err, err
    assert not out.exists()


def test_function_matching_needs_a_teacher_network(tmp_path):
    ds = load_dataset("mnist1d")
    np.save(tmp_path / "t.npy", np.zeros((ds.num_train + ds.num_test, 10), np.float32))
    cfg = Config(teacher_logits=str(tmp_path / "t.npy"), priors=("kd_augment",))
    with pytest.raises(ValueError, match="priors: kd_augment and kd_crossfit need a teacher"):
        load_inputs(cfg)
    assert "kd_augment" not in load_inputs(Config(teacher_logits=str(tmp_path / "t.npy")))[2]


# --------------------------------------------------------------------------- your own data

N_TRAIN, N_TEST, N_TRANSFER = 200, 300, 400


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Gaussian-mixture arrays and, as the external teacher, the exact Bayes posterior p*(y|x),
    saved once as probabilities (.npz) and once as shifted logits (.npy), the way a user exports
    a PyTorch model's outputs."""
    d = tmp_path_factory.mktemp("own")
    ds = load_gmm(num_train=N_TRAIN, num_test=N_TEST, transfer_size=N_TRANSFER, dim=2,
                  num_classes=3, separation=1.5, seed=3)
    problem = ds.meta["problem"]
    np.savez(d / "mine.npz", x_train=ds.x_train, y_train=ds.y_train, x_test=ds.x_test,
             y_test=ds.y_test, x_transfer=ds.x_transfer)
    probs = {s: problem.bayes_probs(x) for s, x in
             (("train", ds.x_train), ("transfer", ds.x_transfer), ("test", ds.x_test))}
    np.savez(d / "teacher_probs.npz", **probs)
    rng = np.random.default_rng(0)
    logits = np.concatenate([np.log(probs[s]) for s in ("train", "transfer", "test")])
    np.save(d / "teacher_logits.npy", logits + rng.normal(size=(len(logits), 1)) * 5)
    return d, probs, ds


def _own(out, *args):
    return main(["compare-priors", "--size", "smoke", "--seeds", "2", "--no-progress",
                 "--out", str(out), *args])


@pytest.fixture(scope="module")
def own_run(files, tmp_path_factory):
    d, _, _ = files
    out = tmp_path_factory.mktemp("run") / "out"
    assert _own(out, "--data", str(d / "mine.npz"), "--teacher-logits",
                str(d / "teacher_logits.npy"), "--priors", "none,kd,kd_transfer") == 0
    return _results(out)


def test_external_teacher_is_used_as_given(files, own_run):
    _, probs, ds = files
    teacher = [row for row in own_run["rows"] if row["part"] == "teacher"][0]
    assert own_run["extra"]["dataset"] == "mine" and teacher["model"] == "external"
    assert teacher["param_count"] is None
    expected = classification_metrics(probs["test"], ds.y_test)
    for k in ("accuracy", "nll", "ece"):
        assert teacher[k] == pytest.approx(expected[k], abs=1e-5), k
    e = own_run["extra"]
    assert (e["num_train"], e["num_test"], e["num_transfer"]) == (N_TRAIN, N_TEST, N_TRANSFER)


def test_students_of_the_bayes_teacher_move_towards_it(own_run):
    s = own_run["summary"]["priors"]
    assert s["kd_transfer"]["kl_teacher_student"]["mean"] < s["none"]["kl_teacher_student"]["mean"]
    assert s["kd_transfer"]["agreement"]["mean"] > 0.9


def test_probabilities_and_logits_files_give_identical_runs(files, own_run, tmp_path):
    d, _, _ = files
    out = tmp_path / "out"
    assert _own(out, "--data", str(d / "mine.npz"), "--teacher-logits",
                str(d / "teacher_probs.npz"), "--priors", "none,kd,kd_transfer") == 0
    for a, b in zip(_results(out)["rows"], own_run["rows"], strict=True):
        assert a["prior"] == b["prior"]
        assert a["accuracy"] == pytest.approx(b["accuracy"], abs=1e-6)
        assert a["nll"] == pytest.approx(b["nll"], rel=1e-3)


def test_default_priors_drop_kd_transfer_without_transfer_outputs(files, tmp_path):
    d, probs, _ = files
    np.savez(tmp_path / "t.npz", train=probs["train"], test=probs["test"])
    ds, teacher, names = load_inputs(Config(data=str(d / "mine.npz"),
                                            teacher_logits=str(tmp_path / "t.npz")))
    assert names == tuple(n for n in DEFAULT if ARMS[n].needs not in ("transfer", "network"))
    assert teacher.logp_transfer.shape == (1, 0, 3)


@pytest.mark.parametrize("make, match", [
    (lambda d, t: ["--teacher-logits", str(t / "short.npy")], "must have shape [900, 3]"),
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
    assert _own(out, "--data", str(d / "mine.npz"), *make(d, tmp_path)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("bayeskd: error:") and match in err[0], err
    assert not out.exists()

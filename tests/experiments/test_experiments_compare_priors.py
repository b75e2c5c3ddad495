"""The main job at smoke size: outputs, schema, determinism, and the science's direction."""

import json

import pytest

from bayeskd.cli import main
from bayeskd.experiments.compare_priors import DEFAULT_PRIORS as PRIORS


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cp") / "out"
    assert main(["compare-priors", "--size", "smoke", "--out", str(out), "--no-progress"]) == 0
    return out


def test_outputs_and_schema(smoke_run):
    for name in ("results.json", "results.csv", "compare_priors.png", "reliability.png"):
        assert (smoke_run / name).stat().st_size > 0, name
    assert not list(smoke_run.glob("*.tmp")) and not list(smoke_run.glob(".*.tmp"))
    r = json.loads((smoke_run / "results.json").read_text())
    assert r["experiment"] == "compare_priors" and r["dataset"] == "mnist1d" and r["size"] == "smoke"
    assert set(r["teacher"]) >= {"accuracy", "nll", "ece"}
    assert len(r["rows"]) == len(PRIORS) * 2
    need = {"prior", "seed", "accuracy", "nll", "ece", "brier", "agreement", "kl_teacher_student",
            "train_accuracy", "noise_accuracy", "input_grad_norm"}
    for row in r["rows"]:
        assert need <= set(row)
        assert 0 <= row["accuracy"] <= 1 and 0 <= row["ece"] <= 1 and row["nll"] > 0
    assert set(r["summary"]) == set(PRIORS)
    assert set(r["summary"]["kd"]["accuracy"]) >= {"mean", "std"}
    assert "timing" not in r
    assert json.loads((smoke_run / "timing.json").read_text())["runtime_s"] > 0
    csv_lines = (smoke_run / "results.csv").read_text().splitlines()
    assert len(csv_lines) == 1 + len(PRIORS) * 2


def test_smoke_numbers_point_the_right_way(smoke_run):
    r = json.loads((smoke_run / "results.json").read_text())
    s = r["summary"]
    # even 400 steps of the CNN teacher beat the MLP students on MNIST-1D
    assert r["teacher"]["accuracy"] > max(v["accuracy"]["mean"] for v in s.values()) + 0.1
    # students are well above chance (10 classes)
    assert all(v["accuracy"]["mean"] > 0.3 for v in s.values())
    # label smoothing is the best-calibrated of the label-trained students vs maximum likelihood
    assert s["label_smoothing"]["ece"]["mean"] < s["none"]["ece"]["mean"]
    # the KD students agree with the teacher at least as often as the unregularised one
    assert s["kd"]["agreement"]["mean"] >= s["none"]["agreement"]["mean"] - 0.02


def test_same_command_same_results(tmp_path, monkeypatch):
    args = ["compare-priors", "--size", "smoke", "--priors", "none,kd", "--seeds", "1",
            "--no-progress", "--out", "out"]
    for run in ("a", "b"):  # the same command line (provenance records it) in two folders
        (tmp_path / run).mkdir()
        monkeypatch.chdir(tmp_path / run)
        assert main(args) == 0
    a, b = tmp_path / "a" / "out", tmp_path / "b" / "out"
    assert (a / "results.json").read_bytes() == (b / "results.json").read_bytes()
    assert (a / "results.csv").read_bytes() == (b / "results.csv").read_bytes()
    assert (a / "compare_priors.png").read_bytes() == (b / "compare_priors.png").read_bytes()

"""The teacher figures (fidelity, teacher_quality, prior_table, function_matching) at smoke size,
each run once through the runner: outputs, rows, values derived from the summary, verdicts
computed by the rules, resumes that recompute nothing, and the spec size limit."""

import dataclasses
import json
import math
import pathlib

import pytest

from bayeskd.data import ShiftScaleNoise
from bayeskd.experiments import runner
from bayeskd.experiments.registry import get_spec
from bayeskd.experiments.render import summary_markdown

NAMES = ("teacher_quality", "fidelity", "function_matching", "prior_table")
SPECS_DIR = pathlib.Path(runner.__file__).parent / "specs"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("teacher_figs")
    out = {}
    for name in NAMES:
        req = runner.resolve(name, size="smoke", out=root / name)
        out[name] = (req, runner.run(req, progress=False, log=lambda m: None))
    return out


def _written(runs, name) -> dict:
    req, results = runs[name]
    written = json.loads((req.out / "results.json").read_text())
    assert written == json.loads(json.dumps(results))
    return written


@pytest.mark.parametrize("name", NAMES)
def test_outputs_exist_and_summary_renders_from_results(runs, name):
    req, _ = runs[name]
    written = _written(runs, name)
    for f in ("results.json", "results.csv", "summary.md", "timing.json", f"{name}.png"):
        assert (req.out / f).stat().st_size > 0, f
    assert written["spec"] == name and written["size"] == "smoke"
    md, again = (req.out / "summary.md").read_text(), summary_markdown(req.spec, written)
    if req.spec.report:  # the runner renders report rows in measured order, results.json sorts
        md, again = sorted(md.splitlines()), sorted(again.splitlines())  # them: same rows
    assert md == again
    assert "runtime_s" not in json.dumps(written)


@pytest.mark.parametrize("name", NAMES)
def test_verdicts_are_the_rules_applied_to_the_values(runs, name):
    written, spec = _written(runs, name), get_spec(name)
    assert set(written["verdicts"]) == {e.claim for e in spec.expectations}
    for e in spec.expectations:
        got = written["verdicts"][e.claim]
        assert got == e.verdict(written["values"])
        assert got is None or isinstance(got, bool)


@pytest.mark.parametrize("name", NAMES)
def test_spec_is_short(name):
    assert len((SPECS_DIR / f"{name}.py").read_text().splitlines()) <= 125


def test_teacher_quality_rows_and_values(runs):
    w = _written(runs, "teacher_quality")
    cfg = runs["teacher_quality"][0].cfg
    students = [r for r in w["rows"] if r["part"] == "student"]
    assert [(r["student"], r["arm"]) for r in students[::cfg.seeds]] == [
        ("mlp", "labels"), ("mlp", "KD, trained CNN"), ("mlp", "KD, barely trained CNN"),
        ("mlp", "teacher-free KD"), ("cnn", "labels"), ("cnn", "reversed KD, MLP teacher")]
    assert [r["seed"] for r in students] == list(range(cfg.seeds)) * 6
    s, v = w["summary"]["students"], w["values"]
    assert v["teacher_free"] == s["mlp | teacher-free KD"]["accuracy"]["mean"]
    assert v["reversed_std"] == s["cnn | reversed KD, MLP teacher"]["accuracy"]["std"]
    teachers = w["summary"]["teachers"]
    assert v["teacher_cnn_poor"] == teachers["cnn, barely trained"]["accuracy"]["mean"]
    # 40 steps leave the CNN far below its trained self; the CNN beats the MLP teacher
    assert v["teacher_cnn_poor"] < v["teacher_cnn"] - 0.1 and v["teacher_mlp"] < v["teacher_cnn"]
    assert all(math.isfinite(r["nll"]) for r in students)


def test_teacher_quality_resume_recomputes_nothing(runs, monkeypatch):
    req, results = runs["teacher_quality"]

    def fail(*a, **k):
        raise AssertionError("a finished unit was trained again")

    monkeypatch.setattr("bayeskd.experiments.common.train_arms", fail)
    log: list[str] = []
    again = runner.run(req, progress=False, log=log.append)
    assert json.dumps(again["rows"]) == json.dumps(results["rows"])
    assert sum("reloaded" in line for line in log) == 2


def test_fidelity_rows_and_values(runs):
    w = _written(runs, "fidelity")
    cfg = runs["fidelity"][0].cfg
    parts = [r["part"] for r in w["rows"]]
    assert parts == ["teacher"] * 7 + ["self"] * cfg.seeds * len(cfg.transfer_sizes) + [
        "ensemble"] * cfg.seeds
    members = [r for r in w["rows"] if r.get("arm") == "ensemble member"]
    assert [r["seed"] for r in members] == list(range(5))
    v, s = w["values"], w["summary"]
    n = str(cfg.transfer_sizes[0])
    assert v["train_agreement"] == s["self"][n]["train_agreement"]["mean"]
    assert v["single"] == pytest.approx(sum(r["accuracy"] for r in members) / 5)
    for r in w["rows"]:
        if r["part"] != "teacher":
            assert 0 <= r["train_agreement"] <= 1 and 0 <= r["fit_agreement"] <= 1
            assert r["kl_teacher_student"] >= 0
    # with the training inputs as the whole transfer set, both agreements are the same inputs
    assert all(r["train_agreement"] == r["fit_agreement"] for r in w["rows"]
               if r.get("num_transfer") == 4000)
    # averaging five members' probabilities beats their average accuracy
    assert v["ensemble"] > v["single"]


def test_function_matching_rows_units_and_values(runs):
    req, _ = runs["function_matching"]
    w, cfg = _written(runs, "function_matching"), req.cfg
    modes = [r for r in w["rows"] if r["part"] == "modes"]
    assert [r["arm"] for r in modes[::cfg.seeds]] == ["labels", "augment", "fixed table",
                                                      "consistent", "inconsistent"]
    patience = [r for r in w["rows"] if r["part"] == "patience"]
    assert [r["steps"] for r in patience[::cfg.seeds]] == list(cfg.patience)
    # the consistent arm at the main schedule is one unit, read by both parts
    same = [r for r in patience if r["steps"] == cfg.steps]
    assert [r["accuracy"] for r in same] == [r["accuracy"] for r in modes
                                             if r["arm"] == "consistent"]
    v, s = w["values"], w["summary"]
    assert v["fixed_table"] == s["modes"]["fixed table"]["accuracy"]["mean"]
    assert v["patience_short"] == s["patience"][str(cfg.patience[0])]["accuracy"]["mean"]
    assert v["augment_long"] == s["control"]["augment"]["accuracy"]["mean"]
    assert w["extra"]["augmentation"] == dataclasses.asdict(ShiftScaleNoise())
    # fitting the teacher on its views makes the student agree with it more than labels do
    agree = {a: s["modes"][a]["agreement"]["mean"] for a in ("labels", "consistent")}
    assert agree["consistent"] > agree["labels"]


def test_prior_table_rows_values_and_report(runs):
    req, _ = runs["prior_table"]
    w, cfg = _written(runs, "prior_table"), req.cfg
    students = [r for r in w["rows"] if r["part"] == "student"]
    # smoke: MNIST-1D only and no SWAG; every other prior, dropout last (its own run)
    assert [r["prior"] for r in students[::cfg.seeds]] == [
        "none", "weight_decay", "label_smoothing", "kd", "kd_ensemble", "self_distillation",
        "dropout"]
    for r in students:
        assert r["train_test_gap"] == pytest.approx(r["train_accuracy"] - r["accuracy"])
        assert 0 <= r["noise_accuracy"] <= 1 and r["input_grad_norm"] > 0
    s, v = w["summary"]["mnist1d"], w["values"]
    weak = max(("none", "weight_decay", "dropout", "label_smoothing"),
               key=lambda p: s[p]["accuracy"]["mean"])
    assert v["mnist1d_weak_accuracy"] == s[weak]["accuracy"]["mean"]
    assert v["mnist1d_kd_input_grad_norm"] == s["kd"]["input_grad_norm"]["mean"]
    assert w["summary"]["digits"] == {} and v["digits_kd_accuracy"] is None
    assert all(w["verdicts"][c] is None for c in w["verdicts"] if c.startswith("digits"))
    # label smoothing is better calibrated than maximum likelihood
    assert s["label_smoothing"]["ece"]["mean"] < s["none"]["ece"]["mean"]
    assert "| mnist1d | accuracy (%) |" in (req.out / "summary.md").read_text()

"""label_smoothing_teacher, self_distillation and variance_reduction at smoke size through the
runner: what results.json holds, verdicts computed by their rules, values derived from the
summary, the figures, and a rerun that recomputes no unit."""

import json

import numpy as np
import pytest

from bayeskd.experiments import runner

NAMES = ("label_smoothing_teacher", "self_distillation", "variance_reduction")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("ls_sd_vr")
    out = {}
    for name in NAMES:
        req = runner.resolve(name, size="smoke", out=root / name)
        runner.run(req, progress=False, log=lambda m: None)
        out[name] = (req, json.loads((root / name / "results.json").read_text()))
    return out


@pytest.mark.parametrize("name", NAMES)
def test_results_hold_rows_summaries_values_and_the_figure(runs, name):
    req, r = runs[name]
    assert r["spec"] == name and r["size"] == "smoke" and r["rows"]
    assert set(r["summary"]) == set(req.spec.tables)
    assert r["figures"] == [name] and (req.out / f"{name}.png").stat().st_size > 0
    assert (req.out / "summary.md").is_file()


@pytest.mark.parametrize("name", NAMES)
def test_every_verdict_is_its_rule_applied_to_the_values(runs, name):
    req, r = runs[name]
    assert set(r["verdicts"]) == {e.claim for e in req.spec.expectations}
    for e in req.spec.expectations:
        verdict = r["verdicts"][e.claim]
        assert verdict is None or isinstance(verdict, bool)
        assert verdict == e.verdict(r["values"])


#: what trains or fits in each spec: a rerun must call none of it
TRAINERS = {"self_distillation": ["bayeskd.experiments.kit.train_arms"],
            "label_smoothing_teacher": ["bayeskd.experiments.kit.train_arms"],
            "variance_reduction": [
                "bayeskd.experiments.specs.variance_reduction.fit_softmax_regression"]}


@pytest.mark.parametrize("name", NAMES)
def test_rerun_recomputes_no_unit(runs, name, monkeypatch):
    req, r = runs[name]

    def fail(*a, **k):
        raise AssertionError("a finished unit was computed again")

    for target in TRAINERS[name]:
        monkeypatch.setattr(target, fail)
    log: list[str] = []
    again = runner.run(req, progress=False, log=log.append)
    assert json.loads(json.dumps(again["rows"])) == r["rows"]
    units = json.loads((req.out / "timing.json").read_text())["units"]
    assert units and all(any(f"unit {u}: reloaded" in m for m in log) for u in units)


# --------------------------------------------------------------------------- self_distillation


def test_self_distillation_values_match_the_summary_and_the_kernel_bound(runs):
    req, r = runs["self_distillation"]
    v, s, g = r["values"], r["summary"], req.cfg.generations
    assert v["gen1"] == pytest.approx(s["ban"]["generation | 1"]["accuracy"]["mean"])
    assert v["ensemble_last"] == pytest.approx(s["ban"][f"ensemble 0..g | {g}"]["accuracy"]["mean"])
    seeds = [row for row in r["rows"] if row["part"] == "kernel_seed"]
    assert v["collapse_round"] == pytest.approx(np.mean([row["collapse_round"] for row in seeds]))
    # the triangle inequality: no seed collapses before r0 - 1
    assert all(row["collapse_round"] >= row["r0_minus_1"] for row in seeds)
    # generation 0 alone is its own ensemble
    assert s["ban"]["generation | 0"] == s["ban"]["ensemble 0..g | 0"]
    assert r["verdicts"][req.spec.expectations[1].claim] == (v["ensemble_last"] > v["last"])


# --------------------------------------------------------------------------- variance_reduction


def test_variance_reduction_values_match_the_summary_and_lemma_1(runs):
    req, r = runs["variance_reduction"]
    v, risk, ns = r["values"], r["summary"]["risk"], req.cfg.sizes
    ratios = [risk[f"{n} | one-hot"]["variance"]["mean"] / risk[f"{n} | p*"]["variance"]["mean"]
              for n in ns]
    assert v["min_variance_ratio"] == pytest.approx(min(ratios))
    # Lemma 1: the Bayes-target risk is the conditional mean of the one-hot one, never more variable
    assert all(ratio > 1 for ratio in ratios)
    st = r["summary"]["students"]
    assert v["nll_pstar_small"] == pytest.approx(st[f"{ns[0]} | p*"]["test_nll"]["mean"])
    assert st[f"{ns[0]} | one-hot"]["teacher_bias_to_bayes"]["mean"] == 0.0
    assert len([row for row in r["rows"] if row["part"] == "student"]) == (
        len(ns) * req.cfg.seeds * (1 + len(req.cfg.taus)))


# --------------------------------------------------------------------------- label_smoothing_teacher


def test_label_smoothing_values_match_the_summary_and_the_planes(runs):
    req, r = runs["label_smoothing_teacher"]
    v, s, cfg = r["values"], r["summary"], req.cfg
    e0, em = (f"{e:g}" if e else "0.0" for e in (cfg.epsilons[0], cfg.epsilons[-1]))
    assert v["ece_smoothed"] == pytest.approx(s["teachers"][em]["ece"]["mean"])
    acc = {T: (s["students"][f"{e0} | {T}"]["accuracy"]["mean"],
               s["students"][f"{em} | {T}"]["accuracy"]["mean"]) for T in cfg.temperatures}
    assert v["temperatures_not_worse"] == sum(b >= a for a, b in acc.values())
    assert v["student_none"] == pytest.approx(max(a for a, _ in acc.values()))
    students = [row for row in r["rows"] if row["part"] == "student"]
    assert len(students) == len(cfg.epsilons) * cfg.seeds * len(cfg.temperatures)
    assert all(0 <= row["agreement"] <= 1 for row in students)
    for e in (cfg.epsilons[0], cfg.epsilons[-1]):  # the first template sits at the origin
        assert np.allclose(r["extra"][f"templates {e:g}"][0], 0, atol=1e-4)
        assert len(r["extra"][f"points {e:g}"]) == len(r["extra"]["labels"])

"""The Bayesian specs (EnD², the two temperatures, Bayesian dark knowledge) at smoke size
through the one runner: what results.json holds, verdicts computed by the rules, values that are
the summary's, the figures, and a resumed run that recomputes no unit."""

import json
import math

import numpy as np
import pytest

from bayeskd.experiments import common, runner
from bayeskd.experiments.specs import bayesian_dark_knowledge as bdk
from bayeskd.experiments.specs import ensemble_distribution_distillation as end2
from bayeskd.experiments.specs import temperature_tempering as tt
from bayeskd.posteriors import tempering

NAMES = ("ensemble_distribution_distillation", "temperature_tempering", "bayesian_dark_knowledge")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = {}
    for name in NAMES:
        folder = tmp_path_factory.mktemp(name) / "out"
        runner.run(runner.resolve(name, size="smoke", out=folder), progress=False,
                   log=lambda m: None)
        out[name] = folder
    return out


def _results(folder) -> dict:
    return json.loads((folder / "results.json").read_text())


@pytest.mark.parametrize("name", NAMES)
def test_outputs_and_verdicts_are_the_rules_applied_to_the_values(runs, name):
    folder = runs[name]
    for f in ("results.json", "results.csv", "summary.md", "timing.json", f"{name}.png",
              f"{name}.pdf"):
        assert (folder / f).stat().st_size > 0, f
    r = _results(folder)
    spec = runner.get_spec(name)
    assert r["spec"] == name and r["size"] == "smoke" and r["figures"] == [name]
    assert set(r["verdicts"]) == {e.claim for e in spec.expectations}
    for e in spec.expectations:
        v = r["verdicts"][e.claim]
        assert v is None or isinstance(v, bool)
        assert v == e.verdict(r["values"])
        if v is not None:  # the rule, evaluated here on the written numbers, decides it
            assert v == bool(e.rule.holds(r["values"], e.ours))


def test_end2_rows_and_values_are_the_summary(runs):
    r = _results(runs["ensemble_distribution_distillation"])
    cfg = end2.SPEC.sizes["smoke"]
    assert [(row["arm"], row["seed"]) for row in r["rows"]] == [
        (a, s) for s in range(cfg.seeds) for a in end2.ARMS]
    for row in r["rows"]:
        assert 0 <= row["accuracy"] <= 1 and row["nll"] > 0 and 0 <= row["ood_auroc"] <= 1
        assert row["ood_score"] == ("total" if row["arm"] == "EnD" else "knowledge")
        if row["arm"] == "EnD":  # one softmax network: no knowledge uncertainty
            assert abs(row["grid_mean_knowledge"]) < 1e-6
        if row["arm"] == "ensemble":  # its own MI ranks the grid exactly like itself
            assert row["spearman_vs_ensemble_mi"] == pytest.approx(1.0)
    a, v = r["summary"]["arms"], r["values"]
    assert v["rho_end2"] == a["EnD²"]["spearman_vs_ensemble_mi"]["mean"]
    assert v["rho_end"] == a["EnD"]["spearman_vs_ensemble_mi"]["mean"]
    assert v["auroc_end2"] == a["EnD²"]["ood_auroc"]["mean"]
    assert v["accuracy_gap"] == pytest.approx(a["ensemble"]["accuracy"]["mean"]
                                              - a["EnD²"]["accuracy"]["mean"])
    assert v["auroc_gap"] == pytest.approx(a["ensemble"]["ood_auroc"]["mean"]
                                           - a["EnD²"]["ood_auroc"]["mean"])
    # seed 0's maps: one value per grid point, total = data + knowledge, within [0, log K]
    for arm in end2.ARMS:
        m = {k: np.asarray(r["extra"]["maps"][arm][k]) for k in end2.KINDS}
        assert all(x.shape == (cfg.grid**2,) for x in m.values())
        np.testing.assert_allclose(m["total"], m["data"] + m["knowledge"], atol=3e-4)
        assert m["total"].max() <= math.log(cfg.classes) + 1e-3 and m["knowledge"].min() >= -1e-3


def _rerun_computes_nothing(runs, monkeypatch, name, patches, units):
    """Rerun ``name`` on its finished folder with every compute function in ``patches``
    (``(module, attribute)``) raising: the rows are the stored ones and every unit was reloaded."""
    folder = runs[name]
    before = _results(folder)

    def fail(*a, **k):
        raise AssertionError("a finished unit was computed again")

    for module, attr in patches:
        monkeypatch.setattr(module, attr, fail)
    log: list[str] = []
    again = runner.run(runner.resolve(name, size="smoke", out=folder), progress=False,
                       log=log.append)
    assert json.loads(json.dumps(again["rows"])) == before["rows"]
    for unit in units:
        assert any(f"unit {unit}: reloaded" in line for line in log), unit


def test_end2_resumed_run_recomputes_no_unit(runs, monkeypatch):
    _rerun_computes_nothing(runs, monkeypatch, "ensemble_distribution_distillation",
                            [(end2, "fit_dirichlet_student"), (end2, "distill")],
                            ["seed0", "seed1"])


def test_tempering_rows_and_values_are_the_summary(runs):
    r = _results(runs["temperature_tempering"])
    cfg, v = tt.SPEC.sizes["smoke"], r["values"]
    kd = [row for row in r["rows"] if row["part"] == "a"]
    assert [(row["kd_temperature"], row["seed"]) for row in kd] == [
        (T, s) for T in cfg.kd_temperatures for s in range(cfg.seeds)]
    a = r["summary"]["a"]
    targets = [a[f"KD T={T:g}"]["target_entropy"]["mean"] for T in cfg.kd_temperatures]
    assert v["target_rise"] == pytest.approx(min(np.diff(targets)))
    draws = (cfg.sgld_steps - int(cfg.burn_in * cfg.sgld_steps)) // cfg.thin
    for tag in tt.SETS:
        chains = [row for row in r["rows"] if row["part"] == tag]
        assert [(row["posterior_temperature"], row["seed"]) for row in chains] == [
            (T, s) for T in cfg.posterior_temperatures for s in range(cfg.seeds)]
        for T in cfg.posterior_temperatures:  # one R-hat per setting, across its chains
            mixing = {(row["rhat_max"], row["ess_min"]) for row in chains
                      if row["posterior_temperature"] == T}
            assert len(mixing) == 1 and next(iter(mixing))[0] >= 1.0
        assert all(row["draws"] in (draws, draws + 1) for row in chains)
        s = r["summary"][tag]
        nll = {T: s[f"T_post={T:g}"]["nll"]["mean"] for T in cfg.posterior_temperatures}
        cold = min((T for T in nll if T < 1), key=nll.get)
        assert v[f"best_cold_T_{tag}"] == cold
        assert v[f"nll_gain_{tag}"] == pytest.approx(nll[1.0] - nll[cold])
        assert v[f"rhat_max_{tag}"] == max(s[k]["rhat_max"]["mean"] for k in s)
    assert v["rhat_max"] == max(v["rhat_max_plain"], v["rhat_max_aug"])


def test_tempering_resumed_run_recomputes_no_unit(runs, monkeypatch):
    units = ["a-kd", *(f"b-{tag}{i}" for tag in tt.SETS for i in range(2))]
    _rerun_computes_nothing(runs, monkeypatch, "temperature_tempering",
                            [(tempering, "tempered_chain_metrics"), (common, "train_arms")], units)


@pytest.mark.parametrize("setting", ["burn_in=0.95", "posterior_temperatures=1,0", "thin=0"])
def test_tempering_bad_settings_are_refused_before_any_work(tmp_path, setting):
    with pytest.raises(ValueError, match=setting.split("=")[0]):
        runner.resolve("temperature_tempering", size="smoke", overrides=[setting],
                       out=tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_dark_knowledge_rows_and_values_are_the_summary(runs):
    r = _results(runs["bayesian_dark_knowledge"])
    cfg, v, toy = bdk.SPEC.sizes["smoke"], r["values"], r["summary"]["toy"]
    arms = ["SGD", "SGLD", *bdk.ARMS.values()]
    assert [(row["part"], row["arm"], row["seed"]) for row in r["rows"]] == [
        (part, a, s) for s in range(cfg.seeds) for part, names in (
            ("toy", arms), ("digits", ["SGD", "SGLD", "online student"])) for a in names]
    for row in r["rows"]:
        if row["part"] == "toy":
            assert row["kl_ref"] >= 0 and 0 <= row["tv_ref"] <= 1 and 0 <= row["agreement_ref"] <= 1
    assert v["kl_sgld"] == toy["SGLD"]["kl_ref"]["mean"]
    assert v["kl_sgd"] == toy["SGD"]["kl_ref"]["mean"]
    students = [toy[a]["kl_ref"]["mean"] for a in bdk.ARMS.values()]
    assert v["kl_worst_student"] == max(students)
    assert v["best_over_sgld"] == pytest.approx(min(students) / v["kl_sgld"])
    d = r["summary"]["digits"]
    assert v["student_to_sgld"] == pytest.approx(abs(d["online student"]["nll"]["mean"]
                                                     - d["SGLD"]["nll"]["mean"]))
    nuts = r["extra"]["nuts"]  # the reference is reported with its convergence diagnostics
    assert nuts["predictive"]["chains"] == 2 and nuts["predictive"]["rhat_max"] >= 1.0
    assert nuts["divergent"] >= 0


def test_dark_knowledge_resumed_run_recomputes_no_unit(runs, monkeypatch):
    _rerun_computes_nothing(runs, monkeypatch, "bayesian_dark_knowledge",
                            [(bdk, "chain_arms"), (bdk, "nuts_reference")],
                            ["nuts", "seed0", "seed1", "digits0", "digits1"])


@pytest.mark.parametrize("setting", ["sgld_steps=500", "digits_steps=100", "grid=1"])
def test_dark_knowledge_bad_settings_are_refused_before_any_work(tmp_path, setting):
    with pytest.raises(ValueError, match=setting.split("=")[0]):
        runner.resolve("bayesian_dark_knowledge", size="smoke", overrides=[setting],
                       out=tmp_path / "o")
    assert not (tmp_path / "o").exists()

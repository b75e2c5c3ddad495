"""kd_as_map and privileged_information run as specs through the one runner at smoke size: what
their results.json records, that each verdict is its rule applied to the values, that the values
are the summary's, and that a resumed run recomputes no unit."""

import json

import numpy as np
import pytest

from bayeskd.experiments import runner
from bayeskd.experiments.specs import kd_as_map, privileged_information

SPECS = ("kd_as_map", "privileged_information")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("bayes_a")
    out = {}
    for name in SPECS:
        req = runner.resolve(name, size="smoke", out=root / name)
        runner.run(req, progress=False, log=lambda m: None)
        out[name] = (root / name, json.loads((root / name / "results.json").read_text()))
    return out


@pytest.mark.parametrize("name", SPECS)
def test_results_figures_and_verdicts_by_the_rule(runs, name):
    folder, r = runs[name]
    spec = {"kd_as_map": kd_as_map, "privileged_information": privileged_information}[name].SPEC
    assert (folder / f"{name}.png").is_file() and (folder / "summary.md").is_file()
    assert r["config"] == json.loads(json.dumps(runner.config_dict(spec.sizes["smoke"])))
    for e in spec.expectations:
        assert r["verdicts"][e.claim] == e.verdict(r["values"])
        assert r["verdicts"][e.claim] in ((None,) if isinstance(e.rule, type(
            kd_as_map.kit.Describe())) else (True, False))


def test_kd_minimiser_is_the_dirichlet_map_and_coverage_grows_with_level(runs):
    _, r = runs["kd_as_map"]
    v, gaps = r["values"], [row for row in r["rows"] if row["part"] == "map"]
    assert v["max_weight_gap"] == max(g["weight_gap"] for g in gaps) < 1e-6
    assert v["min_prob_gap_T4"] == min(g["prob_gap_T4"] for g in gaps) > 1e-3
    claim = kd_as_map.EXPECTATIONS[1].claim
    assert r["verdicts"][claim] == (abs(v["coverage"] - 0.9) <= 0.05)
    post = r["summary"]["posterior"]
    assert v["coverage"] == post["kd"]["coverage_0.9"]["mean"]
    for arm in ("kd", "labels"):
        cov = [post[arm][f"coverage_{lv:g}"]["mean"] for lv in kd_as_map.Config().levels]
        assert cov == sorted(cov) and all(0 <= c <= 1 for c in cov)
    assert len([row for row in r["rows"] if row["part"] == "posterior"]) == 2 * r["config"]["seeds"]


def test_kd_posterior_intervals_have_width_and_cover_p_star_near_nominal(runs):
    """The 90% intervals are the Langevin draws' own, not a point: every interval set has positive
    mean width, and the KD arm's coverage (mean over seeds) lies within 4 standard errors of
    nominal. The standard error counts one check per test input (its K class probabilities sum
    to 1: not independent checks), ``seeds * num_coverage`` of them, a binomial
    ``l (1 - l) / n``, plus the Monte Carlo error of each seed's interval ends from its draws,
    ``l (1 - l) / (seeds * ESS)`` (the run's smallest ESS, capped at the number of draws; taken
    as shared by every input of a seed, the conservative side). Intervals of copies of the MAP
    have width 0 and cover ~0%."""
    _, r = runs["kd_as_map"]
    cfg, lv = r["config"], kd_as_map.MAIN
    post = [row for row in r["rows"] if row["part"] == "posterior"]
    assert len(post) == 2 * cfg["seeds"]
    for row in post:
        assert row[f"mean_width_{lv:g}"] > 0, row
    kd = [row for row in post if row["arm"] == "kd"]
    ess = min(min(row["ess_min"] for row in kd), cfg["chains"] * cfg["samples"])
    assert ess > 0
    se = np.sqrt(lv * (1 - lv) * (1 / (cfg["seeds"] * cfg["num_coverage"])
                                  + 1 / (cfg["seeds"] * ess)))
    cov = float(np.mean([row[f"coverage_{lv:g}"] for row in kd]))
    assert cov == pytest.approx(r["values"]["coverage"], abs=1e-12)
    assert abs(cov - lv) <= 4 * se, f"coverage {cov:.3f}, nominal {lv}, 4 se = {4 * se:.3f}"


def test_privileged_every_setup_cell_and_selection(runs):
    _, r = runs["privileged_information"]
    pi, reps = privileged_information, r["config"]["repeats"]
    syn = [row for row in r["rows"] if row["part"] == "synthetic"]
    assert len(syn) == (len(pi.ARMS) + 1) * len(pi.SETUPS) * reps
    v = r["values"]
    for name, g in pi.SLUG.items():  # the privileged teacher beats the student alone everywhere
        assert v[f"teacher_{g}"] > v[f"student_{g}"]
        picks = []
        for rep in range(reps):  # the distilled student is the one best on validation
            cands = [row for row in syn if row["setup"] == name and row["repeat"] == rep
                     and row["model"] != "teacher"]
            picks.append(max(cands, key=lambda c: c["val_accuracy"])["test_accuracy"])
        assert v[f"distilled_{g}"] == pytest.approx(np.mean(picks), abs=1e-12)
        claim = next(e.claim for e in pi.EXPECTATIONS if e.ours == f"gain_{g}")
        assert r["verdicts"][claim] == pi.PUBLISHED[name][1].holds(v, f"gain_{g}")
    img = [row for row in r["rows"] if row["part"] == "images" and row["model"] == "student"]
    assert len(img) == len(pi.RES) * len(pi.ARMS) * r["config"]["seeds"]


def test_resumed_kd_as_map_recomputes_no_unit(runs, monkeypatch):
    folder, r = runs["kd_as_map"]

    def fail(*a, **k):
        raise AssertionError("a finished unit was computed again")

    monkeypatch.setattr(kd_as_map, "solve_maps", fail)
    monkeypatch.setattr(kd_as_map, "sample_kd_posterior", fail)
    log: list[str] = []
    again = runner.run(runner.resolve("kd_as_map", size="smoke", out=folder), progress=False,
                       log=log.append)
    assert json.loads(json.dumps(again["rows"])) == r["rows"]
    assert sum("reloaded" in line for line in log) == 2


@pytest.mark.parametrize("sets, message", [
    (["num_coverage=400"], "^num_coverage: at most num_test = 300"),
    (["levels=0.5,0.8"], r"^levels: in \(0, 1\), including 0.9"),
    (["levels=0.5,0.9,1.0"], r"^levels: in \(0, 1\), including 0.9"),
])
def test_kd_as_map_bad_sizes_refused_before_work(sets, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        runner.resolve("kd_as_map", size="smoke", overrides=sets, out=tmp_path / "o")
    assert not (tmp_path / "o").exists()

"""The ``mode_seeking`` and ``rag_privileged`` specs at smoke size through the runner: outputs,
values read from the summary, verdicts computed by their rules, and a resumed run that
recomputes nothing."""

import json

import pytest

from bayeskd.experiments import runner
from bayeskd.experiments.registry import FIGURES
from bayeskd.experiments.specs import mode_seeking

NAMES = ("mode_seeking",)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("lm_figs")
    out = {}
    for name in NAMES:
        runner.run(runner.resolve(name, size="smoke", out=root / name), progress=False,
                   log=lambda m: None)
        out[name] = root / name
    return out


def _results(runs, name) -> dict:
    return json.loads((runs[name] / "results.json").read_text())


@pytest.mark.parametrize("name", NAMES)
def test_outputs_written_and_every_verdict_a_boolean(runs, name):
    assert name in FIGURES
    for f in ("results.json", "results.csv", "summary.md", "timing.json", f"{name}.png",
              f"{name}.pdf"):
        assert (runs[name] / f).stat().st_size > 0, f
    r = _results(runs, name)
    assert r["spec"] == name and r["size"] == "smoke" and r["figures"] == [name]
    assert all(isinstance(v, bool) for v in r["verdicts"].values()), r["verdicts"]


def test_mode_seeking_rows_values_and_verdicts(runs):
    r = _results(runs, "mode_seeking")
    cfg = mode_seeking.SPEC.sizes["smoke"]
    labels = [mode_seeking.label(*d) for d in mode_seeking.DIVS]
    assert [(row["divergence"], row["seed"]) for row in r["rows"]] == [
        (d, s) for d in labels for s in range(cfg.seeds)]
    s, v = r["summary"]["students"], r["values"]
    assert v["valley_forward"] == s["forward_kl"]["mass_valley"]["mean"]
    assert v["major_reverse"] == s["reverse_kl"]["mass_major_mode"]["mean"]
    assert v["valley_jsd_09_std"] == s["jsd(beta=0.9)"]["mass_valley"]["std"]
    claims = [e.claim for e in mode_seeking.EXPECTATIONS]
    assert [r["verdicts"][c] for c in claims] == [
        v["valley_forward"] > v["valley_reverse"], v["major_reverse"] > v["major_forward"],
        v["valley_jsd_01"] > v["valley_jsd_09"]]
    for row in r["rows"]:  # masses of one distribution
        assert row["mass_mode_a"] + row["mass_mode_b"] + row["mass_valley"] == pytest.approx(1)
    # the published direction at smoke size: reverse KL locks every seed onto one mode
    assert all(row["mass_major_mode"] > 0.9 for row in r["rows"]
               if row["divergence"] == "reverse_kl")
    assert all(r["verdicts"].values())


def test_mode_seeking_verdicts_follow_the_numbers():
    """Each rule compares the arms its claim names (a middle arm set to mislead)."""
    agree = {"valley_forward": 0.4, "valley_reverse": 0.1, "major_forward": 0.3,
             "major_reverse": 0.9, "valley_jsd_01": 0.4, "valley_jsd_05": 0.5,
             "valley_jsd_09": 0.1, "teacher_valley": 0.5}
    disagree = agree | {"valley_forward": 0.1, "valley_reverse": 0.4, "major_forward": 0.9,
                        "major_reverse": 0.3, "valley_jsd_01": 0.1, "valley_jsd_05": 0.0,
                        "valley_jsd_09": 0.4}
    assert [e.verdict(agree) for e in mode_seeking.EXPECTATIONS] == [True] * 3
    assert [e.verdict(disagree) for e in mode_seeking.EXPECTATIONS] == [False] * 3


def test_mode_seeking_resumed_run_recomputes_nothing(runs, monkeypatch):
    def fail(*a, **k):
        raise AssertionError("a finished unit was computed again")

    before = _results(runs, "mode_seeking")
    monkeypatch.setattr(mode_seeking, "fit_unimodal", fail)
    log: list[str] = []
    again = runner.run(runner.resolve("mode_seeking", size="smoke", out=runs["mode_seeking"]),
                       progress=False, log=log.append)
    assert any("unit students: reloaded" in line for line in log)
    assert again["rows"] == before["rows"] and again["values"] == before["values"]

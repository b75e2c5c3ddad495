"""The ``mode_seeking`` and ``rag_privileged`` specs at smoke size through the runner: outputs,
values read from the summary, verdicts computed by their rules, bad settings refused, and a
resumed run that recomputes nothing."""

import json
import math

import pytest

from bayeskd.experiments import kit, runner
from bayeskd.experiments.registry import FIGURES
from bayeskd.experiments.specs import mode_seeking, rag_privileged
from bayeskd.training import rag

NAMES = ("mode_seeking", "rag_privileged")


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


def test_rag_rows_cover_every_arm_and_seed(runs):
    r = _results(runs, "rag_privileged")
    cfg = rag_privileged.SPEC.sizes["smoke"]
    accs, seeds = cfg.retriever.accuracies, cfg.seeds
    teachers = [row for row in r["rows"] if row["model"] == "teacher"]
    assert {(x["arm"], x["retriever_accuracy"], x["seed"]) for x in teachers} == {
        (arm, a, s) for arm in (rag.MARGINAL, rag.TOP1) for a in accs for s in range(seeds)}
    students = [(x["arm"], x["retriever_accuracy"], x["seed"]) for x in r["rows"]
                if x["model"] == "student"]
    assert students == [(arm, None, s) for arm in (rag.FLOOR, rag.CEILING)
                        for s in range(seeds)] + [(arm, a, s) for a in accs
                                                  for arm in (rag.MARGINAL, rag.TOP1)
                                                  for s in range(seeds)]
    st, te = r["summary"]["students"], r["summary"]["teachers"]
    assert st["labels for all | None"]["accuracy"]["mean"] == 1.0  # the ceiling knows every fact
    assert te["top-1 | 1.0"]["top1_hit_rate"]["mean"] == 1.0  # a perfect retriever hits


def test_rag_values_are_the_summary_and_verdicts_the_rules(runs):
    r = _results(runs, "rag_privileged")
    a = rag_privileged.SPEC.sizes["smoke"].main_accuracy
    st, te, v = r["summary"]["students"], r["summary"]["teachers"], r["values"]
    marg, floor = st[f"RAG marginal | {a:g}"]["accuracy"], st["labels only | None"]["accuracy"]
    assert v["accuracy_marginal"] == marg["mean"] and v["accuracy_floor"] == floor["mean"]
    assert v["sd_accuracy_marginal"] == pytest.approx(math.hypot(marg["std"], floor["std"]))
    assert v["teacher_ece_top1"] == te[f"top-1 | {a:g}"]["ece"]["mean"]
    assert v["right_page_accuracy"] == r["extra"]["right_page_accuracy"]
    acc, nll, ece = (r["verdicts"][e.claim] for e in rag_privileged.EXPECTATIONS)
    assert acc == all(v[f"accuracy_{x}"] > v["accuracy_floor"] + 2 * v[f"sd_accuracy_{x}"]
                      for x in ("marginal", "top1"))
    assert nll == all(v[f"nll_{x}"] < v["nll_floor"] - 2 * v[f"sd_nll_{x}"]
                      for x in ("marginal", "top1"))
    assert ece == (v["teacher_ece_marginal"]
                   < v["teacher_ece_top1"] - 2 * v["sd_teacher_ece_marginal"])
    assert acc is True  # the floor cannot know the teacher-only facts


@pytest.mark.parametrize(("k", "holds"), [(1.5, False), (2.5, True)])
def test_rag_accuracy_claim_needs_two_pooled_stds(k, holds):
    """Both distilled arms must beat the floor by more than 2 pooled std: 1.5 std does not."""
    e = rag_privileged.EXPECTATIONS[0]
    v = {"accuracy_floor": 0.1, "accuracy_ceiling": 1.0, "sd_accuracy_marginal": 0.1,
         "sd_accuracy_top1": 0.1, "accuracy_marginal": 0.1 + k * 0.1, "accuracy_top1": 0.9}
    assert e.verdict(v) is holds
    assert e.verdict(v | {"accuracy_marginal": 0.9, "accuracy_top1": 0.1 + k * 0.1}) is holds


@pytest.mark.parametrize(("override", "match"), [
    ("retriever.k=16", "retriever.k: must be smaller than num_entities = 16"),
    ("main_accuracy=0.7", "main_accuracy: unknown 0.7"),
    ("split.train_templates=3", "train_templates: must be smaller than num_templates = 3"),
    ("split.labelled_fraction=0.99", "labelled_fraction: must leave at least one"),
    ("kb.num_entities=1", "num_entities: must be an integer >= 2"),
    ("reader.width=30", "reader_width: must be divisible by 8"),
    ("retriever.accuracies=0.5,1.2", "accuracies: must lie in"),
])
def test_rag_bad_settings_refused_before_any_work(override, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        runner.resolve("rag_privileged", size="smoke", overrides=[override], out=tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_rag_resumed_run_recomputes_nothing(runs, monkeypatch):
    def fail(*a, **k):
        raise AssertionError("a finished unit was computed again")

    before = _results(runs, "rag_privileged")
    monkeypatch.setattr(rag, "train_reader", fail)
    monkeypatch.setattr(kit, "train_arms", fail)
    monkeypatch.setattr("bayeskd.experiments.common.train_arms", fail)
    log: list[str] = []
    again = runner.run(runner.resolve("rag_privileged", size="smoke",
                                      out=runs["rag_privileged"]), progress=False, log=log.append)
    assert any("unit teacher: reloaded" in line for line in log)
    assert any("unit students: reloaded" in line for line in log)
    assert again["rows"] == before["rows"] and again["values"] == before["values"]

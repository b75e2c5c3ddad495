"""posterior_zoo (and its digits variant) through the runner at smoke size: rows of every
teacher and student, R-hat / ESS and the convergence label on sampled posteriors, verdicts by
their rules, values from the summary, figures, a resumed run reloading every unit."""

import json

import pytest

from bayeskd.cli import main
from bayeskd.experiments import runner
from bayeskd.experiments.specs.posterior_zoo import DIGITS, SPEC
from bayeskd.posteriors.reference import converged

METHODS = "map,ensemble,laplace,sgld"  # the rest have their own unit tests (tests/posteriors)
SAMPLED = {"nuts", "sgld"}


def _run(out, log):
    req = runner.resolve("posterior_zoo", size="smoke", overrides=[f"methods={METHODS}"], out=out)
    return runner.run(req, progress=False, log=log)


@pytest.fixture(scope="module")
def zoo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("zoo") / "out"
    _run(out, lambda m: None)
    return out, json.loads((out / "results.json").read_text())


def test_every_teacher_and_its_student_has_a_row(zoo_run):
    _, r = zoo_run
    rows = r["rows"]
    teachers = {x["method"] for x in rows if x["role"] == "teacher"}
    assert teachers == {"nuts", *METHODS.split(",")}
    assert {x["method"] for x in rows if x["role"] == "student"} == teachers
    for x in rows:
        assert {"method", "role", "seed", "member", "accuracy", "nll", "kl_ref",
                "kl_ref_grid"} <= set(x)
        assert x["kl_ref"] >= 0 and 0 <= x["tv_ref"] <= 1 and x["accuracy"] > 0.6
    nuts = next(x for x in rows if x["method"] == "nuts" and x["role"] == "teacher")
    assert nuts["kl_ref"] == pytest.approx(0.0, abs=1e-6) and nuts["agreement_ref_grid"] == 1.0
    kl_map = {x["method"]: x["kl_map"] for x in rows if x["role"] == "teacher"}
    assert kl_map["map"] == pytest.approx(0.0, abs=1e-6) and kl_map["ensemble"] > 0
    assert all("kl_teacher" in x for x in rows if x["role"] == "student")
    ref = r["extra"]["reference"]
    assert ref["num_divergent"] < ref["num_transitions"] and ref["converged"] == converged(ref)


def test_sampled_posteriors_carry_rhat_ess_and_their_label(zoo_run):
    _, r = zoo_run
    for x in r["rows"]:
        sampled = x["role"] == "teacher" and x["method"] in SAMPLED
        assert ({"rhat_max", "ess_min", "converged"} <= set(x)) == sampled, x["method"]
        if sampled:
            assert x["rhat_max"] > 0.9 and x["ess_min"] > 0
            assert x["converged"] is converged(x)
    s = r["summary"]["zoo"]["sgld | teacher"]
    assert s["converged"]["mean"] in (0.0, 1.0) and "rhat_max" in s


def test_verdicts_are_the_rules_on_values_from_the_summary(zoo_run):
    _, r = zoo_run
    v, z = r["values"], r["summary"]["zoo"]
    assert v["kl_grid_map"] == pytest.approx(z["map | teacher"]["kl_ref_grid"]["mean"])
    assert v["kl_grid_sgld"] == pytest.approx(z["sgld | teacher"]["kl_ref_grid"]["mean"])
    assert v["nll_ensemble"] == pytest.approx(z["ensemble | teacher"]["nll"]["mean"])
    assert v["kl_grid_best_student"] == pytest.approx(min(
        c["kl_ref_grid"]["mean"] for k, c in z.items() if k.endswith("| student")))
    assert v["nll_swag"] is None and v["kl_grid_bdk"] is None  # not run: no verdict
    for e in SPEC.expectations:
        assert r["verdicts"][e.claim] == e.verdict(v)
        assert r["verdicts"][e.claim] in (True, False, None)
    assert r["verdicts"][SPEC.expectations[0].claim] == (v["kl_grid_sgld"] < v["kl_grid_map"])


def test_figures_and_tables_are_written(zoo_run):
    out, r = zoo_run
    assert r["figures"] == ["posterior_zoo", "posterior_zoo_entropy"]
    for name in ("posterior_zoo.png", "posterior_zoo_entropy.png", "results.csv", "summary.md"):
        assert (out / name).stat().st_size > 1000, name
    assert f"{r['summary']['zoo']['laplace | teacher']['nll']['mean']:.4f}" in (
        out / "summary.md").read_text()


def test_resumed_run_reloads_every_unit(zoo_run):
    out, r = zoo_run
    log = []
    again = _run(out, log.append)
    units = ["reference", "seed0-teacher-map", "seed0-teacher-ensemble", "seed0-teacher-laplace",
             "seed0-teacher-sgld", "seed0-students"]
    for u in units:
        assert any(f"unit {u}: reloaded" in line for line in log), u
    assert again["rows"] == r["rows"]


def test_digits_variant_is_the_job_with_dataset_digits():
    req = runner.resolve(DIGITS, size="smoke")
    assert req.cfg.dataset == "digits" and not req.cfg.digits.reference
    assert "--dataset digits" in runner.command_line(req)
    assert req.out.name == "posterior_zoo_digits"
    flag = runner.resolve("posterior_zoo", size="smoke", overrides=["dataset=digits"])
    assert flag.cfg == req.cfg


@pytest.mark.parametrize("args, needle", [
    (["--methods", "map,hmc"], "methods"),
    (["--dataset", "mnist"], "dataset"),
    (["--set", "moons.sgld.chains=99"], "sgld.chains"),
])
def test_bad_input_exits_2_without_files(tmp_path, capsys, args, needle):
    out = tmp_path / "zoo"
    assert main(["posterior-zoo", "--size", "smoke", *args, "--out", str(out)]) == 2
    assert needle in capsys.readouterr().err and not out.exists()

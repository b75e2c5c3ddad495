"""``bayeskd posterior-zoo`` at smoke size, and its bad-input handling (exit 2, no files)."""

import json

import pytest

from bayeskd.cli import main
from bayeskd.experiments import posterior_zoo as pz

REQUIRED = {"method", "role", "seed", "accuracy", "nll", "ece", "agreement_ref", "tv_ref", "kl_ref"}


# The gradient-free samplers, SVI, MC dropout and cyclical SGLD have their own closed-form unit
# tests (tests/posteriors); the job test runs the rest to stay within the test budget.
SMOKE_METHODS = ("map", "ensemble", "laplace")


def test_moons_smoke_writes_every_teacher_and_student(tmp_path):
    out = tmp_path / "zoo"
    assert main(["posterior-zoo", "--size", "smoke", "--out", str(out), "--no-progress",
                 "--methods", ",".join(SMOKE_METHODS)]) == 0
    res = json.loads((out / "results.json").read_text())
    assert (out / "results.csv").exists() and (out / "posterior_zoo.png").stat().st_size > 10_000
    rows = res["rows"]
    assert all(REQUIRED <= set(r) for r in rows)
    teachers = {r["method"] for r in rows if r["role"] == "teacher"}
    students = {r["method"] for r in rows if r["role"] == "student"}
    assert teachers == {"nuts", *SMOKE_METHODS} - {"bdk"}
    assert students == teachers
    nuts = next(r for r in rows if r["method"] == "nuts" and r["role"] == "teacher")
    assert nuts["kl_ref"] == pytest.approx(0.0, abs=1e-6) and nuts["agreement_ref_grid"] == 1.0
    for r in rows:
        assert r["kl_ref"] >= 0 and 0 <= r["tv_ref"] <= 1 and 0 <= r["accuracy"] <= 1
        assert r["accuracy"] > 0.6  # every teacher and student learned the moons
    assert res["reference"]["num_divergent"] < res["reference"]["num_transitions"]
    assert res["reference"]["rhat_max"] > 0.9
    assert {"kl_grid_map", "students_within_15pct"} <= set(res["checks"])
    kl_map = {r["method"]: r["kl_map"] for r in rows if r["role"] == "teacher"}
    assert kl_map["map"] == pytest.approx(0.0, abs=1e-6) and kl_map["ensemble"] > 0
    assert set(res["timing"]["seed0"]) >= {"map", "ensemble", "laplace", "students"}
    table = (out / "table.md").read_text()  # every number of the README table is from the results
    assert table.strip() == pz.markdown_table(res)
    summary = res["summary"]
    assert f"{summary['laplace']['teacher']['nll']['mean']:.4f}" in table
    assert f"{summary['map']['teacher']['kl_ref_grid']['mean']:.4f}" in table


def test_digits_config_has_no_plane_and_no_gradient_free_samplers():
    cfg = pz.PosteriorZooConfig(dataset="digits", size="smoke")
    assert not cfg.two_d and "aies" not in cfg.active_methods and "sgld" in cfg.active_methods
    assert pz.PosteriorZooConfig(dataset="moons").active_methods == pz.METHODS
    assert cfg.setup.nuts is None and pz.SETUPS[("moons", "quick")].nuts == pz.NUTSSettings(
        warmup=400, samples=400, chains=4)


def test_fits_include_the_fits_they_start_from():
    assert pz.fits_for(("laplace",)) == ["map", "laplace"]
    assert pz.fits_for(("swag_diag", "csgld")) == ["map", "ensemble", "swag", "csgld"]
    assert set(pz.FIT_OF.values()) == set(pz.FITTERS)


def test_checks_compare_map_ensemble_and_students():
    def g(**kw):
        return {k: {"mean": v, "std": 0.0, "n": 1} for k, v in kw.items()}

    summary = {"map": {"teacher": g(kl_ref_grid=0.03, nll=0.30),
                       "student": g(kl_ref_grid=0.031, nll=0.31)},
               "ensemble": {"teacher": g(kl_ref_grid=0.02, nll=0.28),
                            "student": g(kl_ref_grid=0.005, nll=0.35)}}
    checks = pz.checks(pz.PosteriorZooConfig(), summary)
    assert checks["map_over_best_student"] == pytest.approx(6.0)
    assert checks["map_over_best_student_gt_5"] and "ensemble_kl_below_map" not in checks
    assert checks["ensemble_nll_below_map"] and not checks["students_within_15pct"]


@pytest.mark.parametrize("args, name", [
    (["--dataset", "digits", "--plane"], "dataset"),
    (["--dataset", "mnist"], "dataset"),
    (["--size", "huge"], "size"),
    (["--methods", "map,hmc"], "methods"),
    (["--seeds", "0"], "seeds"),
])
def test_bad_input_exits_2_without_files(tmp_path, capsys, args, name):
    out = tmp_path / "zoo"
    assert main(["posterior-zoo", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"bayeskd: error: {name}:") and err.count("\n") == 1
    assert not out.exists()


def test_diverged_reference_fails_cleanly(tmp_path):
    def diverged(*args, **kwargs):
        raise ValueError("step_size: every one of the 80 NUTS transitions diverged")

    out = tmp_path / "zoo"
    with pytest.raises(ValueError, match="diverged"):
        pz.run(pz.PosteriorZooConfig(size="smoke"), out=out, log=lambda _: None,
               reference_fn=diverged)
    assert not out.exists()

"""``bayeskd reproduce NAME --set FIELD=VALUE``: overrides of a figure's size, checked by the
figure's ``check_size`` before any work: bad input gives one line, exit 2, nothing written."""

import json

import pytest

from bayeskd.cli import main
from bayeskd.experiments import registry
from bayeskd.experiments.figures._base import Report

CASES = [
    (["temperature_tempering", "--set", "nope=1"],
     "--set: temperature_tempering's size has no field 'nope'; allowed: seeds, teacher_steps"),
    (["temperature_tempering", "--set", "posterior_temperatures=1,0"],
     "posterior_temperatures: must be a finite number > 0, got 0.0"),
    (["temperature_tempering", "--set", "posterior_temperatures=-0.1"],
     "posterior_temperatures: must be a finite number > 0"),
    (["temperature_tempering", "--set", "kd_temperatures=4,-1"],
     "kd_temperatures: must be a finite number > 0, got -1.0"),
    (["temperature_tempering", "--set", "seeds=two"], "--set: seeds must be an integer, got 'two'"),
    (["temperature_tempering", "--set", "seeds"], "--set: must be FIELD=VALUE, got 'seeds'"),
    (["ensemble_distribution_distillation", "--set", "classes=1"],
     "classes: a Dirichlet (EnD²) student needs at least 2 classes, got 1"),
    (["kd_as_map", "--set", "levels=0.5,0.9,1.0"],
     r"levels: must lie in the open interval (0, 1), got 1.0"),
    (["kd_as_map", "--set", "levels=0,0.9"], "levels: must lie in the open interval (0, 1)"),
    (["privileged_information", "--set", "repeats=0"], "repeats: must be an integer >= 1"),
    (["bayesian_dark_knowledge", "--set", "students=student 2-3-2"],
     "students: unknown 'student 2-3-2'"),
]


@pytest.mark.parametrize("args, message", CASES)
def test_bad_size_override_exits_2_with_one_line_and_writes_nothing(args, message, tmp_path,
                                                                    capsys, monkeypatch):
    def no_work(*a, **k):  # the figure must never start
        raise AssertionError("the figure ran")

    monkeypatch.setattr(registry.figure_module(args[0]), "run", no_work)
    out = tmp_path / "out"
    code = main(["reproduce", *args, "--size", "smoke", "--out", str(out), "--no-progress"])
    err = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert code == 2
    assert len(err) == 1, err
    assert err[0].startswith("bayeskd: error: ") and message in err[0], err[0]
    assert not out.exists()


def test_set_with_all_is_refused(tmp_path, capsys):
    assert main(["reproduce", "--all", "--set", "seeds=2", "--out", str(tmp_path / "o")]) == 2
    assert "--set: give one figure name" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_overrides_reach_the_figure_and_are_recorded(tmp_path, monkeypatch):
    seen = {}

    def fake_run(size, *, seeds, log, progress, units):
        seen["size"], seen["seeds"] = size, seeds
        return Report(rows=[{"arm": "a", "seed": 0}], summary={}, comparisons=[], figures={},
                      headline="h")

    module = registry.figure_module("temperature_tempering")
    monkeypatch.setattr(module, "run", fake_run)
    out = tmp_path / "out"
    assert main(["reproduce", "temperature_tempering", "--size", "smoke", "--out", str(out),
                 "--no-progress", "--no-compile-cache", "--set", "posterior_temperatures=1,0.03",
                 "--set", "seeds=3", "--set", "step_size=2e-4"]) == 0
    assert seen["size"].posterior_temperatures == (1.0, 0.03)
    assert seen["size"].step_size == 2e-4 and seen["seeds"] == 3
    assert seen["size"].kd_temperatures == module.SIZES["smoke"].kd_temperatures  # untouched
    r = json.loads((out / "results.json").read_text())
    assert r["size_overrides"] == {"posterior_temperatures": [1.0, 0.03], "seeds": 3,
                                   "step_size": 2e-4}
    assert r["seeds"] == 3
    summary = (out / "summary.md").read_text()
    assert "--set posterior_temperatures=1.0,0.03 --set seeds=3" in summary


def test_apply_overrides_parses_by_the_current_type():
    size = registry.figure_module("bayesian_dark_knowledge").SIZES["smoke"]
    new, parsed = registry.apply_overrides(size, ["grid=7", "step_size=1e-3",
                                                  "students=student 2-10-2,student 2-100-2"])
    assert (new.grid, new.step_size) == (7, 1e-3)
    assert new.students == ("student 2-10-2", "student 2-100-2")
    assert parsed == {"grid": 7, "step_size": 1e-3,
                      "students": ("student 2-10-2", "student 2-100-2")}
    assert registry.apply_overrides(size, None) == (size, {})

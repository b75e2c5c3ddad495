"""The runner: the worked example of docs/extending.md run in a temporary folder, configuration
checks and ``--set`` on nested fields, caches keyed by the code that fills them, and bad input."""

import dataclasses
import json
import pathlib
import re

import numpy as np
import pytest

from bayeskd import cache, provenance
from bayeskd.cli import main
from bayeskd.experiments import kit, run
from bayeskd.experiments.config import apply_overrides, check_config
from bayeskd.experiments.render import summary_markdown
from bayeskd.experiments.teachers import train_teacher

REPO = pathlib.Path(__file__).resolve().parents[2]


def worked_example() -> kit.Spec:
    """The spec of docs/extending.md, executed from the document itself."""
    text = (REPO / "docs" / "extending.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    scope: dict = {"__name__": "worked_example"}
    exec(compile(code, "docs/extending.md", "exec"), scope)  # noqa: S102
    return scope["SPEC"]


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    spec = worked_example()
    out = tmp_path_factory.mktemp("example") / "out"
    return spec, out, run(spec, size="smoke", out=out, progress=False, log=lambda m: None)


def test_worked_example_runs_through_the_runner(example):
    spec, out, results = example
    for name in ("results.json", "timing.json", "results.csv", "summary.md"):
        assert (out / name).is_file(), name
    written = json.loads((out / "results.json").read_text())
    assert written == json.loads(json.dumps(results))
    assert [r["arm"] for r in written["rows"]] == ["T=1", "T=1", "T=4", "T=4"]
    assert set(written["summary"]["students"]) == {"T=1", "T=4"}
    v = written["values"]
    assert v["entropy_low_t"] == pytest.approx(written["summary"]["students"]["T=1"]["entropy"]["mean"])
    # the verdict is the rule applied to the numbers, nothing else
    claim = spec.expectations[0].claim
    assert written["verdicts"][claim] == (v["entropy_high_t"] > v["entropy_low_t"])
    assert (out / "summary.md").read_text() == summary_markdown(spec, written)
    # the teacher it used is recorded with the digests of the code that trained it
    teachers = [e for e in written["inputs"] if e["kind"] == "teachers"]
    assert len(teachers) == 1 and "bayeskd/training/trainer.py" in teachers[0]["code"]


def test_rerun_reloads_every_unit_and_fresh_retrains(example, monkeypatch):
    spec, out, results = example

    def fail(*a, **k):
        raise AssertionError("a finished unit was trained again")

    monkeypatch.setattr(kit, "train_arms", fail)
    monkeypatch.setattr("bayeskd.experiments.common.train_arms", fail)
    log: list[str] = []
    again = run(spec, size="smoke", out=out, progress=False, log=log.append)
    assert json.dumps(again["rows"]) == json.dumps(results["rows"])
    assert any("unit students: reloaded" in line for line in log)
    with pytest.raises(AssertionError, match="trained again"):  # --fresh trains again
        run(spec, size="smoke", out=out, fresh=True, progress=False, log=lambda m: None)
    assert json.loads((out / "results.json").read_text())["rows"] == results["rows"]


@dataclasses.dataclass(frozen=True)
class Inner:
    steps: int = kit.count(10, "steps")
    rate: float = kit.positive(0.1, "rate")


@dataclasses.dataclass(frozen=True)
class Outer:
    seeds: int = kit.count(2, "seeds")
    name: str = kit.choice("a", ("a", "b"), "a name")
    temps: tuple[float, ...] = kit.positive((1.0, 2.0), "temperatures")
    teacher: Inner = kit.section(Inner)


def test_set_reaches_nested_fields_and_reads_their_types():
    cfg, parsed = apply_overrides(Outer(), ["teacher.steps=5", "temps=0.5,4", "name=b"])
    assert cfg == Outer(name="b", temps=(0.5, 4.0), teacher=Inner(steps=5))
    assert parsed == {"teacher.steps": 5, "temps": (0.5, 4.0), "name": "b"}


@pytest.mark.parametrize(("overrides", "message"), [
    (["teacher.steps=0"], "teacher.steps: must be >= 1, got 0"),
    (["teacher.rate=-1"], "teacher.rate: must be > 0, got -1.0"),
    (["temps=1,0"], "temps: must be > 0, got 0.0"),
    (["name=c"], "name: must be one of a, b, got 'c'"),
    (["teacher.steps=x"], "teacher.steps: must be an integer, got 'x'"),
    (["teacher.nope=1"], "--set: no field 'teacher.nope'; allowed: seeds, name, temps, "
                         "teacher.steps, teacher.rate"),
    (["seeds"], "--set: must be FIELD=VALUE, got 'seeds'"),
])
def test_bad_values_name_the_field_and_what_is_allowed(overrides, message):
    with pytest.raises(ValueError) as e:
        check_config(apply_overrides(Outer(), overrides)[0])
    assert str(e.value) == message


# --------------------------------------------------------------------------- code-keyed caches


def test_teacher_retrains_when_its_code_changes_and_check_results_says_stale(tmp_path,
                                                                             monkeypatch):
    monkeypatch.setenv("BAYESKD_CACHE", str(tmp_path / "cache"))
    ds = kit.load_job_dataset("mnist1d")
    trained = []
    real_fit = kit.train_teacher.__globals__["fit"]

    def counting_fit(*a, **k):
        trained.append(1)
        return real_fit(*a, **k)

    monkeypatch.setitem(kit.train_teacher.__globals__, "fit", counting_fit)
    with cache.recording() as first:
        a = train_teacher(ds, steps=20)
    b = train_teacher(ds, steps=20)
    assert len(trained) == 1 and np.array_equal(a.logp_test, b.logp_test)  # reused
    with cache.fresh_caches():
        train_teacher(ds, steps=20)
    assert len(trained) == 2  # --fresh retrains the teacher too

    # the same settings under changed code: a new entry, trained again
    real_digests = provenance.code_digests

    def edited(modules):
        d = real_digests(modules)
        return d | {"bayeskd/training/trainer.py": "0" * 16} if "bayeskd/training/trainer.py" in d else d

    monkeypatch.setattr(cache, "code_digests", edited)
    with cache.recording() as second:
        train_teacher(ds, steps=20)
    assert len(trained) == 3
    assert first[0]["file"] != second[0]["file"]
    monkeypatch.setattr(cache, "code_digests", real_digests)

    # a result that used the first teacher is stale once the trainer's code differs
    root = tmp_path / "repo"
    for rel in first[0]["code"]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes((REPO / rel).read_bytes())
    result = tmp_path / "results.json"
    result.write_text(json.dumps({"inputs": first, "provenance": {
        "modules": {m: d for m, d in first[0]["code"].items()}}}))
    assert provenance.check_results([result], root=root)[0]["verdict"] == "current"
    with open(root / "bayeskd/training/trainer.py", "a") as f:
        f.write("\n# changed\n")
    verdict = provenance.check_results([result], root=root)[0]
    assert verdict["verdict"] == "stale"
    assert "cached input" in verdict["why"] and "bayeskd/training/trainer.py" in verdict["why"]


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("argv", "needle"), [
    (["reproduce", "nonesuch"], "name: unknown 'nonesuch'; choose one of: hinton_kd"),
    (["reproduce", "hinton_kd", "--size", "huge"], "--size: unknown 'huge'; choose one of: smoke"),
    (["reproduce", "hinton_kd", "--set", "nothing=1"], "--set: no field 'nothing'; allowed: seeds"),
    (["reproduce", "hinton_kd", "--set", "student_steps=abc"],
     "student_steps: must be an integer, got 'abc'"),
    (["reproduce", "hinton_kd", "--set", "temperatures=1,-2"], "temperatures: must be > 0"),
    (["reproduce", "hinton_kd", "--seeds", "0"], "seeds: must be >= 1, got 0"),
    (["reproduce"], "name: give one figure name or --all"),
    (["reproduce", "--all", "--set", "seeds=2"], "--set: give one figure name with --set"),
])
def test_reproduce_bad_input_is_one_line_exit_2_nothing_written(argv, needle, tmp_path, capsys):
    out = tmp_path / "out"
    assert main([*argv, "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("bayeskd: error: ") and needle in err, err
    assert not out.exists()


def test_unwritable_or_locked_out_is_refused(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["reproduce", "hinton_kd", "--size", "smoke", "--out", str(blocker)]) == 2
    assert "--out:" in capsys.readouterr().err
    import fcntl

    out = tmp_path / "busy"
    out.mkdir()
    with open(out / ".bayeskd.lock", "w") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        assert main(["reproduce", "hinton_kd", "--size", "smoke", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "is in use by another bayeskd job" in err
    assert sorted(p.name for p in out.iterdir()) == [".bayeskd.lock"]

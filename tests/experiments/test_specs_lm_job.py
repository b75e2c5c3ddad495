"""The language-model job (``lm-distill``, its text variant) and the figures that reuse it
(``lm_distillation``, ``distilbert_init``), each run once at smoke size through the runner."""

import json
import math
import shutil

import pytest

from bayeskd.checkpoint import TrainCheckpointer
from bayeskd.cli import main
from bayeskd.experiments import runner
from bayeskd.experiments.registry import get_spec
from bayeskd.experiments.specs import distilbert_init
from bayeskd.training import lm_distill as L

NAMES = ("lm_distillation", "distilbert_init", "lm_distill_text")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("lm_job")
    out = {}
    for name in NAMES:
        req = runner.resolve(name, size="smoke", out=root / name)
        out[name] = (req.out, runner.run(req, progress=False, log=lambda m: None))
    return out


def _spec_values(name, results):
    return results["values"], get_spec(name).expectations


@pytest.mark.parametrize("name", NAMES)
def test_outputs_written_and_json_matches_return(runs, name):
    out, results = runs[name]
    for f in ("results.json", "results.csv", "summary.md", "timing.json"):
        assert (out / f).stat().st_size > 0
    for stem in results["figures"]:
        assert (out / f"{stem}.png").stat().st_size > 0
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["rows"] == json.loads(json.dumps(results["rows"]))
    assert on_disk["spec"] == name and on_disk["size"] == "smoke"


@pytest.mark.parametrize("name", NAMES)
def test_verdicts_are_the_rules_applied_to_the_values(runs, name):
    _, results = runs[name]
    values, expectations = _spec_values(name, results)
    assert set(results["verdicts"]) == {e.claim for e in expectations}
    for e in expectations:
        assert results["verdicts"][e.claim] is e.verdict(values)
        assert results["verdicts"][e.claim] in (True, False, None)


def test_lm_distillation_values_come_from_the_summary(runs):
    _, r = runs["lm_distillation"]
    s, v = r["summary"], r["values"]
    m = s["methods"]
    assert list(m) == ["hard", "token-forward_kl", "online-forward_kl", "sequence",
                       "on_policy-forward_kl"]
    assert v["hard_kl"] == m["hard"]["kl_true"]["mean"]
    assert v["sequence_kl"] == m["sequence"]["kl_true"]["mean"]
    margins = [m["hard"][q]["mean"] - m[k][q]["mean"] - 2 * math.hypot(m["hard"][q]["std"],
                                                                        m[k][q]["std"])
               for k in m if k != "hard" for q in ("kl_true", "nll")]
    assert v["margin"] == pytest.approx(min(margins))
    # the published direction "every method beats hard by > 2 std" holds iff the margin is > 0
    claim = next(c for c in r["verdicts"] if "final step" in c)
    assert r["verdicts"][claim] is (min(margins) > 0)
    # posterior teachers: the ensemble has 4 members, one network has no epistemic part
    t = s["teachers"]
    assert set(t) == {"single", "ensemble-4", "mc_dropout-8", "single (main)"}
    assert abs(t["single"]["mutual_information"]["mean"]) < 1e-5
    assert t["ensemble-4"]["mutual_information"]["mean"] > 0
    assert sum(row["part"] == "member" for row in r["rows"]) == 4
    assert v["member_kl_std"] == pytest.approx(s["members"]["member"]["kl_true"]["std"])
    assert v["ensemble_teacher_kl"] == t["ensemble-4"]["kl_true"]["mean"]
    # top-k: the largest k below V = 64 with the uniform tail, 8 bytes per kept logit
    assert v["topk_bytes"] == pytest.approx(8 * 16 / (4 * 64))


def test_on_policy_students_are_not_the_online_students(runs):
    """The job's on-policy share reaches the on_policy students (and only them): with it at 0 the
    two methods are the same loss, seeds and steps, so their rows would be equal bit for bit."""
    _, r = runs["lm_distillation"]
    assert r["config"]["on_policy"] > 0
    rows = {m: [row for row in r["rows"] if row["part"] == "student" and row["method"] == m]
            for m in ("online-forward_kl", "on_policy-forward_kl")}
    online, on_policy = rows.values()
    assert len(online) == len(on_policy) == r["config"]["seeds"]
    for a, b in zip(online, on_policy, strict=True):
        assert a["seed"] == b["seed"]
        for metric in ("nll", "kl_true", "nll_best"):
            assert abs(a[metric] - b[metric]) > 1e-6, (metric, a[metric], b[metric])
    m = r["summary"]["methods"]
    assert m["on_policy-forward_kl"]["nll"]["mean"] != m["online-forward_kl"]["nll"]["mean"]


def test_distilbert_init_arms_share_one_teacher(runs):
    out, r = runs["distilbert_init"]
    a, t = r["summary"]["arms"], r["summary"]["teacher"]["teacher"]
    assert list(a) == ["random / hard", "random / kd", "distilbert / hard", "distilbert / kd",
                       "distilbert / kd+cos"]
    assert r["values"]["quality"] == pytest.approx(
        t["bits_per_token"]["mean"] / a["distilbert / kd"]["bits_per_token"]["mean"])
    units = json.loads((out / "timing.json").read_text())["units"]
    assert [u for u in units if u.startswith("teacher")] == ["teacher"]
    assert "distilbert-cos0.5-student-hard" not in units  # the cosine arm trains no hard students


def test_text_variant_is_the_job_with_its_preset(runs):
    _, r = runs["lm_distill_text"]
    assert r["config"]["data"] == "text"
    assert "--data text --methods hard,online-forward_kl" in r["command"]
    assert r["command"].startswith("bayeskd lm-distill ")
    assert list(r["summary"]["methods"]) == ["hard", "online-forward_kl"]
    students = [row for row in r["rows"] if row["part"] == "student"]
    assert students and not any("kl_true" in row for row in students)  # no p* for text
    assert r["extra"]["data"]["kind"] == "text"


def test_a_repeated_run_reloads_every_unit(runs, monkeypatch):
    out, first = runs["distilbert_init"]

    def fail(*a, **k):
        raise AssertionError("a finished unit was trained again")

    monkeypatch.setattr(L, "fit", fail)  # every teacher and student of the job trains through it
    logs = []
    req = runner.resolve("distilbert_init", size="smoke", out=out)
    again = runner.run(req, progress=False, log=logs.append)
    reloaded = {m.split("unit ", 1)[1].split(":")[0] for m in logs if m.endswith("reloaded")}
    units = json.loads((out / "timing.json").read_text())["units"]
    assert units and set(units) <= reloaded  # nothing trained again
    students = {f"{init}-cos{req.cfg.hidden_weight * cos:g}-student-{m}"
                for init, cos in distilbert_init.ARMS for m in req.cfg.methods
                if not (cos and m == "hard")}
    assert len(students) == 5 and students | {"teacher"} <= reloaded
    assert again["rows"] == first["rows"] and again["values"] == first["values"]


def test_an_interrupted_student_resumes_from_its_trainer_checkpoint(runs, tmp_path, monkeypatch):
    """A job killed after a student's first trainer checkpoint trains only the steps after it on
    the rerun (the other units reloaded), and ends where the uninterrupted student ended."""
    src, first = runs["lm_distill_text"]
    out, unit, method = tmp_path / "text", "student-online-forward_kl", "online-forward_kl"
    shutil.copytree(src, out)
    (out / ".checkpoints" / "units" / f"{unit}.npz").unlink()  # as if never finished
    req = runner.resolve("lm_distill_text", size="smoke", out=out)
    cfg, save = req.cfg, TrainCheckpointer.save
    assert cfg.student_steps > cfg.eval_every

    class Killed(Exception):
        pass

    def save_then_die(self, step, *a, **k):
        save(self, step, *a, **k)
        if self.directory.name == unit:
            raise Killed(step)

    monkeypatch.setattr(TrainCheckpointer, "save", save_then_die)
    with pytest.raises(Killed):
        runner.run(req, progress=False, log=lambda m: None)
    monkeypatch.undo()
    logs = []
    again = runner.run(req, progress=False, log=logs.append)
    assert f"[checkpoint] resuming {unit} from step {cfg.eval_every}" in logs
    reloaded = {m.split("unit ", 1)[1].split(":")[0] for m in logs if m.endswith("reloaded")}
    assert "teacher" in reloaded and "student-hard" in reloaded and unit not in reloaded
    # the resumed student's curve holds only the evaluations after its checkpoint
    steps = list(range(cfg.eval_every, cfg.student_steps + 1, cfg.eval_every))
    assert first["extra"]["curves"][method]["step"] == steps
    assert again["extra"]["curves"][method]["step"] == steps[1:]
    final = ("nll", "bits_per_token")
    assert [[r[k] for k in final] for r in again["rows"] if r.get("method") == method] == \
        [[r[k] for k in final] for r in first["rows"] if r.get("method") == method]


@pytest.mark.parametrize("flags, needle", [
    (["--methods", "hard,bogus"], "methods"),
    (["--methods", "token-jsd", "--beta", "1.5"], "beta"),
    (["--seeds", "100000"], "at most"),  # memory, before any work
    (["--vocab-size", "10000000"], "vocab_size: "),
    (["--init", "distilbert", "--set", "student_width=16"], "student_width"),
    (["--top-k", "1000"], "top_k"),
    (["--data", "/no/such/file.txt"], "--data"),
])
def test_bad_input_exits_2_naming_the_argument(flags, needle, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["lm-distill", "--size", "smoke", "--out", str(out), *flags]) == 2
    assert needle in capsys.readouterr().err
    assert not out.exists()

"""``bayeskd reproduce``: every paper figure at smoke size, its outputs, the direction the science
predicts, and bad input.

One module fixture runs ``bayeskd reproduce --all --size smoke`` (every figure, a few minutes on
2 cores); every figure test below reads its outputs. Exact pieces of the figures
(closed forms, helpers) are tested in ``test_experiments_figure_parts.py``.
"""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from bayeskd.cli import main
from bayeskd.experiments.registry import FIGURES, figure_module, list_figures

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def smoke_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("figures")
    assert main(["reproduce", "--all", "--size", "smoke", "--out", str(root), "--no-progress",
                 "--no-compile-cache"]) == 0
    return root


def results(root, name) -> dict:
    return json.loads((root / name / "results.json").read_text())


def test_every_figure_has_info_sizes_and_a_script():
    for name in FIGURES:
        m = figure_module(name)
        assert m.INFO.name == name
        assert set(m.SIZES) == {"smoke", "quick", "full"}
        assert m.SIZES["quick"].seeds >= 3 and m.SIZES["full"].seeds >= 5
        assert m.SIZES["smoke"].seeds >= 2
        assert set(m.INFO.runtime) == {"smoke", "quick", "full"}
        script = REPO / "experiments" / f"{name}.py"
        text = script.read_text()
        assert f"bayeskd reproduce {name}" in text and "quick" in text and "Mirrors" in text
        for field in ("Claim:", "Published:", "Ours:", "Command:"):  # a readable recipe
            assert field in text, (name, field)


def test_list(capsys):
    assert main(["reproduce", "--list"]) == 0
    out = capsys.readouterr().out
    assert out == list_figures() + "\n"
    for name in FIGURES:
        assert name in out
    assert "smoke (2 seeds" in out and "quick (3 seeds" in out and "full (5 seeds" in out


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["reproduce", "nope"], "hinton_kd, label_smoothing_teacher"),
        (["reproduce", "hinton_kd", "--size", "huge"], "smoke, quick, full"),
        (["reproduce", "hinton_kd", "--seeds", "0"], "--seeds"),
        (["reproduce", "--all", "--size", "tiny"], "smoke, quick, full"),
        (["reproduce"], "--all"),
        (["reproduce", "hinton_kd", "--all"], "--all"),
        (["reproduce", "--list", "--all"], "--list"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, argv, needle):
    out = tmp_path / "out"
    assert main([*argv, "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bayeskd: error: ") and err.count("\n") == 1
    assert needle in err
    assert not out.exists()


def test_script_runs_the_same_command(tmp_path):
    """``python experiments/NAME.py`` is the CLI: bad input gives the CLI's one-line error."""
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, str(REPO / "experiments" / "variance_reduction.py"), "--size", "big",
         "--out", str(out)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "bayeskd: error: --size: unknown 'big'; choose one of: smoke, quick, full"
    assert not out.exists()


def test_all_outputs(smoke_root):
    for name in FIGURES:
        d = smoke_root / name
        r = json.loads((d / "results.json").read_text())
        assert r["figure"] == name and r["size"] == "smoke" and r["seeds"] >= 2
        assert r["timing"]["runtime_s"] > 0
        assert {"git_commit", "git_dirty", "command", "jax"} <= set(r["provenance"])
        assert r["comparisons"] and all({"claim", "published", "ours", "agrees"} <= set(c)
                                        for c in r["comparisons"])
        assert r["rows"] and r["headline"]
        csv_lines = (d / "results.csv").read_text().splitlines()
        assert len(csv_lines) == 1 + len(r["rows"])
        for stem in r["figures"]:
            png, pdf = d / f"{stem}.png", d / f"{stem}.pdf"
            assert 10_000 < png.stat().st_size < 300_000, png
            assert png.read_bytes()[:4] == b"\x89PNG" and pdf.read_bytes()[:4] == b"%PDF"
        summary = (d / "summary.md").read_text()
        assert "| claim | published | ours | same direction? |" in summary
        assert f"bayeskd reproduce {name} --size smoke" in summary
        for c in r["comparisons"]:
            assert c["published"] in summary
        assert not list(d.glob("*.tmp")) and not list(d.glob(".*.tmp"))


def test_readme_table(smoke_root):
    table = (smoke_root / "README_table.md").read_text().splitlines()
    rows = [line for line in table if line.startswith("| [`")]
    assert [r.split("`")[1] for r in rows] == list(FIGURES)
    assert all("(smoke, " in r for r in rows)
    timing = json.loads((smoke_root / "reproduce_all_timing.json").read_text())
    assert timing["size"] == "smoke" and set(timing["per_figure_s"]) == set(FIGURES)
    assert any("reproduce --all --size smoke` took" in line for line in table)


def test_same_command_same_results(smoke_root, tmp_path):
    """Everything but the timing is byte-reproducible (variance_reduction: the cheapest figure)."""
    out = tmp_path / "again"
    assert main(["reproduce", "variance_reduction", "--size", "smoke", "--out", str(out),
                 "--no-progress", "--no-compile-cache"]) == 0
    a = json.loads((smoke_root / "variance_reduction" / "results.json").read_text())
    b = json.loads((out / "results.json").read_text())
    a.pop("timing"), b.pop("timing")
    pa, pb = a.pop("provenance"), b.pop("provenance")
    assert pa["command"] != pb["command"]  # only --out differs
    assert a == b
    assert (out / "results.csv").read_bytes() == (smoke_root / "variance_reduction" /
                                                   "results.csv").read_bytes()
    # a custom --out writes only inside it (no README table next to it)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again"]


# ----------------------------------------------------------------------------- the science, at smoke


def test_hinton_kd(smoke_root):
    r = results(smoke_root, "hinton_kd")
    s = r["summary"]
    students = [v["accuracy"]["mean"] for part in ("a", "b") for v in s[part].values()]
    assert s["teacher"]["accuracy"] > max(students) + 0.1  # the CNN teacher beats every MLP
    assert {row["part"] for row in r["rows"]} == {"a", "b", "c"}
    c = [row for row in r["rows"] if row["part"] == "c"]
    for row in c:  # raising class 3's bias can only add predictions of 3
        assert row["recall_after"] >= row["recall_before"] and row["bias_shift"] >= 0
    labels_only = [row for row in c if row["arm"] == "labels only"]
    kd = [row for row in c if row["arm"] == "soft targets"]
    # a student that never saw a 3 never predicts one ...
    assert max(row["recall_before"] for row in labels_only) < 0.05
    # ... but soft targets carry enough about 3s that a bias shift recovers many of them
    assert sum(row["recall_after"] for row in kd) / len(kd) > 0.1


def test_label_smoothing_teacher(smoke_root):
    r = results(smoke_root, "label_smoothing_teacher")
    teachers = [row for row in r["rows"] if row["part"] == "teacher"]
    ent = {e: [row["entropy"] for row in teachers if row["epsilon"] == e] for e in (0.0, 0.2)}
    assert min(ent[0.2]) > max(ent[0.0])  # smoothing makes the teacher less confident
    students = [row for row in r["rows"] if row["part"] == "student"]
    assert len(students) == 2 * 2 * 2  # epsilon x teacher seed x temperature
    assert all(0 <= row["agreement"] <= 1 and row["kl_teacher_student"] >= 0 for row in students)


def test_self_distillation(smoke_root):
    r = results(smoke_root, "self_distillation")
    for k in r["extra"]["kernel"]:
        assert k["collapse_round"] >= k["r0"] - 1  # the lower bound on rounds before collapse
        assert min(k["test_mse"]) < k["test_mse"][0]  # self-distillation first helps
        assert k["test_mse"][-1] > min(k["test_mse"])  # ... then over-regularises
    ban = [row for row in r["rows"] if row["part"] == "ban"]
    for g in range(3):
        for s in range(2):
            ens = next(row for row in ban if row["model"] == "ensemble 0..g"
                       and row["generation"] == g and row["seed"] == s)
            members = [row["nll"] for row in ban if row["model"] == "generation"
                       and row["generation"] <= g and row["seed"] == s]
            # -log of a mean probability is at most the mean of -log probabilities (Jensen)
            assert ens["nll"] <= sum(members) / len(members) + 1e-6


def test_variance_reduction(smoke_root):
    r = results(smoke_root, "variance_reduction")
    ratios = r["summary"]["variance_ratio"]
    assert all(v > 1.5 for v in ratios.values())  # conditioning on x removes the label noise
    st = r["summary"]["students"]
    assert st["20 | p*"]["test_nll"]["mean"] < st["20 | one-hot"]["test_nll"]["mean"] - 0.1
    assert all(v["excess_nll"]["mean"] > -0.02 for v in st.values())  # none beats Bayes by much


def test_fidelity(smoke_root):
    r = results(smoke_root, "fidelity")
    s = r["summary"]
    for v in s["self_distillation"].values():
        assert 0.3 < v["agreement"]["mean"] < 1.0 and v["kl_teacher_student"]["mean"] > 0
        assert v["train_agreement"]["mean"] < 1.0
    # an ensemble of 5 CNNs beats its average member
    assert s["ensemble_teacher"]["accuracy"] > s["single_members_accuracy"]["mean"]


def test_teacher_quality(smoke_root):
    r = results(smoke_root, "teacher_quality")
    t = r["summary"]["teachers"]
    assert t["cnn, barely trained"]["accuracy"] < t["cnn"]["accuracy"] - 0.2
    st = r["summary"]["students"]
    assert st["cnn | labels"]["accuracy"]["mean"] > st["mlp | labels"]["accuracy"]["mean"] + 0.1


def test_prior_table(smoke_root):
    r = results(smoke_root, "prior_table")
    s = r["summary"]["by_dataset"]["mnist1d"]
    assert set(s) == {"none", "weight_decay", "dropout", "label_smoothing", "kd", "kd_ensemble",
                      "self_distillation"}  # no SWAG at smoke size
    for v in s.values():
        assert {"accuracy", "nll", "ece", "brier", "train_test_gap", "noise_accuracy",
                "input_grad_norm"} <= set(v)
    assert s["label_smoothing"]["ece"]["mean"] < s["none"]["ece"]["mean"]
    assert s["weight_decay"]["train_test_gap"]["mean"] < s["none"]["train_test_gap"]["mean"]
    teachers = r["summary"]["setup"]["mnist1d"]["teachers"]
    assert teachers["kd_ensemble"]["accuracy"] > teachers["kd"]["accuracy"]
    assert "| kd_ensemble |" in (smoke_root / "prior_table" / "summary.md").read_text()


def test_bayesian_dark_knowledge(smoke_root):
    r = results(smoke_root, "bayesian_dark_knowledge")
    arms = r["summary"]["arms"]
    from bayeskd.experiments.figures import bayesian_dark_knowledge as bdk

    assert set(arms) == {"SGD", "SGLD", bdk.WINDOW_ARM, *bdk.student_arms(bdk.SIZES["smoke"].students)}
    assert all(a["kl_ref"]["mean"] >= 0 for a in arms.values())
    check_bdk_results(r, bdk)


def check_bdk_results(r, bdk):
    """Digits arms, the student-capacity record and ArviZ's NUTS diagnostics are recorded."""
    s = r["summary"]
    assert set(s["digits"]) == set(bdk.DIGIT_ARMS)
    assert all(0 <= a["test_error"]["mean"] <= 1 and a["nll"]["mean"] > 0
               for a in s["digits"].values())
    cap = s["student_capacity"]
    assert [c["student"] for c in cap] == list(bdk.SIZES["smoke"].students)
    assert all(c["weights"] == s["student_weights"][c["student"]] for c in cap)
    assert all(c["kl_ref"] == s["arms"][c["student"]]["kl_ref"]["mean"] for c in cap)
    # both student-input arms are recorded, each with its own KLs and verdicts
    ins = s["student_inputs"]["arms"]
    assert set(ins) == set(bdk.STUDENT_INPUTS)
    for inputs, arm in ins.items():
        assert arm["kl_ref"] == {c["student"]: s["arms"][bdk.student_arm(c["student"], inputs)]
                                 ["kl_ref"]["mean"] for c in cap}
    assert all(c["kl_ref_perturbed"] == ins["perturb"]["kl_ref"][c["student"]] for c in cap)
    for part in ("weights", "predictive"):
        d = s["nuts_diagnostics"][part]
        assert d["chains"] == 2 and d["rhat_max"] >= d["rhat_median"] > 0.9 and d["ess_min"] > 0


def test_temperature_tempering(smoke_root):
    from bayeskd.experiments.figures import temperature_tempering as tt

    check_tempering_results(results(smoke_root, "temperature_tempering"), tt)


def check_tempering_results(r, tt):
    """Every arm is summarised, and the meeting points are computed from those numbers."""
    size = tt.SIZES["smoke"]
    kd, post = r["summary"]["kd"], r["summary"]["posterior"]
    assert set(kd) == {f"KD T={t:g}" for t in size.kd_temperatures}
    assert set(post) == {f"T_post={t:g}" + a for t in size.posterior_temperatures
                         for a in ("", " +aug")}
    # the softened targets' entropy rises with the KD temperature (a fact of the softmax)
    h = [kd[f"KD T={t:g}"]["target_entropy"]["mean"] for t in size.kd_temperatures]
    assert all(b > a for a, b in zip(h, h[1:], strict=False))
    meet = r["extra"]["entropy_meeting"]
    kd_t, post_t = np.array(size.kd_temperatures), np.array(size.posterior_temperatures)
    assert len(meet) == 2 * (len(kd_t) + len(post_t))  # (plain, aug) x (students + posteriors)
    targets = np.array([kd[f"KD T={t:g}"]["target_entropy"]["mean"] for t in kd_t])
    for m in meet:
        aug = " +aug" if m["augmented"] else ""
        curve = np.array([post[f"T_post={t:g}{aug}"]["entropy"]["mean"] for t in post_t])
        if m["kd_side"] == "student":  # the posterior temperature of the student's entropy
            h = kd[f"KD T={m['kd_temperature']:g}"]["entropy"]["mean"]
            assert m["posterior_temperature"] == tt.entropy_crossing(post_t, curve, h)
        else:  # the KD temperature whose targets carry the predictive's entropy
            h = post[f"T_post={m['posterior_temperature']:g}{aug}"]["entropy"]["mean"]
            assert m["kd_temperature"] == tt.entropy_crossing(kd_t, targets, h)
        assert m["entropy"] == h
    assert set(r["extra"]["cold_posterior_gain"]) == {"plain", "augmented"}


def test_kd_as_map_records_agreement_and_coverage(smoke_root):
    from bayeskd.experiments.figures import kd_as_map

    r = results(smoke_root, "kd_as_map")
    assert r["summary"]["max_weight_gap"] <= kd_as_map.AGREE_TOL
    assert r["comparisons"][0]["agrees"] is True
    for arm in ("kd", "labels"):
        cov = [r["summary"]["posterior"][arm][f"coverage_{lv:g}"]["mean"] for lv in kd_as_map.LEVELS]
        assert all(0.0 <= c <= 1.0 for c in cov)
        assert cov == sorted(cov)  # a wider interval covers at least as much


def test_end2_records_spearman_and_keeps_knowledge(smoke_root):
    r = results(smoke_root, "ensemble_distribution_distillation")
    arms = r["summary"]["arms"]
    assert arms["EnD"]["grid_mean_knowledge"]["mean"] == 0.0  # one softmax network
    assert arms["EnD²"]["grid_mean_knowledge"]["mean"] > 0.0
    assert -1.0 <= arms["EnD²"]["spearman_vs_ensemble_mi"]["mean"] <= 1.0
    assert {row["arm"] for row in r["rows"]} == {"ensemble", "EnD", "EnD²"}


def test_privileged_information_every_setup_and_cell(smoke_root):
    from bayeskd.experiments.figures import privileged_information as pi

    r = results(smoke_root, "privileged_information")
    syn = [row for row in r["rows"] if row["part"] == "synthetic"]
    assert {row["setup"] for row in syn} == set(pi.SETUPS)
    per = len(pi.arms()) + 1  # students + teacher per (setup, repeat)
    assert len(syn) == per * len(pi.SETUPS) * pi.SIZES["smoke"].repeats
    s = r["summary"]["synthetic"]
    for name in pi.SETUPS:  # the privileged teacher beats the student alone in every setup
        assert s[f"{name} | teacher"]["test_accuracy"]["mean"] > \
            s[f"{name} | student"]["test_accuracy"]["mean"]


def test_mode_seeking_forward_covers_and_reverse_seeks(smoke_root):
    r = results(smoke_root, "mode_seeking")
    assert [c["agrees"] for c in r["comparisons"]] == [True, True, True]
    rev = [row for row in r["rows"] if row["divergence"] == "reverse_kl"]
    assert rev and all(row["mass_major_mode"] > 0.9 for row in rev)  # each seed locks onto a mode


def test_lm_distillation_runs_every_mode_and_posterior_teacher(smoke_root):
    r = results(smoke_root, "lm_distillation")
    assert set(r["summary"]) == {"hard", "token-forward_kl", "online-forward_kl", "sequence",
                                 "on_policy-forward_kl"}
    assert len(r["rows"]) == 5 * r["seeds"]
    # distilled vs hard (final step, early-stopped), sequence, on-policy, top-k, and for the
    # ensemble and MC-dropout teachers: the teacher and its student; all but reverse KL's samples
    assert len(r["comparisons"]) == 9
    post = r["extra"]["posteriors"]
    assert set(post["teachers"]) == {"single", "ensemble-4", "mc_dropout-8"}
    assert abs(post["teachers"]["single"]["mutual_information"]) < 1e-6
    assert post["teachers"]["ensemble-4"]["mutual_information"] > 0
    assert post["teachers"]["mc_dropout-8"]["mutual_information"] > 0
    assert len(post["single_member_kl_true"]) == 4
    assert {row["teacher_posterior"] for row in post["rows"]} == set(post["teachers"])


def test_distilbert_init_runs_every_arm(smoke_root):
    r = results(smoke_root, "distilbert_init")
    assert set(r["summary"]) == {"random / hard", "random / kd", "distilbert / hard",
                                 "distilbert / kd", "distilbert / kd+cos"}
    assert 0 < r["extra"]["param_ratio"] < 1

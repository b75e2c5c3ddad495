"""The language-model figures at smoke size: they run, and the mode-seeking picture holds."""

import matplotlib.pyplot as plt

from bayeskd.experiments.figures import distilbert_init, lm_distillation, mode_seeking


def test_mode_seeking_forward_covers_and_reverse_seeks():
    report = mode_seeking.run(mode_seeking.SIZES["smoke"], seeds=2)
    assert [c.agrees for c in report.comparisons] == [True, True, True]
    rev = [r for r in report.rows if r["divergence"] == "reverse_kl"]
    assert all(r["mass_major_mode"] > 0.9 for r in rev)  # each seed locks onto one mode
    plt.close("all")


def test_lm_distillation_smoke_runs_every_mode():
    report = lm_distillation.run(lm_distillation.SIZES["smoke"], seeds=2)
    assert set(report.summary) == {"hard", "token-forward_kl", "online-forward_kl", "sequence",
                                   "on_policy-forward_kl"}
    assert len(report.rows) == 10 and "lm_distillation" in report.figures
    # distilled vs hard (final step, early-stopped), sequence, on-policy, top-k, and for the
    # ensemble and MC-dropout teachers: the teacher and its student; all but reverse KL's samples
    assert len(report.comparisons) == 9
    post = report.extra["posteriors"]
    assert list(post["teachers"]) == ["single", "ensemble-4", "mc_dropout-8"]
    assert abs(post["teachers"]["single"]["mutual_information"]) < 1e-6
    assert post["teachers"]["ensemble-4"]["mutual_information"] > 0
    assert post["teachers"]["mc_dropout-8"]["mutual_information"] > 0
    assert len(post["single_member_kl_true"]) == 4
    assert {r["teacher_posterior"] for r in post["rows"]} == set(post["teachers"])
    plt.close("all")


def test_distilbert_init_smoke_runs_every_arm():
    report = distilbert_init.run(distilbert_init.SIZES["smoke"], seeds=2)
    assert set(report.summary) == {"random / hard", "random / kd", "distilbert / hard",
                                   "distilbert / kd", "distilbert / kd+cos"}
    assert 0 < report.extra["param_ratio"] < 1
    plt.close("all")


def test_distilbert_verdict_needs_a_difference_beyond_two_std():
    s = {"random / kd": {"kl_true": {"mean": 0.193, "std": 0.003}},
         "noise": {"kl_true": {"mean": 0.192, "std": 0.0}},
         "clear": {"kl_true": {"mean": 0.150, "std": 0.003}}}
    assert not distilbert_init.lower_by_2std(s, "noise", "random / kd")  # lower mean, within noise
    assert distilbert_init.lower_by_2std(s, "clear", "random / kd")
    assert not distilbert_init.lower_by_2std(s, "random / kd", "clear")

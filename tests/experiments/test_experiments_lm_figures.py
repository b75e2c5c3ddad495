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
    assert len(report.comparisons) == 4  # all but reverse KL's sample quality
    plt.close("all")


def test_distilbert_init_smoke_runs_every_arm():
    report = distilbert_init.run(distilbert_init.SIZES["smoke"], seeds=2)
    assert set(report.summary) == {"random / hard", "random / kd", "distilbert / hard",
                                   "distilbert / kd", "distilbert / kd+cos"}
    assert 0 < report.extra["param_ratio"] < 1
    plt.close("all")

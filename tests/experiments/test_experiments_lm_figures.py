"""Pieces of the language-model figures. Their smoke runs are the one ``reproduce --all`` run of
``test_experiments_reproduce.py``, whose outputs the LM figure tests there read."""

from bayeskd.experiments.figures import distilbert_init


def test_distilbert_verdict_needs_a_difference_beyond_two_std():
    s = {"random / kd": {"kl_true": {"mean": 0.193, "std": 0.003}},
         "noise": {"kl_true": {"mean": 0.192, "std": 0.0}},
         "clear": {"kl_true": {"mean": 0.150, "std": 0.003}}}
    assert not distilbert_init.lower_by_2std(s, "noise", "random / kd")  # lower mean, within noise
    assert distilbert_init.lower_by_2std(s, "clear", "random / kd")
    assert not distilbert_init.lower_by_2std(s, "random / kd", "clear")

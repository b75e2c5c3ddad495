"""Tests for bayeskd.metrics.summary and the package's re-exports."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

import bayeskd.metrics
from bayeskd.metrics import classification_metrics, format_mean_std, mean_std, pct, summarize

PROBS = jnp.array([[0.75, 0.25], [0.5, 0.5], [1.0, 0.0]])
LABELS = jnp.array([0, 1, 0])


def test_classification_metrics_hand_computed():
    m = classification_metrics(PROBS, LABELS, num_bins=2)
    assert set(m) == {"accuracy", "nll", "ece", "mce", "brier", "entropy"}
    assert all(type(v) is float for v in m.values())
    # correct: yes, no (tie -> class 0), yes
    assert m["accuracy"] == pytest.approx(2 / 3)
    # -(log .75 + log .5 + log 1) / 3
    assert m["nll"] == pytest.approx(-(math.log(0.75) + math.log(0.5)) / 3, rel=1e-6)
    # bin 0 (0, .5]: {.5 wrong} gap .5; bin 1 (.5, 1]: {.75, 1 right} gap .125
    assert m["ece"] == pytest.approx(0.25, rel=1e-6)
    assert m["mce"] == pytest.approx(0.5, rel=1e-6)
    # (.0625 + .0625) + (.25 + .25) + 0 = .625, over 3
    assert m["brier"] == pytest.approx(0.625 / 3, rel=1e-6)
    h_075 = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert m["entropy"] == pytest.approx((h_075 + math.log(2)) / 3, rel=1e-6)


def test_classification_metrics_teacher_direction():
    student = jnp.array([[0.5, 0.5], [0.5, 0.5]])
    teacher = jnp.array([[1.0, 0.0], [0.0, 1.0]])
    m = classification_metrics(student, jnp.array([0, 1]), teacher_probs=teacher)
    # KL(teacher || student) = log 2 per example (the reverse would be huge).
    assert m["kl_teacher_student"] == pytest.approx(math.log(2), rel=1e-6)
    # student ties resolve to class 0: agrees with the teacher on example 0 only
    assert m["agreement"] == 0.5
    assert all(type(v) is float for v in m.values())


def test_mean_std():
    assert mean_std([1.0, 2.0, 3.0]) == {"mean": 2.0, "std": 1.0, "n": 3}  # ddof = 1
    assert mean_std([0.7]) == {"mean": pytest.approx(0.7), "std": 0.0, "n": 1}
    values = np.array([0.1, 0.4, 0.35, 0.2])
    out = mean_std(jnp.asarray(values))
    assert out["std"] == pytest.approx(np.std(values, ddof=1), rel=1e-6)
    assert type(out["mean"]) is float and type(out["std"]) is float and type(out["n"]) is int
    with pytest.raises(ValueError, match="values"):
        mean_std([])


ROWS = [{"student": "mlp", "arm": "labels", "acc": 0.5, "nll": 1.0},
        {"student": "mlp", "arm": "labels", "acc": 0.7},
        {"student": "cnn", "arm": "labels", "acc": 0.9, "nll": 0.25},
        {"student": "mlp", "arm": "kd", "acc": 0.6}]


def test_summarize_keys_are_values_or_tuples_of_values():
    by_arm = summarize(ROWS, group="arm", metrics=["acc"])
    assert list(by_arm) == ["labels", "kd"]  # order of first appearance
    assert by_arm["labels"]["acc"] == {"mean": pytest.approx(0.7), "std": pytest.approx(0.2),
                                       "n": 3}
    both = summarize(ROWS, group=("student", "arm"), metrics=["acc", "nll"])
    assert list(both) == [("mlp", "labels"), ("cnn", "labels"), ("mlp", "kd")]
    assert both[("mlp", "labels")]["acc"] == {"mean": pytest.approx(0.6),
                                              "std": pytest.approx(0.1414213562), "n": 2}


def test_summarize_uses_only_the_rows_that_have_a_metric():
    s = summarize(ROWS, group=("student", "arm"), metrics=["acc", "nll"])
    assert s[("mlp", "labels")]["nll"] == {"mean": 1.0, "std": 0.0, "n": 1}
    assert "nll" not in s[("mlp", "kd")]  # no row of the group has it


def test_format_mean_std():
    s = {"mean": 0.93125, "std": 0.0042, "n": 3}
    assert format_mean_std(s) == "0.931 ± 0.004"
    assert format_mean_std(s, scale=100, digits=1, unit="%") == "93.1 ± 0.4 %" == pct(s)
    assert format_mean_std(s, digits=2) == "0.93 ± 0.00"
    assert format_mean_std({}) == "-" and format_mean_std({"mean": math.nan, "std": 0.0}) == "-"


def test_public_api_is_exported():
    for name in bayeskd.metrics.__all__:
        assert hasattr(bayeskd.metrics, name), name

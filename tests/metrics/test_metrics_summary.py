"""Tests for bayeskd.metrics.summary and the package's re-exports."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

import bayeskd.metrics
from bayeskd.metrics import classification_metrics, mean_std

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
    assert mean_std([1.0, 2.0, 3.0]) == {"mean": 2.0, "std": 1.0}  # ddof = 1
    assert mean_std([0.7]) == {"mean": pytest.approx(0.7), "std": 0.0}
    values = np.array([0.1, 0.4, 0.35, 0.2])
    out = mean_std(jnp.asarray(values))
    assert out["std"] == pytest.approx(np.std(values, ddof=1), rel=1e-6)
    assert all(type(v) is float for v in out.values())
    with pytest.raises(ValueError):
        mean_std([])


def test_public_api_is_exported():
    for name in bayeskd.metrics.__all__:
        assert hasattr(bayeskd.metrics, name), name

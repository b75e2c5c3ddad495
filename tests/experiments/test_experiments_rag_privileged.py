"""The ``rag_privileged`` figure at smoke size: it runs, every arm is there, and its verdicts are
computed from its numbers (swapping two arms turns them)."""

import dataclasses

import matplotlib.pyplot as plt
import pytest

from bayeskd.experiments import registry
from bayeskd.experiments.figures import rag_privileged as rag

SMOKE = rag.SIZES["smoke"]


@pytest.fixture(scope="module")
def smoke():
    report = rag.run(SMOKE, seeds=2)
    plt.close("all")
    return report


def _again(rows, **kwargs):
    out = rag.report_from_rows(rows, SMOKE, right_page_accuracy=1.0, **kwargs)
    plt.close("all")
    return out


def _swap(rows, model, a, b):
    """The rows with groups ``a`` and ``b`` (``(arm, retriever accuracy)``) of ``model``
    exchanged: their numbers trade places."""
    out = []
    for r in rows:
        group = (r["arm"], r["retriever_accuracy"])
        if r["model"] == model and group in (a, b):
            new = b if group == a else a
            r = r | {"arm": new[0], "retriever_accuracy": new[1]}
        out.append(r)
    return out


def test_registered_and_sizes_valid():
    assert "rag_privileged" in registry.FIGURES
    assert registry.figure_module("rag_privileged") is rag
    for size in rag.SIZES.values():
        rag.check_size(size)
    assert rag.SIZES["quick"].seeds >= 3


def test_smoke_runs_every_arm_and_seed(smoke):
    students = {(r["arm"], r["retriever_accuracy"], r["seed"]) for r in smoke.rows
                if r["model"] == "student"}
    assert len(students) == len(rag.student_arms(SMOKE)) * 2
    teachers = [r for r in smoke.rows if r["model"] == "teacher"]
    assert len(teachers) == 2 * len(SMOKE.accuracies) * 2
    assert set(smoke.summary["students"]) == set(rag.student_arms(SMOKE))
    assert len(smoke.comparisons) == 4 and "rag_privileged" in smoke.figures
    assert [isinstance(c.agrees, bool) for c in smoke.comparisons] == [True, True, True, False]
    # the ceiling knows every answer; the teacher's top-1 hit rate is the retriever's accuracy
    assert smoke.summary["students"][(rag.CEILING, None)]["accuracy"]["mean"] == 1.0
    assert smoke.summary["teachers"][(rag.TOP1, 1.0)]["top1_hit_rate"]["mean"] == 1.0


def test_privileged_verdict_follows_the_numbers(smoke):
    first = smoke.comparisons[0]
    assert first.agrees is True  # the floor cannot know the teacher-only facts
    swapped = _again(_swap(smoke.rows, "student", (rag.FLOOR, None),
                           (rag.MARGINAL, SMOKE.main_accuracy)))
    assert swapped.comparisons[0].agrees is False


def test_calibration_verdict_follows_the_numbers(smoke):
    a = SMOKE.main_accuracy
    ece = {rag.MARGINAL: 0.05, rag.TOP1: 0.30}
    rows = [r | ({"ece": ece[r["arm"]] + 0.001 * r["seed"]} if r["arm"] in ece else {})
            for r in smoke.rows]
    report = _again(rows)
    assert report.comparisons[2].agrees is True
    assert "marginal better by > 2 std" in report.comparisons[3].ours
    swapped = _again(_swap(_swap(rows, "teacher", (rag.MARGINAL, a), (rag.TOP1, a)),
                           "student", (rag.MARGINAL, a), (rag.TOP1, a)))
    assert swapped.comparisons[2].agrees is False
    assert "top-1 better by > 2 std" in swapped.comparisons[3].ours


@pytest.mark.parametrize(("field", "value", "match"), [
    ("k", 0, "k: must be an integer >= 1"),
    ("k", 16, "k: must be smaller than num_entities = 16"),
    ("accuracies", (0.5, 1.2), r"accuracies: must lie in \[0, 1\]"),
    ("main_accuracy", 0.7, "main_accuracy: must be one of accuracies"),
    ("train_templates", 3, "train_templates: must be smaller than num_templates = 3"),
    ("labelled_fraction", 1.0, "labelled_fraction: must lie in the open interval"),
    ("labelled_fraction", 0.99, "labelled_fraction: must leave at least one labelled and one "
                                "teacher-only fact of the 32"),
    ("num_entities", 1, "num_entities: must be an integer >= 2"),
    ("score_noise", -0.1, "score_noise: must be a finite number > 0"),
])
def test_check_size_rejects_bad_fields(field, value, match):
    with pytest.raises(ValueError, match=match):
        rag.check_size(dataclasses.replace(SMOKE, **{field: value}))

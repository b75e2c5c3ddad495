"""Selection on validation: the best score per group, the first on ties."""

from bayeskd.metrics.selection import best_on_validation


def test_best_per_group_first_on_ties_and_rows_without_a_score_skipped():
    rows = [{"g": 0, "v": 0.5, "id": 0}, {"g": 0, "v": 0.9, "id": 1}, {"g": 0, "v": 0.9, "id": 2},
            {"g": 1, "v": 0.1, "id": 3}, {"g": 1, "id": 4}, {"g": 2, "id": 5}]
    best = best_on_validation(rows, group=("g",), score="v")
    assert {k: r["id"] for k, r in best.items()} == {(0,): 1, (1,): 3}

"""Model selection on held-out data: per group, the candidate with the best validation score."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["best_on_validation"]


def best_on_validation(rows: Iterable[Mapping[str, Any]], *, group: Sequence[str],
                       score: str = "val_accuracy") -> dict[tuple, Mapping[str, Any]]:
    """``{group values: row}``: per group of the rows that have ``score``, the row with the
    highest ``score``, the first one on ties (rows without ``score`` are not candidates).

    Example:
      >>> rows = [{"s": "a", "v": 0.5, "T": 1}, {"s": "a", "v": 0.7, "T": 2},
      ...         {"s": "a", "v": 0.7, "T": 4}, {"s": "b", "T": 8}]
      >>> {k: r["T"] for k, r in best_on_validation(rows, group=("s",), score="v").items()}
      {('a',): 2}
    """
    best: dict[tuple, Mapping[str, Any]] = {}
    for r in rows:
        if score in r:
            k = tuple(r[g] for g in group)
            if k not in best or r[score] > best[k][score]:
                best[k] = r
    return best

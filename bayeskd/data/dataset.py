"""The common container every bayeskd loader returns.

Input layouts: vectors are ``[N, D]``; images are channels-last ``[N, H, W, C]``. Inputs are stored
as ``float32``, labels as ``int32``. Validation happens once, at construction, so downstream code
(models, losses, metrics) can trust shapes, dtypes and label ranges.
"""

from __future__ import annotations

import dataclasses
from dataclasses import field

import numpy as np

__all__ = ["Dataset"]


def _as_inputs(name: str, x) -> np.ndarray:
    """Checks a non-empty, finite, real input array and returns it as ``float32``."""
    x = np.asarray(x)
    if x.ndim < 2:
        raise ValueError(f"{name}: inputs must have shape [N, ...features], got shape {x.shape}")
    if x.shape[0] == 0:
        raise ValueError(f"{name}: must be non-empty, got shape {x.shape}")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise ValueError(f"{name}: inputs must be real numbers, got dtype {x.dtype}")
    x = x.astype(np.float32, copy=False)
    if not np.all(np.isfinite(x)):
        bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
        raise ValueError(f"{name}: inputs must be finite, found {bad} non-finite values")
    return x


def _as_labels(name: str, y, n: int, num_classes: int) -> np.ndarray:
    """Checks integer labels of shape ``[n]`` in ``[0, num_classes)`` and returns ``int32``."""
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(
            f"{name}: labels must have shape ({n},) to match the inputs, got {y.shape}"
        )
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{name}: labels must have an integer dtype, got {y.dtype}")
    lo, hi = int(y.min()), int(y.max())
    if lo < 0 or hi >= num_classes:
        found = lo if lo < 0 else hi
        raise ValueError(f"{name}: labels must lie in [0, {num_classes}), found {found}")
    return y.astype(np.int32, copy=False)


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """A labelled classification problem with an optional unlabelled transfer set.

    Attributes:
      name: short identifier, e.g. ``"mnist1d"``.
      x_train: ``float32 [N_train, ...features]`` training inputs.
      y_train: ``int32 [N_train]`` training labels in ``[0, num_classes)``.
      x_test: ``float32 [N_test, ...features]`` test inputs (same feature shape).
      y_test: ``int32 [N_test]`` test labels.
      num_classes: number of classes ``K``.
      x_transfer: ``float32 [N_transfer, ...features]`` extra unlabelled inputs in the same input
        space (same preprocessing) for distillation, or ``None``.
      bayes_probs_test: ``float64 [N_test, K]`` exact Bayes posterior ``p*(y|x)`` on ``x_test``
        for synthetic problems, else ``None``.
      meta: free-form provenance (normalisation statistics, seeds, generating problem).

    Inputs given as other real dtypes are converted to ``float32`` and integer labels to
    ``int32``; anything else that is wrong raises ``ValueError`` naming the field.

    Example:
      >>> import numpy as np
      >>> ds = Dataset("toy", np.zeros((4, 2)), np.array([0, 1, 0, 1]),
      ...              np.ones((2, 2)), np.array([1, 0]), num_classes=2)
      >>> ds
      Dataset(name='toy', train=(4, 2), test=(2, 2), num_classes=2, transfer=None)
      >>> ds.x_train.dtype, ds.y_train.dtype
      (dtype('float32'), dtype('int32'))
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    x_transfer: np.ndarray | None = None
    bayes_probs_test: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        def put(attr, value):
            object.__setattr__(self, attr, value)

        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name: must be a non-empty string, got {self.name!r}")
        if isinstance(self.num_classes, bool) or not isinstance(self.num_classes, int | np.integer):
            raise ValueError(f"num_classes: must be an int, got {self.num_classes!r}")
        if self.num_classes < 2:
            raise ValueError(f"num_classes: must be at least 2, got {self.num_classes}")
        put("num_classes", int(self.num_classes))

        x_train = _as_inputs("x_train", self.x_train)
        x_test = _as_inputs("x_test", self.x_test)
        if x_test.shape[1:] != x_train.shape[1:]:
            raise ValueError(
                f"x_test: feature shape {x_test.shape[1:]} differs from x_train's {x_train.shape[1:]}"
            )
        put("x_train", x_train)
        put("x_test", x_test)
        put("y_train", _as_labels("y_train", self.y_train, len(x_train), self.num_classes))
        put("y_test", _as_labels("y_test", self.y_test, len(x_test), self.num_classes))

        if self.x_transfer is not None:
            x_transfer = _as_inputs("x_transfer", self.x_transfer)
            if x_transfer.shape[1:] != x_train.shape[1:]:
                raise ValueError(
                    f"x_transfer: feature shape {x_transfer.shape[1:]} differs from x_train's "
                    f"{x_train.shape[1:]}"
                )
            put("x_transfer", x_transfer)

        if self.bayes_probs_test is not None:
            probs = np.asarray(self.bayes_probs_test, dtype=np.float64)
            if probs.shape != (len(x_test), self.num_classes):
                raise ValueError(
                    f"bayes_probs_test: must have shape {(len(x_test), self.num_classes)}, "
                    f"got {probs.shape}"
                )
            if not np.all(np.isfinite(probs)) or probs.min() < 0:
                raise ValueError("bayes_probs_test: probabilities must be finite and non-negative")
            worst = float(np.max(np.abs(probs.sum(axis=1) - 1.0)))
            if worst > 1e-6:
                raise ValueError(
                    f"bayes_probs_test: rows must sum to 1, worst deviation {worst:.3g}"
                )
            put("bayes_probs_test", probs)

        if not isinstance(self.meta, dict):
            raise ValueError(f"meta: must be a dict, got {type(self.meta).__name__}")

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Feature shape of one example, e.g. ``(40,)`` or ``(28, 28, 1)``."""
        return tuple(self.x_train.shape[1:])

    @property
    def num_train(self) -> int:
        return len(self.x_train)

    @property
    def num_test(self) -> int:
        return len(self.x_test)

    def take(
        self,
        *,
        num_train: int | None = None,
        num_test: int | None = None,
        num_transfer: int | None = None,
    ) -> Dataset:
        """Returns a copy keeping the first ``num_*`` examples of each split (``None`` keeps all).

        Loaders shuffle before storing, so prefixes are random, reproducible subsets.
        """
        for what, n in (
            ("num_train", num_train),
            ("num_test", num_test),
            ("num_transfer", num_transfer),
        ):
            if n is not None and n < 1:
                raise ValueError(f"{what}: must be a positive int or None, got {n}")
        probs = self.bayes_probs_test
        return dataclasses.replace(
            self,
            x_train=self.x_train[:num_train],
            y_train=self.y_train[:num_train],
            x_test=self.x_test[:num_test],
            y_test=self.y_test[:num_test],
            x_transfer=None if self.x_transfer is None else self.x_transfer[:num_transfer],
            bayes_probs_test=None if probs is None else probs[:num_test],
            meta=dict(self.meta),
        )

    def __repr__(self) -> str:
        transfer = None if self.x_transfer is None else self.x_transfer.shape
        return (
            f"Dataset(name={self.name!r}, train={self.x_train.shape}, test={self.x_test.shape}, "
            f"num_classes={self.num_classes}, transfer={transfer})"
        )

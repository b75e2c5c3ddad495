r"""Out-of-fold teachers: each training example labelled by a teacher that never saw it.

On its own training inputs a network that fits them is one-hot, so a teacher table on those
inputs says nothing the labels did not. Cross-fitting splits the ``N`` training examples into
``F`` folds; teacher ``f`` is trained on every fold but ``f`` and labels fold ``f``:

.. math::
    \log p_t(\cdot \mid x_i) = \log p(\cdot \mid x_i, \theta_{-f(i)}), \qquad
    \theta_{-f} \text{ trained on } \{(x_j, y_j) : f(j) \ne f\},

an estimate of the leave-one-fold-out predictive :math:`p(y \mid x_i, D \setminus D_{f(i)})`,
the quantity cross-validation scores. A :class:`bayeskd.priors.TeacherPrior` on this table is the
``kd_crossfit`` prior of ``bayeskd compare-priors``.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import numpy as np
from flax import nnx

from bayeskd.priors.priors import NoPrior
from bayeskd.training.trainer import TrainConfig, fit, predict_logits
from bayeskd.validate import check_positive_int

__all__ = ["check_folds", "fold_assignment", "fold_splits", "out_of_fold_logits"]


def check_folds(folds, num_examples: int) -> int:
    """``folds`` must be an integer in ``[2, num_examples]``; returns it."""
    f = check_positive_int(folds, name="folds")
    if not 2 <= f <= num_examples:
        raise ValueError(f"folds: must lie in [2, {num_examples}] (the number of training "
                         f"examples), got {folds!r}")
    return f


def fold_assignment(num_examples: int, folds: int, *, seed: int) -> np.ndarray:
    """The fold ``f(i)`` of every example, ``int32 [N]``: a random permutation dealt round-robin,
    so fold sizes differ by at most one.

    Example:
      >>> f = fold_assignment(10, 3, seed=0)
      >>> sorted(np.bincount(f).tolist())
      [3, 3, 4]
    """
    folds = check_folds(folds, num_examples)
    perm = np.random.default_rng(seed).permutation(num_examples)
    out = np.empty(num_examples, np.int32)
    out[perm] = np.arange(num_examples) % folds
    return out


def fold_splits(num_examples: int, folds: int, *, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``[(train rows, held-out rows)]`` of each fold: teacher ``f`` trains on the first and
    labels the second, which are disjoint and together all ``N`` rows."""
    assignment = fold_assignment(num_examples, folds, seed=seed)
    return [(np.flatnonzero(assignment != f), np.flatnonzero(assignment == f))
            for f in range(folds)]


def out_of_fold_logits(model_fn: Callable[[jax.Array], nnx.Module], data: dict, *, folds: int,
                       config: TrainConfig, key: jax.Array, seed: int = 0,
                       progress: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Logits ``[N, K]`` of every training example from the teacher trained without its fold.

    Args:
      model_fn: the teacher, ``key -> nnx.Module``.
      data: training arrays ``x`` ``[N, ...]`` and ``y`` ``[N]``.
      folds: ``F`` in ``[2, N]``.
      config: each teacher's training settings.
      key: teacher ``f`` trains with ``fold_in(key, f)``.
      seed: the fold assignment's seed (:func:`fold_assignment`).

    Returns:
      ``(logits [N, K], fold [N])``.
    """
    x, y = np.asarray(data["x"]), np.asarray(data["y"])
    splits = fold_splits(len(x), folds, seed=seed)
    logits = None
    for f, (train, held) in enumerate(splits):
        res = fit(model_fn, {"x": x[train], "y": y[train]}, prior=NoPrior(), config=config,
                  key=jax.random.fold_in(key, f), progress=progress,
                  desc=f"out-of-fold teacher {f + 1}/{folds}")
        out = np.asarray(predict_logits(res.graphdef, jax.tree.map(lambda a: a[0], res.params),
                                        x[held]))
        if logits is None:
            logits = np.zeros((len(x), out.shape[-1]), np.float32)
        logits[held] = out
    return logits, fold_assignment(len(x), folds, seed=seed)

"""Host-side summaries: a dictionary of plain floats for logging, tables and JSON.

These are the only functions in :mod:`bayeskd.metrics` that leave JAX: they call the jitted
metrics and convert the results with ``float``; :func:`summarize` (mean and std over seeds, by
group) and :func:`format_mean_std` are the one summariser and formatter every job and figure
uses.
"""

import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int

from bayeskd.metrics.calibration import ece, mce
from bayeskd.metrics.classification import (
    accuracy,
    agreement,
    brier,
    entropy,
    kl_divergence,
    nll,
)


@functools.partial(jax.jit, static_argnames="num_bins")
def _student_metrics(probs, labels, *, num_bins: int) -> dict[str, Array]:
    return {
        "accuracy": accuracy(probs, labels),
        "nll": nll(probs, labels),
        "ece": ece(probs, labels, num_bins=num_bins),
        "mce": mce(probs, labels, num_bins=num_bins),
        "brier": brier(probs, labels),
        "entropy": jnp.mean(entropy(probs)),
    }


@jax.jit
def _teacher_metrics(probs, teacher_probs) -> dict[str, Array]:
    return {
        "agreement": agreement(teacher_probs, probs),
        "kl_teacher_student": kl_divergence(teacher_probs, probs),
    }


def classification_metrics(
    probs: Float[ArrayLike, "batch classes"],
    labels: Int[ArrayLike, " batch"],
    *,
    teacher_probs: Float[ArrayLike, "batch classes"] | None = None,
    num_bins: int = 15,
) -> dict[str, float]:
    r"""The standard evaluation table of a (student) classifier, as plain Python floats.

    Keys, all means over the ``B`` examples:

    - ``accuracy``, ``nll``, ``brier`` (:mod:`bayeskd.metrics.classification`);
    - ``ece``, ``mce`` with ``num_bins`` equal-width bins (:mod:`bayeskd.metrics.calibration`);
    - ``entropy``: mean predictive entropy in nats;
    - with ``teacher_probs`` only: ``agreement`` (top-1, teacher vs student) and
      ``kl_teacher_student``, :math:`\mathrm{KL}(p_\text{teacher} \,\|\, p_\text{student})`.

    Args:
      probs: Predicted probabilities of the model being evaluated, shape ``[B, K]``.
      labels: Integer labels, shape ``[B]``.
      teacher_probs: Optional teacher probabilities, shape ``[B, K]``.
      num_bins: Number of calibration bins.

    Returns:
      A dictionary from metric name to ``float``.

    Examples:
      >>> import jax.numpy as jnp
      >>> probs = jnp.array([[0.75, 0.25], [0.5, 0.5], [1.0, 0.0]])
      >>> m = classification_metrics(probs, jnp.array([0, 1, 0]), num_bins=2)
      >>> sorted(m), m["ece"]
      (['accuracy', 'brier', 'ece', 'entropy', 'mce', 'nll'], 0.25)
    """
    arrays = dict(_student_metrics(probs, labels, num_bins=num_bins))
    if teacher_probs is not None:
        arrays.update(_teacher_metrics(probs, teacher_probs))
    return {name: float(value) for name, value in arrays.items()}


def mean_std(values: Sequence[float] | ArrayLike) -> dict[str, float | int]:
    r"""Mean and sample standard deviation across runs (e.g. seeds).

    .. math::
      \bar v = \frac{1}{n} \sum_j v_j \,, \qquad
      s = \sqrt{\frac{1}{n - 1} \sum_j (v_j - \bar v)^2} \,,

    i.e. the unbiased-variance estimate (``ddof=1``) when ``n > 1``; with a single value the
    standard deviation is reported as ``0.0``.

    Args:
      values: ``n >= 1`` scalars, shape ``[n]``.

    Returns:
      ``{"mean": float, "std": float, "n": int}``.

    Raises:
      ValueError: If ``values`` is empty.

    Examples:
      >>> mean_std([1.0, 2.0, 3.0])
      {'mean': 2.0, 'std': 1.0, 'n': 3}
    """
    values_n = np.asarray(values, dtype=np.float64).reshape(-1)
    if values_n.size == 0:
        raise ValueError("values: give at least one value, got none")
    std = float(np.std(values_n, ddof=1)) if values_n.size > 1 else 0.0
    return {"mean": float(np.mean(values_n)), "std": std, "n": int(values_n.size)}


def summarize(
    rows: Iterable[Mapping[str, Any]], *, group: str | Sequence[str], metrics: Sequence[str]
) -> dict[Any, dict[str, dict]]:
    """:func:`mean_std` of every metric over the rows of each group, groups in order of appearance.

    With one field name (``group="prior"``) a group's key is that field's value (``"kd"``); with
    several (``group=("student", "arm")``) it is the tuple of their values
    (``("mlp", "labels")``), so callers look groups up by value, never by a rebuilt string.
    A metric is averaged over the group's rows that have it and left out when none has.

    Args:
      rows: dicts holding the ``group`` fields and (some of) the ``metrics``.
      group: the field, or fields, whose values define a group.
      metrics: the fields to summarise.

    Returns:
      ``{key: {metric: {"mean", "std", "n"}}}``.

    Examples:
      >>> rows = [{"arm": "a", "seed": 0, "acc": 0.5}, {"arm": "a", "seed": 1, "acc": 0.7},
      ...         {"arm": "b", "seed": 0, "acc": 0.9}]
      >>> summarize(rows, group="arm", metrics=["acc"])["b"]
      {'acc': {'mean': 0.9, 'std': 0.0, 'n': 1}}
      >>> list(summarize(rows, group=("arm", "seed"), metrics=["acc"]))
      [('a', 0), ('a', 1), ('b', 0)]
    """
    fields = (group,) if isinstance(group, str) else tuple(group)
    groups: dict[Any, list[Mapping[str, Any]]] = {}
    for row in rows:
        values = tuple(row[f] for f in fields)
        groups.setdefault(values[0] if isinstance(group, str) else values, []).append(row)
    return {key: {m: mean_std([r[m] for r in sel if m in r]) for m in metrics
                  if any(m in r for r in sel)}
            for key, sel in groups.items()}


def format_mean_std(stats: Mapping[str, float] | None, *, scale: float = 1.0, digits: int = 3,
                    unit: str = "") -> str:
    """``"0.213 ± 0.010"`` from a :func:`mean_std` dict, each number times ``scale``.

    ``unit`` is appended after a space (``scale=100, digits=1, unit="%"`` gives
    ``"93.1 ± 0.4 %"``); a missing or non-finite mean gives ``"-"``.

    Examples:
      >>> format_mean_std({"mean": 0.931, "std": 0.004}, scale=100, digits=1, unit="%")
      '93.1 ± 0.4 %'
    """
    if not stats or not math.isfinite(stats["mean"]):
        return "-"
    text = f"{stats['mean'] * scale:.{digits}f} ± {stats['std'] * scale:.{digits}f}"
    return f"{text} {unit}" if unit else text


def pct(stats: Mapping[str, float], digits: int = 1) -> str:
    """A :func:`mean_std` dict of fractions as percent: ``"93.1 ± 0.4 %"``."""
    return format_mean_std(stats, scale=100.0, digits=digits, unit="%")


def omitted_class_shift(
    logp_val: Float[ArrayLike, "val classes"], y_val: Int[ArrayLike, " val"],
    logp_test: Float[ArrayLike, "test classes"], y_test: Int[ArrayLike, " test"], *,
    omitted: int, shifts: Float[ArrayLike, " shifts"],
) -> dict[str, float]:
    r"""Recover a class never seen in training by raising its logit (Hinton et al. 2015, §3).

    The shift :math:`b^\star = \arg\max_{b \in \text{shifts}} \mathrm{acc}_\text{val}(\ell + b\,e_c)`
    is chosen on validation data; the test recall of class :math:`c` is reported before and
    after adding it.

    Returns:
      ``{"bias_shift", "recall_before", "recall_after"}`` as floats.

    Example:
      >>> lp = np.log(np.array([[0.6, 0.4], [0.7, 0.3]]))
      >>> omitted_class_shift(lp, np.array([1, 0]), lp, np.array([1, 0]), omitted=1,
      ...                     shifts=np.array([0.0, 0.5, 1.0]))
      {'bias_shift': 0.5, 'recall_before': 0.0, 'recall_after': 1.0}
    """
    lv, lt, shifts = np.asarray(logp_val), np.asarray(logp_test), np.asarray(shifts)
    e = np.eye(lv.shape[-1])[omitted]
    val_acc = [np.mean((lv + s * e).argmax(-1) == np.asarray(y_val)) for s in shifts]
    best = float(shifts[int(np.argmax(val_acc))])
    is_c = np.asarray(y_test) == omitted
    recall = {tag: float(np.mean((lt + s * e).argmax(-1)[is_c] == omitted))
              for tag, s in (("before", 0.0), ("after", best))}
    return {"bias_shift": best, "recall_before": recall["before"], "recall_after": recall["after"]}

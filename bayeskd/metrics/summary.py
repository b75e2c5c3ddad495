"""Host-side summaries: a dictionary of plain floats for logging, tables and JSON.

These are the only functions in :mod:`bayeskd.metrics` that leave JAX: they call the jitted
metrics and convert the results with ``float``.
"""

import functools
from collections.abc import Sequence

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


def mean_std(values: Sequence[float] | ArrayLike) -> dict[str, float]:
    r"""Mean and sample standard deviation across runs (e.g. seeds).

    .. math::
      \bar v = \frac{1}{n} \sum_j v_j \,, \qquad
      s = \sqrt{\frac{1}{n - 1} \sum_j (v_j - \bar v)^2} \,,

    i.e. the unbiased-variance estimate (``ddof=1``) when ``n > 1``; with a single value the
    standard deviation is reported as ``0.0``.

    Args:
      values: ``n >= 1`` scalars, shape ``[n]``.

    Returns:
      ``{"mean": float, "std": float}``.

    Raises:
      ValueError: If ``values`` is empty.

    Examples:
      >>> mean_std([1.0, 2.0, 3.0])
      {'mean': 2.0, 'std': 1.0}
    """
    values_n = np.asarray(values, dtype=np.float64).reshape(-1)
    if values_n.size == 0:
        raise ValueError("mean_std needs at least one value.")
    std = float(np.std(values_n, ddof=1)) if values_n.size > 1 else 0.0
    return {"mean": float(np.mean(values_n)), "std": std}

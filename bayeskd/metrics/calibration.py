r"""Calibration: reliability diagrams, expected and maximum calibration error.

Binning convention (shared by every function here): ``num_bins`` equal-width bins on the top-1
confidence :math:`c_i = \max_k p_{ik}`, with edges :math:`0 = e_0 < e_1 < \dots < e_M = 1`.
Bin :math:`m` is the half-open interval :math:`(e_m, e_{m+1}]`, except that a confidence of
exactly 0 goes to the first bin. A confidence lying on an interior edge therefore belongs to the
bin *below* it (0.5 with two bins is in bin 0), and confidence 1 is in the last bin. The edges
are ``jnp.linspace(0, 1, M + 1)`` in the dtype of ``probs``; "on an edge" means equal to that
rounded value.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int


class ReliabilityBins(NamedTuple):
    """Per-bin statistics of a reliability diagram.

    Empty bins have ``count == 0`` and report ``confidence == accuracy == 0``.

    Attributes:
      bin_edges: Edges of the equal-width bins, shape ``[M + 1]``, from 0 to 1.
      confidence: Mean top-1 confidence of the examples in each bin, shape ``[M]``.
      accuracy: Fraction of correct top-1 predictions in each bin, shape ``[M]``.
      count: Number of examples in each bin, shape ``[M]`` (int32).
    """

    bin_edges: Float[Array, " bins_plus_one"]
    confidence: Float[Array, " bins"]
    accuracy: Float[Array, " bins"]
    count: Int[Array, " bins"]


def _bin_one_hot(
    confidence_B: Float[Array, " batch"], bin_edges: Float[Array, " edges"]
) -> Float[Array, "batch bins"]:
    """One-hot bin membership under the ``(lo, hi]`` convention, 0 going to the first bin."""
    num_bins = bin_edges.shape[0] - 1
    # The bin of c is the number of interior edges strictly below it.
    index_B = jnp.sum(confidence_B[:, None] > bin_edges[None, 1:-1], axis=-1)
    return jax.nn.one_hot(index_B, num_bins, dtype=confidence_B.dtype)


def _bin_sums(probs, labels, num_bins):
    """Edges, per-bin sums of confidence and correctness, and per-bin counts."""
    probs = jnp.asarray(probs)
    labels = jnp.asarray(labels)
    confidence_B = jnp.max(probs, axis=-1)
    correct_B = (jnp.argmax(probs, axis=-1) == labels).astype(probs.dtype)
    bin_edges = jnp.linspace(0.0, 1.0, num_bins + 1, dtype=probs.dtype)
    member_BM = _bin_one_hot(confidence_B, bin_edges)
    # Elementwise sums rather than matmuls, which may run at reduced precision on accelerators.
    conf_sum_M = jnp.sum(confidence_B[:, None] * member_BM, axis=0)
    correct_sum_M = jnp.sum(correct_B[:, None] * member_BM, axis=0)
    count_M = jnp.sum(member_BM > 0, axis=0, dtype=jnp.int32)
    return bin_edges, conf_sum_M, correct_sum_M, count_M


def reliability_bins(
    probs: Float[ArrayLike, "batch classes"],
    labels: Int[ArrayLike, " batch"],
    *,
    num_bins: int = 15,
) -> ReliabilityBins:
    r"""Statistics of a reliability diagram with equal-width confidence bins.

    With :math:`B_m` the examples whose top-1 confidence :math:`c_i = \max_k p_{ik}` falls in
    bin :math:`m` (see the module docstring for the edge convention),

    .. math::
      \mathrm{conf}_m = \frac{1}{|B_m|} \sum_{i \in B_m} c_i \,, \qquad
      \mathrm{acc}_m = \frac{1}{|B_m|} \sum_{i \in B_m} \mathbb{1}[\arg\max_k p_{ik} = y_i] \,.

    Args:
      probs: Predicted probabilities, shape ``[B, K]``.
      labels: Integer labels, shape ``[B]``.
      num_bins: Number of bins ``M`` (static under ``jax.jit``).

    Returns:
      A :class:`ReliabilityBins` with ``bin_edges`` ``[M + 1]`` and ``confidence``,
      ``accuracy``, ``count`` ``[M]``; empty bins report zeros.

    Examples:
      >>> import jax.numpy as jnp
      >>> probs = jnp.array([[0.75, 0.25], [0.5, 0.5], [1.0, 0.0]])
      >>> bins = reliability_bins(probs, jnp.array([0, 1, 0]), num_bins=2)
      >>> bins.count.tolist(), bins.accuracy.tolist(), bins.confidence.tolist()
      ([1, 2], [0.0, 1.0], [0.5, 0.875])

    References:
      Guo et al., `On Calibration of Modern Neural Networks
      <https://arxiv.org/abs/1706.04599>`_, 2017
    """
    bin_edges, conf_sum_M, correct_sum_M, count_M = _bin_sums(probs, labels, num_bins)
    denom_M = jnp.maximum(count_M, 1).astype(conf_sum_M.dtype)
    return ReliabilityBins(
        bin_edges=bin_edges,
        confidence=conf_sum_M / denom_M,
        accuracy=correct_sum_M / denom_M,
        count=count_M,
    )


def _weighted_gaps(probs, labels, num_bins):
    """``|acc_m - conf_m|`` per bin and the bin weights ``|B_m| / n``."""
    bins = reliability_bins(probs, labels, num_bins=num_bins)
    gap_M = jnp.abs(bins.accuracy - bins.confidence)
    weight_M = bins.count / jnp.sum(bins.count)
    return gap_M, weight_M.astype(gap_M.dtype), bins.count


def ece(
    probs: Float[ArrayLike, "batch classes"],
    labels: Int[ArrayLike, " batch"],
    *,
    num_bins: int = 15,
) -> Float[Array, ""]:
    r"""Expected calibration error with equal-width bins.

    .. math::
      \mathrm{ECE} = \sum_{m=1}^{M} \frac{|B_m|}{n}
        \left| \mathrm{acc}_m - \mathrm{conf}_m \right| \,.

    Args:
      probs: Predicted probabilities, shape ``[B, K]``.
      labels: Integer labels, shape ``[B]``.
      num_bins: Number of bins ``M`` (static under ``jax.jit``).

    Returns:
      Expected calibration error, shape ``[]``, in ``[0, 1]``.

    Examples:
      >>> import jax.numpy as jnp
      >>> probs = jnp.array([[0.75, 0.25], [0.5, 0.5], [1.0, 0.0]])
      >>> float(ece(probs, jnp.array([0, 1, 0]), num_bins=2))  # (1 * 0.5 + 2 * 0.125) / 3
      0.25

    References:
      Naeini et al., `Obtaining Well Calibrated Probabilities Using Bayesian Binning
      <https://ojs.aaai.org/index.php/AAAI/article/view/9602>`_, 2015

      Guo et al., `On Calibration of Modern Neural Networks
      <https://arxiv.org/abs/1706.04599>`_, 2017
    """
    gap_M, weight_M, _ = _weighted_gaps(probs, labels, num_bins)
    return jnp.sum(weight_M * gap_M)


def mce(
    probs: Float[ArrayLike, "batch classes"],
    labels: Int[ArrayLike, " batch"],
    *,
    num_bins: int = 15,
) -> Float[Array, ""]:
    r"""Maximum calibration error over the non-empty equal-width bins.

    .. math::
      \mathrm{MCE} = \max_{m \,:\, |B_m| > 0} \left| \mathrm{acc}_m - \mathrm{conf}_m \right| \,.

    Args:
      probs: Predicted probabilities, shape ``[B, K]``.
      labels: Integer labels, shape ``[B]``.
      num_bins: Number of bins ``M`` (static under ``jax.jit``).

    Returns:
      Maximum calibration error, shape ``[]``, in ``[0, 1]``.

    Examples:
      >>> import jax.numpy as jnp
      >>> probs = jnp.array([[0.75, 0.25], [0.5, 0.5], [1.0, 0.0]])
      >>> float(mce(probs, jnp.array([0, 1, 0]), num_bins=2))
      0.5

    References:
      Naeini et al., `Obtaining Well Calibrated Probabilities Using Bayesian Binning
      <https://ojs.aaai.org/index.php/AAAI/article/view/9602>`_, 2015
    """
    gap_M, _, count_M = _weighted_gaps(probs, labels, num_bins)
    return jnp.max(jnp.where(count_M > 0, gap_M, 0.0))

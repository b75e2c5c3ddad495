"""Point metrics for probabilistic classifiers.

Every function takes *probabilities* (rows on the simplex), never logits, and integer labels.
Scalar metrics average over the batch; :func:`entropy` and :func:`mutual_information` return one
value per example. All functions are pure and jit-able.

Shapes: ``B`` batch, ``K`` classes, ``S`` posterior (or ensemble) samples.
"""

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int


def _true_class_probs(
    probs: Float[ArrayLike, "batch classes"], labels: Int[ArrayLike, " batch"]
) -> Float[Array, " batch"]:
    probs = jnp.asarray(probs)
    labels = jnp.asarray(labels)
    return jnp.take_along_axis(probs, labels[..., None], axis=-1)[..., 0]


def accuracy(
    probs: Float[ArrayLike, "batch classes"], labels: Int[ArrayLike, " batch"]
) -> Float[Array, ""]:
    r"""Top-1 accuracy.

    .. math::
      \mathrm{acc} = \frac{1}{B} \sum_{i} \mathbb{1}[\arg\max_k p_{ik} = y_i] \,.

    Ties in ``probs`` resolve to the lowest class index (``jnp.argmax``).

    Args:
      probs: Predicted probabilities, shape ``[B, K]``.
      labels: Integer labels, shape ``[B]``.

    Returns:
      Fraction of correct top-1 predictions, shape ``[]``, in ``[0, 1]``.

    Examples:
      >>> import jax.numpy as jnp
      >>> probs = jnp.array([[0.7, 0.3], [0.4, 0.6], [0.9, 0.1]])
      >>> round(float(accuracy(probs, jnp.array([0, 0, 0]))), 4)
      0.6667
    """
    probs = jnp.asarray(probs)
    labels = jnp.asarray(labels)
    return jnp.mean(jnp.argmax(probs, axis=-1) == labels)


def nll(
    probs: Float[ArrayLike, "batch classes"],
    labels: Int[ArrayLike, " batch"],
    *,
    eps: float = 1e-12,
) -> Float[Array, ""]:
    r"""Mean negative log-likelihood of the true class.

    .. math::
      \mathrm{NLL} = -\frac{1}{B} \sum_i \log \max(p_{i y_i}, \epsilon) \,.

    The clamp at :math:`\epsilon` keeps the value finite when a model puts exactly zero mass on
    the true class; it caps each example's contribution at :math:`-\log\epsilon` (about 27.6 for
    the default).

    Args:
      probs: Predicted probabilities, shape ``[B, K]``.
      labels: Integer labels, shape ``[B]``.
      eps: Lower clamp on the true-class probability.

    Returns:
      Mean negative log-likelihood in nats, shape ``[]``.

    Examples:
      >>> import jax.numpy as jnp
      >>> probs = jnp.array([[0.5, 0.5], [0.25, 0.75]])
      >>> round(float(nll(probs, jnp.array([0, 1]))), 4)  # (log 2 + log 4/3) / 2
      0.4904

    References:
      Quiñonero-Candela et al., `Evaluating Predictive Uncertainty Challenge
      <https://doi.org/10.1007/11736790_1>`_, 2006
    """
    p_true_B = _true_class_probs(probs, labels)
    return -jnp.mean(jnp.log(jnp.maximum(p_true_B, eps)))


def brier(
    probs: Float[ArrayLike, "batch classes"], labels: Int[ArrayLike, " batch"]
) -> Float[Array, ""]:
    r"""Multi-class Brier score.

    .. math::
      \mathrm{BS} = \frac{1}{B} \sum_i \sum_k (p_{ik} - \mathbb{1}[k = y_i])^2 \,.

    Args:
      probs: Predicted probabilities, shape ``[B, K]``.
      labels: Integer labels, shape ``[B]``.

    Returns:
      Mean Brier score, shape ``[]``, in ``[0, 2]`` (0 for a confident correct prediction, 2 for
      a confident wrong one).

    Examples:
      >>> import jax.numpy as jnp
      >>> probs = jnp.array([[0.5, 0.5], [1.0, 0.0]])
      >>> round(float(brier(probs, jnp.array([0, 1]))), 4)  # (0.25 + 0.25 + 1 + 1) / 2
      1.25

    References:
      Brier, `Verification of forecasts expressed in terms of probability
      <https://doi.org/10.1175/1520-0493(1950)078%3C0001:VOFEIT%3E2.0.CO;2>`_, 1950
    """
    probs = jnp.asarray(probs)
    onehot_BK = jax.nn.one_hot(labels, probs.shape[-1], dtype=probs.dtype)
    return jnp.mean(jnp.sum(jnp.square(probs - onehot_BK), axis=-1))


def agreement(
    probs_a: Float[ArrayLike, "batch classes"], probs_b: Float[ArrayLike, "batch classes"]
) -> Float[Array, ""]:
    r"""Top-1 agreement between two predictors (e.g. teacher and student).

    .. math::
      \mathrm{agree} = \frac{1}{B} \sum_i \mathbb{1}[\arg\max_k a_{ik} = \arg\max_k b_{ik}] \,.

    Args:
      probs_a: Probabilities of the first predictor, shape ``[B, K]``.
      probs_b: Probabilities of the second predictor, shape ``[B, K]``.

    Returns:
      Fraction of examples on which the top-1 classes match, shape ``[]``, in ``[0, 1]``.

    Examples:
      >>> import jax.numpy as jnp
      >>> a = jnp.array([[0.7, 0.3], [0.4, 0.6]])
      >>> b = jnp.array([[0.6, 0.4], [0.8, 0.2]])
      >>> float(agreement(a, b))
      0.5

    References:
      Stanton et al., `Does Knowledge Distillation Really Work?
      <https://arxiv.org/abs/2106.05945>`_, 2021
    """
    top_a_B = jnp.argmax(jnp.asarray(probs_a), axis=-1)
    top_b_B = jnp.argmax(jnp.asarray(probs_b), axis=-1)
    return jnp.mean(top_a_B == top_b_B)


def kl_divergence(
    p: Float[ArrayLike, "batch classes"],
    q: Float[ArrayLike, "batch classes"],
    *,
    eps: float = 1e-12,
) -> Float[Array, ""]:
    r"""Mean Kullback-Leibler divergence :math:`\mathrm{KL}(p \,\|\, q)`.

    .. math::
      \mathrm{KL} = \frac{1}{B} \sum_i \sum_k p_{ik}
        \left(\log p_{ik} - \log \max(q_{ik}, \epsilon)\right) \,,

    with the convention :math:`0 \log 0 = 0`, so zeros in ``p`` are safe. The clamp on ``q``
    keeps the value finite where ``p`` has mass that ``q`` lacks.

    Args:
      p: Reference probabilities (e.g. the teacher), shape ``[B, K]``.
      q: Approximating probabilities (e.g. the student), shape ``[B, K]``.
      eps: Lower clamp on ``q``.

    Returns:
      Mean KL divergence in nats, shape ``[]``, non-negative (up to rounding) and zero when
      ``p == q``.

    Examples:
      >>> import jax.numpy as jnp
      >>> p = jnp.array([[1.0, 0.0]])
      >>> q = jnp.array([[0.5, 0.5]])
      >>> round(float(kl_divergence(p, q)), 4)  # log 2
      0.6931

    References:
      Kullback and Leibler, `On Information and Sufficiency
      <https://doi.org/10.1214/aoms/1177729694>`_, 1951
    """
    p = jnp.asarray(p)
    q = jnp.asarray(q)
    xlogy = jax.scipy.special.xlogy
    kl_B = jnp.sum(xlogy(p, p) - xlogy(p, jnp.maximum(q, eps)), axis=-1)
    return jnp.mean(kl_B)


def total_variation(
    p: Float[ArrayLike, "batch classes"], q: Float[ArrayLike, "batch classes"]
) -> Float[Array, ""]:
    r"""Mean total-variation distance.

    .. math::
      \mathrm{TV} = \frac{1}{B} \sum_i \frac{1}{2} \sum_k |p_{ik} - q_{ik}| \,.

    Args:
      p: Probabilities, shape ``[B, K]``.
      q: Probabilities, shape ``[B, K]``.

    Returns:
      Mean total-variation distance, shape ``[]``, in ``[0, 1]``.

    Examples:
      >>> import jax.numpy as jnp
      >>> p = jnp.array([[1.0, 0.0], [0.5, 0.5]])
      >>> q = jnp.array([[0.0, 1.0], [0.5, 0.5]])
      >>> float(total_variation(p, q))
      0.5
    """
    p = jnp.asarray(p)
    q = jnp.asarray(q)
    return jnp.mean(0.5 * jnp.sum(jnp.abs(p - q), axis=-1))


def entropy(probs: Float[ArrayLike, "*batch classes"]) -> Float[Array, "*batch"]:
    r"""Shannon entropy of each predictive distribution.

    .. math::
      H(p_i) = -\sum_k p_{ik} \log p_{ik} \,, \qquad 0 \log 0 = 0 \,.

    Args:
      probs: Probabilities, shape ``[..., K]`` (typically ``[B, K]``).

    Returns:
      Entropy in nats, shape ``[...]`` (typically ``[B]``), in ``[0, log K]``.

    Examples:
      >>> import jax.numpy as jnp
      >>> h = entropy(jnp.array([[0.5, 0.5], [1.0, 0.0]]))
      >>> [round(float(v), 4) for v in h]
      [0.6931, 0.0]
    """
    return jnp.sum(jax.scipy.special.entr(jnp.asarray(probs)), axis=-1)


def predictive_mean(
    probs_SBK: Float[ArrayLike, "samples batch classes"],
) -> Float[Array, "batch classes"]:
    r"""Bayesian model average of sampled predictive distributions.

    .. math::
      \bar p_{ik} = \frac{1}{S} \sum_s p^{(s)}_{ik} \,.

    Args:
      probs_SBK: Probabilities from ``S`` posterior samples (or ensemble members), shape
        ``[S, B, K]``.

    Returns:
      Averaged probabilities, shape ``[B, K]``.

    Examples:
      >>> import jax.numpy as jnp
      >>> probs_SBK = jnp.array([[[1.0, 0.0]], [[0.0, 1.0]]])
      >>> predictive_mean(probs_SBK).tolist()
      [[0.5, 0.5]]
    """
    return jnp.mean(jnp.asarray(probs_SBK), axis=0)


def mutual_information(
    probs_SBK: Float[ArrayLike, "samples batch classes"],
) -> Float[Array, " batch"]:
    r"""Mutual information between the label and the parameters (epistemic uncertainty).

    The total predictive entropy splits into an aleatoric part (expected entropy) and this
    epistemic part (the BALD score):

    .. math::
      I_i = H\!\left(\frac{1}{S} \sum_s p^{(s)}_i\right)
        - \frac{1}{S} \sum_s H\!\left(p^{(s)}_i\right) \,.

    Args:
      probs_SBK: Probabilities from ``S`` posterior samples (or ensemble members), shape
        ``[S, B, K]``.

    Returns:
      Mutual information in nats per example, shape ``[B]``, non-negative up to rounding (by
      concavity of the entropy) and at most ``log K``.

    Examples:
      >>> import jax.numpy as jnp
      >>> probs_SBK = jnp.array([[[1.0, 0.0]], [[0.0, 1.0]]])  # two confident, disagreeing
      >>> round(float(mutual_information(probs_SBK)[0]), 4)  # log 2
      0.6931

    References:
      Houlsby et al., `Bayesian Active Learning for Classification and Preference Learning
      <https://arxiv.org/abs/1112.5745>`_, 2011
    """
    probs_SBK = jnp.asarray(probs_SBK)
    return entropy(predictive_mean(probs_SBK)) - jnp.mean(entropy(probs_SBK), axis=0)



def uncertainty_decomposition(
    probs_SBK: Float[ArrayLike, "samples batch classes"],
) -> dict[str, Float[Array, " batch"]]:
    r"""Total, data (aleatoric) and knowledge (epistemic) uncertainty of sampled predictions.

    .. math::
      \underbrace{H\!\left(\bar p_i\right)}_{\text{total}}
        = \underbrace{\frac1S\sum_s H\!\left(p^{(s)}_i\right)}_{\text{data}}
        + \underbrace{I_i}_{\text{knowledge}} \,,

    with :math:`I_i` the :func:`mutual_information`; ``data`` is computed as total minus
    knowledge, so the three add up exactly. The closed forms for a Dirichlet over the
    probabilities are :func:`bayeskd.posteriors.dirichlet_uncertainty`.

    Args:
      probs_SBK: Probabilities from ``S`` samples (ensemble members), shape ``[S, B, K]``.

    Returns:
      ``{"total", "data", "knowledge"}``, each in nats, shape ``[B]``.

    Examples:
      >>> import jax.numpy as jnp
      >>> u = uncertainty_decomposition(jnp.array([[[1.0, 0.0]], [[0.0, 1.0]]]))  # disagree
      >>> [round(float(u[k][0]), 4) for k in ("total", "data", "knowledge")]
      [0.6931, 0.0, 0.6931]

    References:
      Malinin, Mlodozeniec & Gales, `Ensemble Distribution Distillation
      <https://arxiv.org/abs/1905.00076>`_, ICLR 2020, eq. 3
    """
    probs_SBK = jnp.asarray(probs_SBK)
    total = entropy(predictive_mean(probs_SBK))
    knowledge = mutual_information(probs_SBK)
    return {"total": total, "data": total - knowledge, "knowledge": knowledge}

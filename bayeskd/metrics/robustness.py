"""Robustness probes: accuracy under Gaussian input noise, and input-gradient norms.

Both functions take ``apply_fn``, a pure function from a batch of inputs ``[N, *features]`` to
logits ``[N, K]`` (for an NNX model, ``lambda x: model(x)`` in evaluation mode). Inputs are
processed in chunks of ``batch_size`` with ``jax.lax.map``, so memory stays bounded and the whole
computation is jit-able (close over ``apply_fn`` or mark it static).
"""

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int

ApplyFn = Callable[[Array], Array]


def _as_float(x: ArrayLike) -> Array:
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    return x


def _chunk(a: Array, batch_size: int) -> Array:
    """Zero-pads the leading axis to a multiple of ``batch_size`` and splits it into chunks."""
    n = a.shape[0]
    num_chunks = -(-n // batch_size)
    pad = num_chunks * batch_size - n
    a = jnp.pad(a, [(0, pad)] + [(0, 0)] * (a.ndim - 1))
    return a.reshape(num_chunks, batch_size, *a.shape[1:])


def _valid_mask(n: int, batch_size: int) -> Array:
    """``True`` for real (not padding) rows, shape ``[num_chunks, batch_size]``."""
    num_chunks = -(-n // batch_size)
    return (jnp.arange(num_chunks * batch_size) < n).reshape(num_chunks, batch_size)


def noise_accuracy(
    apply_fn: ApplyFn,
    x: Float[ArrayLike, " batch *features"],
    labels: Int[ArrayLike, " batch"],
    *,
    sigmas: Sequence[float] | Float[ArrayLike, " sigmas"],
    key: Array,
    batch_size: int = 1024,
) -> Float[Array, " sigmas"]:
    r"""Top-1 accuracy under additive isotropic Gaussian input noise, for several noise scales.

    .. math::
      \mathrm{acc}(\sigma) = \frac{1}{B} \sum_i
        \mathbb{1}\left[\arg\max_k f(x_i + \sigma \varepsilon_i)_k = y_i\right] \,,
      \qquad \varepsilon_i \sim \mathcal{N}(0, I) \,.

    One noise draw :math:`\varepsilon` (the shape of ``x``) is shared by every :math:`\sigma`
    (common random numbers), so the curve is a smooth function of :math:`\sigma` and the result
    does not depend on ``batch_size``. ``sigma = 0`` gives the clean accuracy.

    Args:
      apply_fn: Maps inputs ``[N, *features]`` to logits ``[N, K]``.
      x: Clean inputs, shape ``[B, *features]``.
      labels: Integer labels, shape ``[B]``.
      sigmas: Noise standard deviations, shape ``[L]``.
      key: PRNG key for the noise.
      batch_size: Number of examples per call of ``apply_fn`` (static under ``jax.jit``).

    Returns:
      Accuracy at each noise scale, shape ``[L]``.

    Examples:
      >>> import jax
      >>> import jax.numpy as jnp
      >>> x = jnp.array([[1.0], [-1.0]])
      >>> apply_fn = lambda x: jnp.concatenate([x, -x], axis=-1)
      >>> noise_accuracy(apply_fn, x, jnp.array([0, 1]), sigmas=[0.0], key=jax.random.key(0))
      Array([1.], dtype=float32)

    References:
      Hendrycks and Dietterich, `Benchmarking Neural Network Robustness to Common Corruptions
      and Perturbations <https://arxiv.org/abs/1903.12261>`_, 2019
    """
    x = _as_float(x)
    labels = jnp.asarray(labels)
    sigmas_L = jnp.asarray(sigmas, dtype=x.dtype)
    n = x.shape[0]
    batch_size = min(batch_size, n)
    eps = jax.random.normal(key, x.shape, dtype=x.dtype)
    chunks = (
        _chunk(x, batch_size),
        _chunk(eps, batch_size),
        _chunk(labels, batch_size),
        _valid_mask(n, batch_size),
    )

    def correct_per_sigma(chunk):
        x_b, eps_b, labels_b, valid_b = chunk

        def correct(sigma):
            logits_bK = apply_fn(x_b + sigma * eps_b)
            hit_b = (jnp.argmax(logits_bK, axis=-1) == labels_b) & valid_b
            return jnp.sum(hit_b)

        return jax.lax.map(correct, sigmas_L)

    correct_CL = jax.lax.map(correct_per_sigma, chunks)
    return (jnp.sum(correct_CL, axis=0) / n).astype(x.dtype)


def input_grad_norm(
    apply_fn: ApplyFn,
    x: Float[ArrayLike, " batch *features"],
    *,
    batch_size: int = 1024,
) -> Float[Array, ""]:
    r"""Mean norm of the input gradient of the predicted class's log-probability.

    .. math::
      G = \frac{1}{B} \sum_i \left\| \nabla_{x} \log \mathrm{softmax}(f(x))_{c_i}
        \big|_{x = x_i} \right\|_2 \,, \qquad c_i = \arg\max_k f(x_i)_k \,,

    where the predicted class :math:`c_i` is held fixed (``stop_gradient``) and the norm is taken
    over all feature axes. A smaller value means a locally flatter, typically more robust,
    predictor. Gradients are per example (``jax.vmap`` of ``jax.grad`` on single inputs), so
    ``apply_fn`` is called on batches of one.

    Args:
      apply_fn: Maps inputs ``[N, *features]`` to logits ``[N, K]``.
      x: Inputs, shape ``[B, *features]``.
      batch_size: Number of examples per vectorised chunk (static under ``jax.jit``).

    Returns:
      Mean gradient norm, shape ``[]``.

    Examples:
      >>> import jax.numpy as jnp
      >>> w = jnp.array([[1.0, -1.0]])
      >>> x = jnp.array([[0.0]])  # p = (1/2, 1/2), grad = w[:, 0] - w @ p = 1
      >>> float(input_grad_norm(lambda x: x @ w, x))
      1.0

    References:
      Drucker and LeCun, `Improving Generalization Performance Using Double Backpropagation
      <https://doi.org/10.1109/72.165600>`_, 1992

      Ross and Doshi-Velez, `Improving the Adversarial Robustness and Interpretability of Deep
      Neural Networks by Regularizing their Input Gradients
      <https://arxiv.org/abs/1711.09404>`_, 2018
    """
    x = _as_float(x)
    n = x.shape[0]
    batch_size = min(batch_size, n)

    def log_prob_predicted(x_single):
        log_probs_K = jax.nn.log_softmax(apply_fn(x_single[None]), axis=-1)[0]
        predicted = jax.lax.stop_gradient(jnp.argmax(log_probs_K))
        return log_probs_K[predicted]

    per_example_grad = jax.vmap(jax.grad(log_prob_predicted))

    def norms(chunk):
        x_b, valid_b = chunk
        grad_b = per_example_grad(x_b).reshape(x_b.shape[0], -1)
        return jnp.where(valid_b, jnp.linalg.norm(grad_b, axis=-1), 0.0)

    norm_CB = jax.lax.map(norms, (_chunk(x, batch_size), _valid_mask(n, batch_size)))
    return jnp.sum(norm_CB) / n

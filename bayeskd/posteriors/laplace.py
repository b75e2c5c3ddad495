r"""Last-layer Laplace approximation with a GGN Hessian and marginal-likelihood prior precision.

Keep the features :math:`\phi(x)` of a trained (MAP) network fixed and put a Gaussian posterior on
the last layer :math:`W \in \mathbb R^{(H+1)\times K}` (weights and bias, :math:`\tilde\phi =
[\phi, 1]`), centred at the MAP :math:`W_*` (MacKay 1992; Kristiadi, Hein & Hennig, "Being
Bayesian, Even Just a Bit, Fixes Overconfidence in ReLU Networks", ICML 2020; Daxberger et al.,
"Laplace Redux", NeurIPS 2021):

.. math::
    q(\mathrm{vec}\,W) = \mathcal N\big(\mathrm{vec}\,W_*,\ (G + \lambda I)^{-1}\big), \qquad
    G = \sum_{n=1}^N \big(\tilde\phi_n\tilde\phi_n^\top\big) \otimes
        \big(\mathrm{diag}(p_n) - p_n p_n^\top\big),

with :math:`p_n = \mathrm{softmax}(W_*^\top\tilde\phi_n)`. :math:`G` is the generalised
Gauss-Newton matrix of the summed cross-entropy; for the last layer of a softmax classifier the
logits are linear in :math:`W`, so :math:`G` *is* the exact Hessian. The prior precision
:math:`\lambda` maximises the Laplace estimate of the marginal likelihood (MacKay 1992; post hoc
at fixed :math:`W_*`, as in Laplace Redux §4),

.. math::
    \log p(\mathcal D\mid\lambda) \approx \sum_n \log p(y_n\mid x_n, W_*)
      - \frac\lambda2\|W_*\|^2 + \frac P2\log\lambda - \frac12\sum_{i=1}^P\log(e_i + \lambda),

where :math:`e_i` are the eigenvalues of :math:`G` and :math:`P = (H+1)K`. The predictive is
estimated by sampling :math:`W_s = W_* + V\,\mathrm{diag}((e+\lambda)^{-1/2})\,z_s` (the logits
are linear in :math:`W`, so this *is* the GLM predictive of Immer et al. 2021, without the probit
approximation).

When the MAP saturates the softmax on its training set (every :math:`p_n` close to one-hot), the
curvature :math:`\mathrm{diag}(p_n) - p_np_n^\top` vanishes, :math:`G` is small in most
directions, the evidence keeps few effective parameters :math:`\gamma = \sum_i e_i/(e_i+\lambda)`
and the Gaussian is wide where the true likelihood rises steeply (draws misclassify training
points that the quadratic model says they fit): the predictive is then less confident than the
MAP's. On a problem where the MAP is not saturated it keeps the MAP's NLL (see the tests).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from bayeskd.posteriors.base import Posterior
from bayeskd.validate import check_num_samples, check_positive_float

__all__ = ["LastLayerLaplace", "last_layer_ggn"]

PRIOR_PRECISION_GRID = np.logspace(-4, 4, 161)


def last_layer_ggn(features, probs) -> np.ndarray:
    r"""The GGN :math:`\sum_n \tilde\phi_n\tilde\phi_n^\top \otimes (\mathrm{diag}\,p_n - p_np_n^\top)`.

    Args:
      features: ``[N, H]`` penultimate features (a bias column of ones is appended here).
      probs: ``[N, K]`` MAP predictive probabilities.

    Returns:
      ``float64 [(H+1)K, (H+1)K]``, indexed like ``W.reshape(-1)`` for ``W [H+1, K]``.
    """
    phi = np.concatenate([np.asarray(features, np.float64), np.ones((len(features), 1))], axis=1)
    p = np.asarray(probs, np.float64)
    lam_NKK = p[:, :, None] * np.eye(p.shape[1])[None] - p[:, :, None] * p[:, None, :]
    g = np.einsum("nh,nkl,ng->hkgl", phi, lam_NKK, phi, optimize=True)
    d = phi.shape[1] * p.shape[1]
    return g.reshape(d, d)


class LastLayerLaplace(Posterior):
    """Last-layer Laplace around a trained network whose output layer is ``model.head``.

    Args:
      graphdef, params: the trained network (one member, no leading axis). Its module must have
        ``features(x)`` and a linear output layer ``head`` (every bayeskd model does).
      x, y: the training set the Hessian is summed over.
      prior_precision: ``"marglik"`` (maximise the Laplace evidence over a log grid from 1e-4 to
        1e4) or a number > 0.
      num_samples: default number of draws of :meth:`predictive`.
    """

    def __init__(self, graphdef, params, x, y, *, prior_precision: float | str = "marglik",
                 num_samples: int = 30, chunk_size: int = 4096, name: str = "laplace"):
        model = nnx.merge(graphdef, params)
        head = getattr(model, "head", None)
        if not isinstance(head, nnx.Linear) or not hasattr(model, "features"):
            raise ValueError("model: last-layer Laplace needs a module with features(x) and a "
                             "linear output layer named head")
        self.graphdef, self.params, self.name = graphdef, params, name
        self.num_samples = check_num_samples(num_samples)
        self._features = jax.jit(lambda p, xb: nnx.merge(graphdef, p).features(xb))
        x = np.asarray(x, np.float32)
        y = np.asarray(y)
        if len(x) == 0 or len(x) != len(y):
            raise ValueError(f"x, y: need a non-empty training set with one label per input, got "
                             f"{len(x)} inputs and {len(y)} labels")
        phi = np.concatenate([np.asarray(self._features(params, x[i : i + chunk_size]), np.float64)
                              for i in range(0, len(x), chunk_size)])
        w = np.concatenate([np.asarray(head.kernel[...], np.float64),
                            np.asarray(head.bias[...], np.float64)[None]])  # [H+1, K]
        logits = np.concatenate([phi, np.ones((len(phi), 1))], 1) @ w
        logp = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
        self.w_map = w
        self.log_lik = float(logp[np.arange(len(y)), y].sum())
        self.ggn = last_layer_ggn(phi, np.exp(logp))
        self.eigvals, self.eigvecs = np.linalg.eigh(self.ggn)
        self.eigvals = np.maximum(self.eigvals, 0.0)
        if prior_precision == "marglik":
            evidence = [self.log_evidence(lam) for lam in PRIOR_PRECISION_GRID]
            self.prior_precision = float(PRIOR_PRECISION_GRID[int(np.argmax(evidence))])
        elif isinstance(prior_precision, str):
            raise ValueError(f"prior_precision: 'marglik' or a number > 0, got {prior_precision!r}")
        else:
            self.prior_precision = check_positive_float(prior_precision, name="prior_precision")
        scale = 1.0 / np.sqrt(self.eigvals + self.prior_precision)
        self._factor = jnp.asarray(self.eigvecs * scale[None, :], jnp.float32)  # V diag(.)
        self._w = jnp.asarray(w, jnp.float32)
        self._logits = jax.jit(self._logits_impl, static_argnums=2)

    def log_evidence(self, prior_precision: float) -> float:
        """The Laplace log marginal likelihood at prior precision ``lambda`` (see module doc)."""
        lam = float(prior_precision)
        p = self.eigvals.size
        return float(self.log_lik - 0.5 * lam * np.sum(self.w_map**2) + 0.5 * p * np.log(lam)
                     - 0.5 * np.sum(np.log(self.eigvals + lam)))

    @property
    def covariance(self) -> np.ndarray:
        """The posterior covariance ``(G + lambda I)^-1`` of ``vec W`` (float64)."""
        v, e = self.eigvecs, self.eigvals + self.prior_precision
        return (v / e[None, :]) @ v.T

    def _logits_impl(self, params, x, n, key):
        phi = self._features(params, x)
        phi = jnp.concatenate([phi, jnp.ones((phi.shape[0], 1), phi.dtype)], axis=1)
        z = jax.random.normal(key, (n, self._factor.shape[1]))
        w_S = self._w[None] + (z @ self._factor.T).reshape(n, *self._w.shape)
        return jnp.einsum("bh,shk->sbk", phi, w_S)

    def sample_logits(self, x, *, key, num_samples=None):
        return self._logits(self.params, jnp.asarray(x, jnp.float32), self._resolve(num_samples), key)

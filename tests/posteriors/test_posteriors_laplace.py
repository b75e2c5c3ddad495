"""Last-layer Laplace: GGN = exact Hessian, marginal-likelihood prior precision, sampling."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from bayeskd.models import MLP
from bayeskd.posteriors import LastLayerLaplace
from bayeskd.training import split_params


@pytest.fixture(scope="module")
def trained():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 2)).astype(np.float32)
    y = (x[:, 0] + 0.3 * rng.normal(size=60) > 0).astype(np.int32) + (x[:, 1] > 1)
    # the last layer's GGN is its exact Hessian at any point, so an untrained network will do
    graphdef, params = split_params(MLP(2, 3, hidden=(5,), rngs=nnx.Rngs(0)))
    return graphdef, params, x, y, LastLayerLaplace(graphdef, params, x, y, num_samples=20)


def test_ggn_is_the_exact_last_layer_hessian(trained):
    graphdef, params, x, y, la = trained
    phi = np.asarray(nnx.merge(graphdef, params).features(x), np.float64)
    phi1 = jnp.asarray(np.concatenate([phi, np.ones((len(x), 1))], 1))

    def summed_nll(w_flat):
        logits = phi1 @ w_flat.reshape(la.w_map.shape)
        return -jnp.sum(jax.nn.log_softmax(logits)[jnp.arange(len(y)), y])

    with jax.enable_x64():
        hess = np.asarray(jax.hessian(summed_nll)(jnp.asarray(la.w_map.reshape(-1))))
    np.testing.assert_allclose(la.ggn, hess, atol=1e-4 * np.abs(hess).max())


def test_prior_precision_maximises_the_evidence(trained):
    *_, la = trained
    lam = la.prior_precision
    best = la.log_evidence(lam)
    assert best >= la.log_evidence(lam * 1.2) and best >= la.log_evidence(lam / 1.2)
    # the eigen-form equals the determinant form
    p = la.ggn.shape[0]
    direct = (la.log_lik - 0.5 * lam * np.sum(la.w_map**2) + 0.5 * p * np.log(lam)
              - 0.5 * np.linalg.slogdet(la.ggn + lam * np.eye(p))[1])
    np.testing.assert_allclose(best, direct, rtol=1e-6)


def test_sampled_weights_have_the_laplace_covariance(trained):
    graphdef, params, x, _, la = trained
    z = jax.random.normal(jax.random.key(0), (20000, la._factor.shape[1]))
    w = np.asarray(z @ la._factor.T)
    np.testing.assert_allclose(np.cov(w.T), la.covariance, atol=0.05 * np.abs(la.covariance).max())
    probs = la.sample_probs(x[:4], key=jax.random.key(1))
    assert probs.shape == (20, 4, 3) and float(jnp.std(probs[:, 0, 0])) > 0
    with pytest.raises(ValueError, match="prior_precision"):
        LastLayerLaplace(graphdef, params, x, np.zeros(len(x), np.int32), prior_precision=-1.0)
    with pytest.raises(ValueError, match="prior_precision"):
        LastLayerLaplace(graphdef, params, x, np.zeros(len(x), np.int32), prior_precision="max")

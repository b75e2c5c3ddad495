"""Numerical range: every divergence, prior term and metric against float64 references for logits
up to |1e4| and temperatures 0.05 to 100; property tests; gradients against finite differences.

(The forward KL's own range, properties and gradient are in tests/losses; this file covers the
rest: reverse KL, the label-smoothing and teacher prior terms, the ensemble predictive, metrics.)
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from bayeskd.losses import kl_divergence, log_mean_probs, reverse_kl_divergence
from bayeskd.metrics import brier, classification_metrics, ece
from bayeskd.priors import LabelSmoothing, TeacherPrior

B, K = 32, 10
SCALES = [1.0, 1e2, 1e4]
TEMPERATURES = [0.05, 1.0, 4.0, 100.0]


def _logp64(z, t=1.0):
    z = np.asarray(z, np.float64) / t
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def _kl64(zp, zq, t):
    """T^2 KL(softmax(zp/T) || softmax(zq/T)) in float64."""
    lp, lq = _logp64(zp, t), _logp64(zq, t)
    p = np.exp(lp)
    return t**2 * np.sum(np.where(p > 0, p * (lp - lq), 0.0), -1)


def _logits(scale, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(B, K)) * scale).astype(np.float32)


def _tol(t, scale):
    # float32 log-probabilities of size up to log K + |z|/T carry ~6e-8 relative error each;
    # the sum over K classes is scaled by T^2 (see tests/losses for the same bound)
    return 1e-5 + t**2 * K * 6e-8 * (3.0 + 4 * scale / t)


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("t", TEMPERATURES)
def test_reverse_kl_and_teacher_prior_match_float64(scale, t):
    zt, zs = _logits(scale, 1), _logits(scale, 2)
    got = np.asarray(reverse_kl_divergence(zt, zs, temperature=t))
    ref = _kl64(zs, zt, t)
    assert np.all(np.isfinite(got)) and np.all(got >= 0)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=_tol(t, scale))
    # the KD prior term: alpha * mean_i T^2 KL(teacher || student), teacher given as log-probs
    prior = TeacherPrior(alpha=0.7, temperature=t, table=np.asarray(jax.nn.log_softmax(zt)))
    batch = {"index": np.arange(B), "label_mask": np.ones(B)}
    term = float(prior(None, zs, batch))
    ref_term = 0.7 * np.mean(_kl64(_logp64(zt), zs, t))
    assert np.isfinite(term)
    np.testing.assert_allclose(term, ref_term, rtol=1e-4, atol=_tol(t, scale))


@pytest.mark.parametrize("scale", SCALES)
def test_label_smoothing_term_matches_float64(scale):
    z = _logits(scale, 3)
    mask = (np.arange(B) % 3 != 0).astype(np.float32)
    got = float(LabelSmoothing(epsilon=0.2)(None, z, {"label_mask": mask}))
    ce_uniform = -_logp64(z).mean(-1)
    ref = 0.2 * np.sum(ce_uniform * mask) / mask.sum()
    assert np.isfinite(got)
    np.testing.assert_allclose(got, ref, rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize("scale", SCALES)
def test_ensemble_predictive_matches_float64(scale):
    z = np.random.default_rng(4).normal(size=(B, 5, K)).astype(np.float32) * scale
    got = np.asarray(log_mean_probs(z))
    lp = _logp64(z)
    m = lp.max(-2, keepdims=True)
    ref = (m + np.log(np.exp(lp - m).mean(-2, keepdims=True)))[..., 0, :]
    finite = np.isfinite(ref)
    assert np.all(np.isfinite(got) | ~finite)
    # absolute error of a float32 log-probability of size |z|
    np.testing.assert_allclose(got[finite], ref[finite], rtol=1e-6, atol=1e-6 + 2e-7 * scale)


def _metrics64(p, y, q):
    """float64 references of NLL (clamped at 1e-12), Brier, entropy, KL(q || p), 15-bin ECE."""
    p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
    nll = -np.mean(np.log(np.maximum(p[np.arange(len(y)), y], 1e-12)))
    brier_ = np.mean(np.sum((p - np.eye(p.shape[1])[y]) ** 2, -1))
    ent = np.mean(-np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0), -1))
    kl = np.mean(np.sum(np.where(q > 0, q * (np.log(np.where(q > 0, q, 1))
                                             - np.log(np.maximum(p, 1e-12))), 0), -1))
    conf, correct = p.max(-1), (p.argmax(-1) == y)
    edges = np.linspace(0, 1, 16)
    idx = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, 14)
    ece_ = sum(abs(conf[idx == b].mean() - correct[idx == b].mean()) * np.mean(idx == b)
               for b in range(15) if np.any(idx == b))
    return {"nll": nll, "brier": brier_, "entropy": ent, "kl_teacher_student": kl, "ece": ece_}


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("t", TEMPERATURES)
def test_metrics_match_float64_on_extreme_predictions(scale, t):
    """Metrics of the float32 probabilities softmax(z / T) against float64 on the same inputs."""
    y = np.arange(B) % K
    p = np.asarray(jax.nn.softmax(jnp.asarray(_logits(scale, 5)) / t, -1))
    q = np.asarray(jax.nn.softmax(jnp.asarray(_logits(scale, 6)) / t, -1))
    got = classification_metrics(p, y, teacher_probs=q)
    ref = _metrics64(p, y, q)
    for name, r in ref.items():
        assert np.isfinite(got[name]), name
        np.testing.assert_allclose(got[name], r, rtol=1e-5, atol=1e-5, err_msg=name)
    assert 0 <= got["ece"] <= 1 and 0 <= got["brier"] <= 2


@settings(max_examples=40, deadline=None)
@given(arrays(np.float32, (4, 6), elements=st.floats(-1e4, 1e4, width=32)),
       arrays(np.float32, (4, 6), elements=st.floats(-1e4, 1e4, width=32)),
       st.floats(-1e3, 1e3, width=32), st.sampled_from(TEMPERATURES))
def test_reverse_kl_properties(zt, zs, shift, t):
    kl = np.asarray(reverse_kl_divergence(zt, zs, temperature=t))
    assert np.all(np.isfinite(kl)) and np.all(kl >= 0)
    assert np.all(np.asarray(reverse_kl_divergence(zt, zt, temperature=t)) == 0)
    # a shift of every logit changes nothing (up to float32 rounding of the shifted logits)
    shifted = np.asarray(reverse_kl_divergence(zt + shift, zs + shift, temperature=t))
    np.testing.assert_allclose(shifted, kl, rtol=1e-3, atol=_tol(t, 1e4 + abs(shift)))


def test_kl_is_zero_only_for_equal_distributions():
    z = _logits(1.0, 7)
    nudged = z.copy()
    nudged[:, 0] += 0.1
    for f in (kl_divergence, reverse_kl_divergence):
        assert np.all(np.asarray(f(z, z)) == 0)
        # the same distribution from shifted logits: zero up to the rounding of z + 3 in float32
        assert np.all(np.asarray(f(z, z + 3.0)) < 1e-6)
        # a different distribution: clearly positive (about 0.1^2 p(1-p) / 2 >= 1e-5 here)
        assert np.all(np.asarray(f(z, nudged)) > 1e-5)


@settings(max_examples=40, deadline=None)
@given(arrays(np.float32, (16, 5), elements=st.floats(-1e4, 1e4, width=32)),
       arrays(np.int32, (16,), elements=st.integers(0, 4)), st.sampled_from(TEMPERATURES))
def test_ece_and_brier_ranges_for_extreme_logits(z, y, t):
    p = jax.nn.softmax(jnp.asarray(z) / t, -1)
    e, b = float(ece(p, y)), float(brier(p, y))
    assert 0.0 <= e <= 1.0 + 1e-6
    assert 0.0 <= b <= 2.0 + 1e-6


def _fd_grad(f, z, eps=1e-6):
    g = np.zeros(z.shape)
    for i in np.ndindex(z.shape):
        e = np.zeros(z.shape)
        e[i] = eps
        g[i] = (float(f(z + e)) - float(f(z - e))) / (2 * eps)
    return g


@pytest.mark.parametrize("t", [0.5, 4.0])
def test_gradients_match_finite_differences_float64(t):
    with jax.enable_x64(True):
        rng = np.random.default_rng(8)
        zt = jnp.asarray(rng.normal(size=(3, 4)))
        zs = jnp.asarray(rng.normal(size=(3, 4)))
        mask = jnp.asarray([1.0, 0.0, 1.0])
        losses = {
            "reverse_kl": lambda z: jnp.sum(reverse_kl_divergence(zt, z, temperature=t)),
            "teacher_prior": lambda z: TeacherPrior(alpha=0.6, temperature=t,
                                                    table=jax.nn.log_softmax(zt))(
                None, z, {"index": jnp.arange(zt.shape[0]), "label_mask": mask}),
            "label_smoothing": lambda z: LabelSmoothing(epsilon=0.3)(None, z / t,
                                                                     {"label_mask": mask}),
        }
        for name, f in losses.items():
            g = np.asarray(jax.grad(f)(zs))
            assert g.dtype == np.float64, name
            fd = _fd_grad(jax.jit(f), np.asarray(zs))
            np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-9, err_msg=name)

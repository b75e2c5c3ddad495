"""Masked classes (logit -inf): finite where the divergence is, +inf where it is not, never NaN.

optax's standard for its losses (all-masked rows, -inf non-target logits: zero loss and zero
gradient), applied to every entry of the divergence table and to the chunked, vocabulary-sharded
and naive paths of the fused kernel. Masks are drawn by Hypothesis; each group of cases is one
compiled program, so an example costs a dispatch, not a compile.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from bayeskd.distributed import make_mesh
from bayeskd.losses import DIVERGENCES, divergence, divergence_value_and_grad
from bayeskd.losses.fused import fused_linear_distillation

B, K, T = 5, 7, 1.7
#: Every table entry at interior hyperparameters, plus the endpoints where a divergence becomes a
#: plain KL (the cases that can be infinite).
CASES = [(name, dict(beta=0.3, lam=0.2)) for name in DIVERGENCES] + [
    ("jsd", dict(beta=0.0)), ("jsd", dict(beta=1.0)),
    ("skew_kl", dict(lam=0.0)), ("skew_reverse_kl", dict(lam=0.0)),
]
IDS = [f"{n}-{kw}" for n, kw in CASES]


def _np_divergence(name, zt, zs, *, beta, lam, t=T):
    """float64 reference from the definitions, with 0 log(0/b) = 0 and a log(a/0) = +inf."""
    def log_softmax(z):
        z = z / t
        finite = np.isfinite(z)
        m = np.where(finite.any(-1, keepdims=True),
                     np.max(np.where(finite, z, -np.inf), -1, keepdims=True), 0.0)
        total = np.exp(z - m).sum(-1, keepdims=True)
        with np.errstate(divide="ignore"):
            return z - m - np.log(np.where(total > 0, total, 1.0))

    q, p = np.exp(log_softmax(np.asarray(zt, np.float64))), np.exp(log_softmax(zs))

    def kl(a, b):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.sum(np.where(a > 0, a * np.log(a / b), 0.0), -1)

    if name == "jsd":
        m = beta * q + (1 - beta) * p
        return t**2 * (kl(q, p) if beta == 0 else kl(p, q) if beta == 1
                       else beta * kl(q, m) + (1 - beta) * kl(p, m))
    return {"forward_kl": lambda: t**2 * kl(q, p), "reverse_kl": lambda: t**2 * kl(p, q),
            "skew_kl": lambda: t**2 * kl(q, lam * q + (1 - lam) * p),
            "skew_reverse_kl": lambda: t**2 * kl(p, lam * p + (1 - lam) * q),
            "tvd": lambda: 0.5 * np.abs(q - p).sum(-1)}[name]()


@jax.jit
def _table(zt, zs):
    """Value, closed-form gradient and autodiff gradient of every case."""
    out = []
    for name, kw in CASES:
        kw = dict(name=name, temperature=T, **kw)
        value, grad = divergence_value_and_grad(zt, zs, **kw)
        auto = jax.grad(lambda z, kw=kw: jnp.sum(divergence(zt, z, **kw)))(zs)
        out.append((divergence(zt, zs, **kw), value, grad, auto))
    return out


logits = arrays(np.float32, (B, K), elements=st.floats(-8, 8, width=32))
masks = arrays(np.bool_, (B, K))


@settings(max_examples=40, deadline=None)
@given(logits, logits, masks)
def test_shared_mask_is_finite_with_zero_gradient_on_masked_classes(zt, zs, masked):
    """Both sides -inf at the same classes (rows masked everywhere included): every value and
    gradient is finite, the gradient on a masked class is exactly 0, and the value is the
    divergence of the distributions restricted to the kept classes (0 for an empty row)."""
    zt_m, zs_m = np.where(masked, -np.inf, zt), np.where(masked, -np.inf, zs)
    empty = masked.all(-1)
    for (name, kw), (value, value_vg, grad, auto) in zip(CASES, _table(zt_m, zs_m), strict=True):
        for x in (value, value_vg, grad, auto):
            assert np.all(np.isfinite(x)), (name, kw)
        assert np.all(np.asarray(grad)[masked] == 0.0), (name, kw)
        assert np.all(np.asarray(auto)[masked] == 0.0), (name, kw)
        want = _np_divergence(name, zt_m, zs_m, **{"beta": 0.5, "lam": 0.1, **kw})
        np.testing.assert_allclose(value, np.where(empty, 0.0, want), rtol=2e-5, atol=2e-6)
        if name != "tvd":  # |p - q| has a kink at p = q, where rounding picks the subgradient
            np.testing.assert_allclose(grad, auto, rtol=1e-4, atol=1e-5)
        assert np.all(np.asarray(value)[empty] == 0.0) and np.all(np.asarray(grad)[empty] == 0.0)


@settings(max_examples=40, deadline=None)
@given(logits, logits, masks, masks)
def test_one_sided_mask_gives_inf_exactly_where_the_divergence_is_infinite(zt, zs, mt, ms):
    """Teacher and student masked independently: never NaN; +inf exactly where the float64
    reference is (e.g. forward KL with the student -inf on the teacher's support); elsewhere the
    reference's value, finite gradients, and zero gradient on the student's masked classes."""
    zt_m, zs_m = np.where(mt, -np.inf, zt), np.where(ms, -np.inf, zs)
    for (name, kw), (value, value_vg, grad, _) in zip(CASES, _table(zt_m, zs_m), strict=True):
        want = _np_divergence(name, zt_m, zs_m, **{"beta": 0.5, "lam": 0.1, **kw})
        want = np.where(mt.all(-1) | ms.all(-1), np.nan, want)  # an empty side: not defined
        defined = ~np.isnan(want)
        value, value_vg, grad = (np.asarray(x)[defined] for x in (value, value_vg, grad))
        assert not np.any(np.isnan(value)) and not np.any(np.isnan(value_vg)), (name, kw)
        want = want[defined]
        np.testing.assert_array_equal(np.isposinf(value), np.isinf(want), err_msg=f"{name} {kw}")
        finite = np.isfinite(want)
        np.testing.assert_allclose(value[finite], want[finite], rtol=2e-5, atol=2e-6)
        assert np.all(np.isfinite(grad[finite])), (name, kw)
        assert np.all(grad[finite][ms[defined][finite]] == 0.0), (name, kw)


# --------------------------------------------------------------------------------------------------
# The fused kernel's paths, with a class mask `where`.
# --------------------------------------------------------------------------------------------------

N, H, V, CHUNK = 11, 6, 16, 4  # 11 = 2 * 4 + 3: a ragged last chunk
PATHS = ("chunked", "vocab_sharded", "naive")


def _heads(seed=0):
    rng = np.random.default_rng(seed)
    h_s, h_t = rng.standard_normal((N, H)), rng.standard_normal((N, H))
    w_s, w_t = (rng.standard_normal((H, V)) / np.sqrt(H) for _ in range(2))
    return tuple(jnp.asarray(x, jnp.float32) for x in (h_s, w_s, h_t, w_t))


def _kernel_kw(path):
    return dict(implementation=path, mesh=make_mesh(1) if path == "vocab_sharded" else None)


@functools.partial(jax.jit, static_argnames="cases")
def _kernel(args, where, cases):
    """Loss and (h_s, w_s) gradients of each (divergence, path) case under the mask ``where``."""
    return [jax.value_and_grad(
        lambda h, w, d=d, p=p: fused_linear_distillation(
            h, w, *args[2:], divergence=d, temperature=T, beta=0.3, lam=0.2, where=where,
            chunk_size=CHUNK, **_kernel_kw(p)), argnums=(0, 1))(*args[:2]) for d, p in cases]


KERNEL_CASES = tuple((d, p) for d in DIVERGENCES for p in PATHS)


@settings(max_examples=15, deadline=None)
@given(arrays(np.bool_, (N, V)))
def test_kernel_paths_finite_under_a_per_token_mask(masked):
    """A per-token mask [N, V] (tokens masked everywhere included): finite loss and gradients on
    every path, the three paths agreeing, and zero head gradient on classes masked in every row."""
    out = dict(zip(KERNEL_CASES, _kernel(_heads(), jnp.asarray(~masked), KERNEL_CASES),
                   strict=True))
    for d in DIVERGENCES:
        (v_ref, (gh_ref, gw_ref)) = out[(d, "naive")]
        for p in PATHS:
            v, (gh, gw) = out[(d, p)]
            assert np.isfinite(float(v)) and np.all(np.isfinite(gh)) and np.all(np.isfinite(gw))
            np.testing.assert_allclose(v, v_ref, rtol=1e-5, atol=1e-6, err_msg=f"{d} {p}")
            np.testing.assert_allclose(gh, gh_ref, rtol=1e-4, atol=1e-6, err_msg=f"{d} {p}")
            np.testing.assert_allclose(gw, gw_ref, rtol=1e-4, atol=1e-6, err_msg=f"{d} {p}")
            assert np.all(np.asarray(gw)[:, masked.all(0)] == 0.0), (d, p)


def test_kernel_vocabulary_mask_equals_the_smaller_vocabulary():
    """A [V] mask (a vocabulary padded past its real size) gives the loss and gradients of the
    heads without the masked columns, and exactly zero gradient for those columns."""
    args = _heads(1)
    keep = np.arange(V) % 5 != 3
    cases = tuple((d, p) for d in DIVERGENCES for p in PATHS[:2])
    h_s, w_s, h_t, w_t = args
    small = (h_s, w_s[:, keep], h_t, w_t[:, keep])
    masked = _kernel(args, jnp.asarray(keep), cases)
    plain = _kernel(small, None, cases)
    for (d, p), (v, (gh, gw)), (v0, (gh0, gw0)) in zip(cases, masked, plain, strict=True):
        np.testing.assert_allclose(v, v0, rtol=1e-5, err_msg=f"{d} {p}")
        np.testing.assert_allclose(gh, gh0, rtol=1e-4, atol=1e-7, err_msg=f"{d} {p}")
        np.testing.assert_allclose(gw[:, keep], gw0, rtol=1e-4, atol=1e-7, err_msg=f"{d} {p}")
        assert np.all(np.asarray(gw)[:, ~keep] == 0.0), (d, p)

"""The low-precision contract: bfloat16 and float16 inputs, every divergence, every path.

Apple's Cut Cross-Entropy rule (Wijmans et al. 2025): given inputs in a low dtype, the error of
bayeskd's result against a float32 ground truth computed at ``HIGHEST`` matmul precision from the
same (upcast) inputs must be no larger than the error of the *naive same-dtype implementation*
(every op in the low dtype, gradients by autodiff) plus a small tolerance. Errors are relative
Frobenius norms over the whole output. The divergence table promotes to float32 before any
arithmetic, so there the error must also be float32-sized. Shapes do not divide the chunk
(Liger tests its fused JSD the same way).

Plus shift invariance in low precision: adding a constant to every logit changes the result
only as much as the rounding of the shifted inputs changes the exact (float64) divergence.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bayeskd.distributed import make_mesh
from bayeskd.losses import DIVERGENCES, TABLE, DivergenceParams, divergence
from bayeskd.losses import divergence_value_and_grad as value_and_grad
from bayeskd.losses.fused import fused_linear_distillation

DTYPES = (jnp.bfloat16, jnp.float16)
T, BETA, LAM = 2.0, 0.3, 0.2
CASES = [(name, dict(beta=BETA, lam=LAM)) for name in DIVERGENCES] + [
    ("jsd", dict(beta=0.0, lam=LAM)), ("jsd", dict(beta=1.0, lam=LAM))]
#: slack on top of the naive error (relative): float32 accumulation-order noise.
SLACK = 1e-4


def _rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def _naive_same_dtype(zt, zs, name, beta, lam):
    """The textbook implementation kept in the inputs' dtype: log_softmax, the table's formula."""
    logp_t, logp_s = (jax.nn.log_softmax(z / jnp.asarray(T, z.dtype), axis=-1) for z in (zt, zs))
    value = TABLE[name].value(logp_t, logp_s, DivergenceParams(beta, lam))
    if name == "jsd" and beta in (0.0, 1.0):  # the endpoint definition, not the mixture
        value = TABLE["forward_kl" if beta == 0.0 else "reverse_kl"].value(
            logp_t, logp_s, DivergenceParams())
    return value * jnp.asarray(T**2 if TABLE[name].t2 else 1.0, value.dtype)


# --------------------------------------------------------------------------------------------------
# The table.
# --------------------------------------------------------------------------------------------------


@functools.partial(jax.jit, static_argnames="dtype")
def _table_errors(zt32, zs32, dtype):
    zt, zs = zt32.astype(dtype), zs32.astype(dtype)
    gt_in = (zt.astype(jnp.float32), zs.astype(jnp.float32))  # the same values, upcast
    out = []
    for name, kw in CASES:
        def ours(z, kw=kw, name=name):
            return jnp.sum(divergence(zt, z, name=name, temperature=T, **kw))

        def truth(z, kw=kw, name=name):
            return jnp.sum(divergence(gt_in[0], z, name=name, temperature=T, **kw))

        def naive(z, kw=kw, name=name):
            return jnp.sum(_naive_same_dtype(zt, z, name, **kw))

        gt_v, gt_g = value_and_grad(*gt_in, name=name, temperature=T, **kw)
        closed_v, closed_g = value_and_grad(zt, zs, name=name, temperature=T, **kw)
        auto = jax.grad(ours)(zs)
        out.append(dict(gt=(gt_v, gt_g, jax.grad(truth)(gt_in[1])),
                        ours=(divergence(zt, zs, name=name, temperature=T, **kw), closed_v,
                              closed_g, auto),
                        naive=(_naive_same_dtype(zt, zs, name, **kw), jax.grad(naive)(zs))))
    return out


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: jnp.dtype(d).name)
def test_table_in_low_precision_no_worse_than_naive_and_float32_accurate(dtype):
    rng = np.random.default_rng(0)
    zt, zs = (jnp.asarray(rng.normal(size=(33, 151)) * 3.0, jnp.float32) for _ in range(2))
    for (name, kw), r in zip(CASES, _table_errors(zt, zs, dtype), strict=True):
        gt_v, gt_g, gt_auto = r["gt"]
        value, closed_v, closed_g, auto = r["ours"]
        naive_v, naive_g = r["naive"]
        assert value.dtype == jnp.float32 and closed_g.dtype == jnp.float32, name
        e_naive_v, e_naive_g = _rel(naive_v, gt_v), _rel(naive_g, gt_g)
        for got_v in (value, closed_v):
            assert _rel(got_v, gt_v) <= e_naive_v + SLACK, (name, kw)
            assert _rel(got_v, gt_v) < 1e-5, (name, kw)  # promoted: float32-sized error
        assert _rel(closed_g, gt_g) <= e_naive_g + SLACK, (name, kw)
        assert _rel(closed_g, gt_g) < 1e-5, (name, kw)
        # autodiff returns the inputs' dtype: one rounding of the float32 gradient
        assert auto.dtype == dtype, name
        assert _rel(auto, gt_auto) <= e_naive_g + SLACK, (name, kw)
        assert _rel(auto, gt_auto) < 2 * float(jnp.finfo(dtype).eps), (name, kw)


def _np_divergence64(name, zt, zs, beta, lam):
    def log_softmax(z):
        z = np.asarray(z, np.float64) / T
        z = z - z.max(-1, keepdims=True)
        return z - np.log(np.exp(z).sum(-1, keepdims=True))

    return np.asarray(divergence(log_softmax(zt), log_softmax(zs), name=name, temperature=1.0,
                                 beta=beta, lam=lam), np.float64) * (T**2 if TABLE[name].t2
                                                                     else 1.0)


@functools.partial(jax.jit, static_argnames="dtype")
def _shifted_values(zt, zs, shift_t, shift_s, dtype):
    def low(z, c):  # shift in float32, then round to the low dtype: the only error admitted
        return (z.astype(jnp.float32) + c).astype(dtype)

    zt0, zs0 = zt.astype(dtype), zs.astype(dtype)
    zt1, zs1 = low(zt0, shift_t), low(zs0, shift_s)
    return [(divergence(zt0, zs0, name=n, temperature=T, **kw),
             divergence(zt1, zs1, name=n, temperature=T, **kw)) for n, kw in CASES], (zt1, zs1)


@settings(max_examples=25, deadline=None)
@given(st.floats(-1e3, 1e3), st.floats(-1e3, 1e3), st.sampled_from(DTYPES))
def test_shift_invariance_beyond_input_rounding(shift_t, shift_s, dtype):
    """|D(z + c) - D(z)| is at most what the rounding of z + c does to the exact divergence."""
    rng = np.random.default_rng(1)
    zt, zs = (jnp.asarray(rng.normal(size=(8, 29)) * 2.0, jnp.float32) for _ in range(2))
    values, (zt1, zs1) = _shifted_values(zt, zs, shift_t, shift_s, dtype)
    zt0, zs0 = (np.asarray(z.astype(dtype), np.float64) for z in (zt, zs))
    zt1, zs1 = np.asarray(zt1, np.float64), np.asarray(zs1, np.float64)
    with jax.enable_x64(True):
        exact = [(_np_divergence64(n, zt0, zs0, kw["beta"], kw["lam"]),
                  _np_divergence64(n, zt1, zs1, kw["beta"], kw["lam"])) for n, kw in CASES]
    for (name, kw), (v0, v1), (x0, x1) in zip(CASES, values, exact, strict=True):
        assert np.all(np.isfinite(v1)), (name, kw)
        explained = np.abs(x1 - x0)
        np.testing.assert_array_less(np.abs(np.asarray(v1) - np.asarray(v0)),
                                     explained + 1e-5 + 1e-5 * np.abs(x0), err_msg=f"{name}")


# --------------------------------------------------------------------------------------------------
# The fused kernel: chunked and vocabulary-sharded.
# --------------------------------------------------------------------------------------------------

N, H, HT, V, CHUNK = 53, 24, 20, 151, 16  # 53 = 3 * 16 + 5: the last chunk is ragged
#: the jsd endpoints run the forward and reverse KL code exactly (tests/losses/test_losses_fused.py)
KERNEL_CASES = [(name, dict(beta=BETA, lam=LAM)) for name in DIVERGENCES]


def _naive_kernel_same_dtype(h_s, w_s, h_t, w_t, name, kw):
    zs, zt = h_s @ w_s, jax.lax.stop_gradient(h_t @ w_t)  # matmuls in the low dtype
    return jnp.mean(_naive_same_dtype(zt, zs, name, **kw))


@functools.partial(jax.jit, static_argnames="dtype")
def _kernel_results(args32, dtype):
    args = tuple(x.astype(dtype) for x in args32)
    up = tuple(x.astype(jnp.float32) for x in args)  # the same values, upcast
    mesh = make_mesh(1)
    out = []
    for name, kw in KERNEL_CASES:
        common = dict(divergence=name, temperature=T, chunk_size=CHUNK, **kw)

        def vag(f, a):
            return jax.value_and_grad(lambda h, w: f(h, w, *a[2:]), argnums=(0, 1))(*a[:2])

        with jax.default_matmul_precision("highest"):
            gt = vag(functools.partial(fused_linear_distillation, implementation="naive",
                                       **common), up)
        out.append(dict(
            gt=gt,
            chunked=vag(functools.partial(fused_linear_distillation, **common), args),
            vocab_sharded=vag(functools.partial(fused_linear_distillation, mesh=mesh,
                                                implementation="vocab_sharded", **common), args),
            naive=vag(functools.partial(_naive_kernel_same_dtype, name=name, kw=kw), args)))
    return out


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: jnp.dtype(d).name)
def test_kernel_in_low_precision_no_worse_than_naive(dtype):
    rng = np.random.default_rng(2)
    args = (rng.standard_normal((N, H)), rng.standard_normal((H, V)) / np.sqrt(H) * 3.0,
            rng.standard_normal((N, HT)), rng.standard_normal((HT, V)) / np.sqrt(HT) * 3.0)
    args = tuple(jnp.asarray(x, jnp.float32) for x in args)
    for (name, kw), r in zip(KERNEL_CASES, _kernel_results(args, dtype), strict=True):
        gt_v, (gt_h, gt_w) = r["gt"]
        naive_v, (naive_h, naive_w) = r["naive"]
        for path in ("chunked", "vocab_sharded"):
            v, (g_h, g_w) = r[path]
            assert v.dtype == jnp.float32 and g_h.dtype == dtype and g_w.dtype == dtype
            msg = (name, kw, path)
            assert _rel(v, gt_v) <= _rel(naive_v, gt_v) + SLACK, msg
            assert _rel(g_h, gt_h) <= _rel(naive_h, gt_h) + SLACK, msg
            assert _rel(g_w, gt_w) <= _rel(naive_w, gt_w) + SLACK, msg

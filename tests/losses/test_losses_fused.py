"""Tests for the chunked fused linear-head distillation kernel (bayeskd.losses.fused)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import log_softmax as np_log_softmax

from bayeskd.losses._kernel_bench import bench_kd_kernel
from bayeskd.losses.fused import (
    DIVERGENCES,
    fused_linear_distillation,
    naive_linear_distillation,
)

N, H, HT, V, CHUNK = 37, 16, 12, 101, 8  # 37 = 4 * 8 + 5: the last chunk is ragged


def _problem(seed=0, n=N, h=H, ht=HT, v=V, scale=1.0, dtype=jnp.float32):
    k = jax.random.split(jax.random.key(seed), 5)
    h_s = jax.random.normal(k[0], (n, h)) * scale
    w_s = jax.random.normal(k[1], (h, v)) / np.sqrt(h)
    h_t = jax.random.normal(k[2], (n, ht)) * scale
    w_t = jax.random.normal(k[3], (ht, v)) / np.sqrt(ht)
    labels = jax.random.randint(k[4], (n,), 0, v)
    return tuple(x.astype(dtype) for x in (h_s, w_s, h_t, w_t)), labels


def _rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30)


def _value_and_grads(fn, args, **kwargs):
    """Loss and gradients w.r.t. all four array inputs."""
    return jax.value_and_grad(lambda *a: fn(*a, **kwargs), argnums=(0, 1, 2, 3))(*args)


def _np_reference(args, labels, *, divergence, temperature, beta=0.5, label_weight=0.0):
    """Float64 NumPy value of the mean loss, written straight from the definitions."""
    h_s, w_s, h_t, w_t = (np.asarray(x, np.float64) for x in args)
    zs, zt = h_s @ w_s, h_t @ w_t
    lps, lpt = np_log_softmax(zs / temperature, axis=-1), np_log_softmax(zt / temperature, axis=-1)
    ps, pt = np.exp(lps), np.exp(lpt)
    t2 = temperature**2
    if divergence == "forward_kl":
        d = t2 * np.sum(pt * (lpt - lps), -1)
    elif divergence == "reverse_kl":
        d = t2 * np.sum(ps * (lps - lpt), -1)
    elif divergence == "jsd":
        m = beta * pt + (1 - beta) * ps
        d = t2 * (beta * np.sum(pt * np.log(pt / m), -1) + (1 - beta) * np.sum(ps * np.log(ps / m), -1))
    else:
        d = 0.5 * np.sum(np.abs(pt - ps), -1)
    loss = (1 - label_weight) * d
    if label_weight > 0:
        ce = -np_log_softmax(zs, axis=-1)[np.arange(len(zs)), np.asarray(labels)]
        loss = loss + label_weight * ce
    return loss.mean()


@pytest.mark.parametrize("with_labels", [False, True])
@pytest.mark.parametrize("temperature", [1.0, 2.5])
@pytest.mark.parametrize("divergence", DIVERGENCES)
def test_matches_naive_values_and_grads(divergence, temperature, with_labels):
    args, labels = _problem()
    kw = dict(divergence=divergence, temperature=temperature, beta=0.3, chunk_size=CHUNK)
    if with_labels:
        kw.update(labels=labels, label_weight=0.25)
    v_f, g_f = _value_and_grads(fused_linear_distillation, args, **kw)
    v_n, g_n = _value_and_grads(naive_linear_distillation, args, **kw)
    assert v_f.dtype == jnp.float32 and v_f.shape == ()
    assert abs(float(v_f) - float(v_n)) <= 1e-5 * abs(float(v_n))
    for name, gf, gn in zip(("h_student", "w_student"), g_f[:2], g_n[:2], strict=True):
        assert gf.shape == gn.shape and gf.dtype == gn.dtype
        assert _rel(gf, gn) < 1e-5, name
    for gf, gn in zip(g_f[2:], g_n[2:], strict=True):  # teacher: stop-gradient in both
        assert not np.any(np.asarray(gf)) and not np.any(np.asarray(gn))
    # Without differentiation the loss-only scan gives the same value.
    assert float(fused_linear_distillation(*args, **kw)) == pytest.approx(float(v_f), rel=1e-6)


@pytest.mark.parametrize("divergence", DIVERGENCES)
def test_values_match_float64_reference(divergence):
    args, labels = _problem(seed=1)
    for temperature, lw in [(1.0, 0.0), (2.5, 0.4)]:
        kw = dict(divergence=divergence, temperature=temperature, beta=0.3, label_weight=lw)
        got = fused_linear_distillation(*args, labels=labels, chunk_size=CHUNK, **kw)
        want = _np_reference(args, labels, **kw)
        assert float(got) == pytest.approx(want, rel=2e-6)


@pytest.mark.parametrize("chunk_size", [1, 5, 37, 1000])
def test_chunk_size_does_not_change_result(chunk_size):
    args, labels = _problem(seed=2)
    kw = dict(divergence="jsd", temperature=2.0, labels=labels, label_weight=0.5)
    v_ref, g_ref = _value_and_grads(naive_linear_distillation, args, **kw)
    v, g = _value_and_grads(fused_linear_distillation, args, chunk_size=chunk_size, **kw)
    assert float(v) == pytest.approx(float(v_ref), rel=1e-5)
    assert _rel(g[0], g_ref[0]) < 1e-5 and _rel(g[1], g_ref[1]) < 1e-5


def test_sum_reduction_is_n_times_mean():
    args, _ = _problem(seed=3)
    grad = jax.value_and_grad(
        lambda *a, r: fused_linear_distillation(*a, reduction=r, chunk_size=CHUNK), argnums=(0, 1)
    )
    (v_mean, g_mean), (v_sum, g_sum) = grad(*args, r="mean"), grad(*args, r="sum")
    assert float(v_sum) == pytest.approx(N * float(v_mean), rel=1e-6)
    assert _rel(g_sum[1], N * g_mean[1]) < 1e-6


def test_cotangent_scales_gradients():
    args, _ = _problem(seed=4)
    f = lambda h, w: fused_linear_distillation(h, w, *args[2:], chunk_size=CHUNK)  # noqa: E731
    _, vjp = jax.vjp(f, *args[:2])
    g1, g3 = vjp(jnp.float32(1.0)), vjp(jnp.float32(-3.0))
    assert _rel(g3[0], -3.0 * g1[0]) < 1e-7 and _rel(g3[1], -3.0 * g1[1]) < 1e-7


@pytest.mark.parametrize("divergence", DIVERGENCES)
def test_zero_iff_student_equals_teacher(divergence):
    (h_s, w_s, h_t, w_t), _ = _problem(seed=5, ht=H)
    same = fused_linear_distillation(h_s, w_s, h_s, w_s, divergence=divergence, chunk_size=CHUNK)
    other = fused_linear_distillation(h_s, w_s, h_t, w_t, divergence=divergence, chunk_size=CHUNK)
    assert abs(float(same)) < 1e-6
    assert float(other) > 1e-3
    if divergence == "tvd":
        assert float(other) <= 1.0


def test_jsd_endpoints_are_scaled_forward_and_reverse_kl():
    """beta -> 0: JSD/beta -> KL(p_T || p_S); beta -> 1: JSD/(1-beta) -> KL(p_S || p_T)."""
    args, _ = _problem(seed=6)
    kw = dict(temperature=2.0, chunk_size=CHUNK)
    fwd, g_fwd = _value_and_grads(fused_linear_distillation, args, divergence="forward_kl", **kw)
    rev, g_rev = _value_and_grads(fused_linear_distillation, args, divergence="reverse_kl", **kw)
    errs = []
    for eps in (1e-2, 1e-3):
        lo, g_lo = _value_and_grads(fused_linear_distillation, args, divergence="jsd", beta=eps, **kw)
        hi, g_hi = _value_and_grads(fused_linear_distillation, args, divergence="jsd", beta=1 - eps, **kw)
        errs.append(abs(float(lo) / eps - float(fwd)) / float(fwd))
        assert abs(float(hi) / eps - float(rev)) / float(rev) < 30 * eps
        assert _rel(g_lo[1] / eps, g_fwd[1]) < 30 * eps
        assert _rel(g_hi[1] / eps, g_rev[1]) < 30 * eps
    assert errs[1] < 30 * 1e-3 and errs[1] < errs[0] / 5  # the gap closes linearly in beta
    # ... and not the other way round.
    assert abs(float(lo) / 1e-3 - float(rev)) / float(rev) > 0.05


@pytest.mark.parametrize("divergence", DIVERGENCES)
def test_bfloat16_inputs_close_to_float32(divergence):
    args32, labels = _problem(seed=7)
    args16 = tuple(x.astype(jnp.bfloat16) for x in args32)
    kw = dict(divergence=divergence, temperature=2.0, labels=labels, label_weight=0.1, chunk_size=CHUNK)
    v32, g32 = _value_and_grads(fused_linear_distillation, args32, **kw)
    # Compare against float32 on the bfloat16-rounded inputs, so only the kernel's arithmetic counts.
    v_r, g_r = _value_and_grads(fused_linear_distillation, tuple(x.astype(jnp.float32) for x in args16), **kw)
    v16, g16 = _value_and_grads(fused_linear_distillation, args16, **kw)
    assert v16.dtype == jnp.float32
    assert g16[0].dtype == jnp.bfloat16 and g16[1].dtype == jnp.bfloat16
    assert float(v16) == pytest.approx(float(v_r), rel=1e-3)
    assert float(v16) == pytest.approx(float(v32), rel=5e-2)
    assert _rel(g16[0], g_r[0]) < 2e-2 and _rel(g16[1], g_r[1]) < 2e-2
    v_n, g_n = _value_and_grads(naive_linear_distillation, args16, **kw)
    assert float(v16) == pytest.approx(float(v_n), rel=1e-3)
    assert _rel(g16[1], g_n[1]) < 2e-2


@pytest.mark.parametrize("divergence", DIVERGENCES)
def test_stable_for_logits_of_magnitude_1e4(divergence):
    args, labels = _problem(seed=8, scale=1.0)
    h_s, w_s, h_t, w_t = args
    z = jnp.abs(h_s @ w_s).max()
    args = (h_s * (1e4 / z), w_s, h_t * (1e4 / jnp.abs(h_t @ w_t).max()), w_t)
    kw = dict(divergence=divergence, labels=labels, label_weight=0.5, chunk_size=CHUNK)
    v_f, g_f = _value_and_grads(fused_linear_distillation, args, **kw)
    v_n, g_n = _value_and_grads(naive_linear_distillation, args, **kw)
    assert np.isfinite(float(v_f)) and all(np.all(np.isfinite(g)) for g in g_f)
    assert float(v_f) == pytest.approx(float(v_n), rel=1e-5)
    assert _rel(g_f[0], g_n[0]) < 1e-5 and _rel(g_f[1], g_n[1]) < 1e-5


def test_jit_and_grad_wrt_one_argument():
    args, labels = _problem(seed=9)
    f = jax.jit(
        jax.grad(
            lambda w, h, ht, wt, y: fused_linear_distillation(
                h, w, ht, wt, labels=y, label_weight=1.0, chunk_size=CHUNK
            )
        )
    )
    g = f(args[1], args[0], args[2], args[3], labels)
    g_ref = jax.grad(
        lambda w: naive_linear_distillation(args[0], w, *args[2:], labels=labels, label_weight=1.0)
    )(args[1])
    assert _rel(g, g_ref) < 1e-5


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(divergence="kl"), "divergence"),
        (dict(temperature=0.0), "temperature"),
        (dict(temperature=-1.0), "temperature"),
        (dict(temperature=float("nan")), "temperature"),
        (dict(temperature=float("inf")), "temperature"),
        (dict(beta=0.0), "beta"),
        (dict(beta=1.0), "beta"),
        (dict(chunk_size=0), "chunk_size"),
        (dict(chunk_size=2.5), "chunk_size"),
        (dict(label_weight=1.5), "label_weight"),
        (dict(label_weight=-0.1), "label_weight"),
        (dict(label_weight=0.5), "labels"),
        (dict(labels=jnp.zeros((N + 1,), jnp.int32)), "labels"),
        (dict(labels=jnp.zeros((N,), jnp.float32)), "labels"),
        (dict(reduction="none"), "reduction"),
    ],
)
@pytest.mark.parametrize("fn", [fused_linear_distillation, naive_linear_distillation])
def test_bad_arguments_raise_value_error(fn, kwargs, match):
    args, _ = _problem()
    with pytest.raises(ValueError, match=match):
        fn(*args, **kwargs)


@pytest.mark.parametrize(
    ("which", "shape", "match"),
    [
        (0, (N + 1, H), "h_teacher"),  # N mismatch
        (1, (H, V + 1), "w_teacher"),  # V mismatch
        (1, (H + 1, V), "w_student"),  # H mismatch
        (3, (HT, V, 1), "w_teacher"),  # not 2-D
    ],
)
def test_mismatched_shapes_raise_at_trace_time(which, shape, match):
    args, _ = _problem()
    args = list(args)
    args[which] = jnp.zeros(shape)
    with pytest.raises(ValueError, match=match):
        jax.jit(fused_linear_distillation).lower(*args)


def test_fused_temp_memory_at_most_15_percent_of_naive():
    """N=2048, H=256, V=65536: compile-only comparison of XLA temporary buffers."""
    n, h, v = 2048, 256, 65536
    spec = (
        jax.ShapeDtypeStruct((n, h), jnp.float32),
        jax.ShapeDtypeStruct((h, v), jnp.float32),
        jax.ShapeDtypeStruct((n, h), jnp.float32),
        jax.ShapeDtypeStruct((h, v), jnp.float32),
    )

    def temp_bytes(fn):
        step = jax.jit(jax.value_and_grad(fn, argnums=(0, 1)))
        return step.lower(*spec).compile().memory_analysis().temp_size_in_bytes

    fused = temp_bytes(fused_linear_distillation)
    naive = temp_bytes(naive_linear_distillation)
    assert naive >= 4 * n * v * 4  # several [N, V] float32 buffers
    assert fused <= 0.15 * naive, (fused, naive)


def test_bench_kd_kernel_tiny():
    report = bench_kd_kernel(n=24, hidden=8, vocab_sizes=(40, 72), repeats=2, chunk_size=8)
    assert report["n"] == 24 and report["hidden"] == 8 and report["chunk_size"] == 8
    rows = report["results"]
    assert [r["vocab"] for r in rows] == [40, 72]
    for r in rows:
        assert r["loss_fused"] == pytest.approx(r["loss_naive"], rel=1e-5)
        assert r["grad_rel_err"] < 1e-5
        for key in ("temp", "time", "rss"):
            f, nv = r[f"fused_{key}"], r[f"naive_{key}"]
            assert f > 0 and nv > 0
            assert r[f"{key}_ratio"] == pytest.approx(f / nv)
        assert r["baseline_rss"] > 0

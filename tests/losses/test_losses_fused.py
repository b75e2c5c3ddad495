"""Tests for the chunked fused linear-head distillation kernel (bayeskd.losses.fused).

Compilation dominates the runtime on CPU, so each group of cases is traced into a single
``jax.jit`` (a module-scoped fixture) and the parametrized tests read their case from it.
"""

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import log_softmax as np_log_softmax

from bayeskd.losses.fused import DIVERGENCES, fused_linear_distillation

N, H, HT, V, CHUNK = 37, 16, 12, 101, 8  # 37 = 4 * 8 + 5: the last chunk is ragged
BETA, LAM, LABEL_WEIGHT = 0.3, 0.2, 0.25

# The reference: full logits, the table's value, gradients by autodiff.
naive_reference = functools.partial(fused_linear_distillation, implementation="naive")


def _problem(seed=0, *, ht=HT, dtype=jnp.float32):
    """Hidden states and heads with O(1) logits, plus integer labels (NumPy draws: no compiles)."""
    rng = np.random.default_rng(seed)
    arrays = (
        rng.standard_normal((N, H)),
        rng.standard_normal((H, V)) / np.sqrt(H),
        rng.standard_normal((N, ht)),
        rng.standard_normal((ht, V)) / np.sqrt(ht),
    )
    labels = jnp.asarray(rng.integers(0, V, size=N), jnp.int32)
    return tuple(jnp.asarray(x, dtype) for x in arrays), labels


def _rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def _vag(fn, args, argnums=(0, 1, 2, 3), **kwargs):
    """Loss and gradients of ``fn(*args, **kwargs)`` w.r.t. the array inputs in argnums."""
    return jax.value_and_grad(lambda *a: fn(*a, **kwargs), argnums=argnums)(*args)


def _np_reference(args, labels, *, divergence, temperature, beta, lam, label_weight):
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
        d = t2 * (
            beta * np.sum(pt * np.log(pt / m), -1) + (1 - beta) * np.sum(ps * np.log(ps / m), -1)
        )
    elif divergence == "skew_kl":
        d = t2 * np.sum(pt * np.log(pt / (lam * pt + (1 - lam) * ps)), -1)
    elif divergence == "skew_reverse_kl":
        d = t2 * np.sum(ps * np.log(ps / (lam * ps + (1 - lam) * pt)), -1)
    else:
        d = 0.5 * np.sum(np.abs(pt - ps), -1)
    loss = (1 - label_weight) * d
    if label_weight > 0:
        ce = -np_log_softmax(zs, axis=-1)[np.arange(len(zs)), np.asarray(labels)]
        loss = loss + label_weight * ce
    return loss.mean()


# --------------------------------------------------------------------------------------
# Fused == naive, every divergence x temperature x labels.
# --------------------------------------------------------------------------------------

MATCH_CASES = list(itertools.product(DIVERGENCES, (1.0, 2.5), (False, True)))


def _case_kwargs(case, labels):
    divergence, temperature, with_labels = case
    kw = dict(divergence=divergence, temperature=temperature, beta=BETA, lam=LAM, chunk_size=CHUNK)
    if with_labels:
        kw.update(labels=labels, label_weight=LABEL_WEIGHT)
    return kw


@pytest.fixture(scope="module")
def match_results():
    args, labels = _problem()

    @jax.jit
    def run(h_s, w_s, h_t, w_t, y):
        a = (h_s, w_s, h_t, w_t)
        out = []
        for case in MATCH_CASES:
            kw = _case_kwargs(case, y)
            out.append(
                (
                    _vag(fused_linear_distillation, a, **kw),
                    _vag(naive_reference, a, **kw),
                    # The loss-only primal path (no differentiation), checked on a few cases.
                    fused_linear_distillation(*a, **kw) if case[1] == 2.5 else jnp.nan,
                )
            )
        return out

    return dict(zip(MATCH_CASES, run(*args, labels), strict=True)), args, labels


@pytest.mark.parametrize("case", MATCH_CASES, ids=lambda c: f"{c[0]}-T{c[1]}-labels{c[2]}")
def test_matches_naive_values_and_grads(match_results, case):
    results, _, _ = match_results
    (v_f, g_f), (v_n, g_n), v_primal = results[case]
    assert v_f.dtype == jnp.float32 and v_f.shape == ()
    assert abs(float(v_f) - float(v_n)) <= 1e-5 * abs(float(v_n))
    if case[1] == 2.5:
        assert abs(float(v_primal) - float(v_f)) <= 1e-6 * abs(float(v_f))
    for name, gf, gn in zip(("h_student", "w_student"), g_f[:2], g_n[:2], strict=True):
        assert gf.shape == gn.shape and gf.dtype == gn.dtype
        assert _rel(gf, gn) < 1e-5, name
    for gf, gn in zip(g_f[2:], g_n[2:], strict=True):  # teacher: stop-gradient in both
        assert not np.any(np.asarray(gf)) and not np.any(np.asarray(gn))


@pytest.mark.parametrize("case", MATCH_CASES, ids=lambda c: f"{c[0]}-T{c[1]}-labels{c[2]}")
def test_values_match_float64_reference(match_results, case):
    results, args, labels = match_results
    (v_f, _), _, _ = results[case]
    kw = _case_kwargs(case, labels)
    want = _np_reference(
        args,
        labels,
        divergence=kw["divergence"],
        temperature=kw["temperature"],
        beta=BETA,
        lam=LAM,
        label_weight=kw.get("label_weight", 0.0),
    )
    assert float(v_f) == pytest.approx(want, rel=1e-5)


# --------------------------------------------------------------------------------------
# Chunking, reduction, cotangents, properties.
# --------------------------------------------------------------------------------------


def test_chunk_size_reduction_and_cotangent():
    args, labels = _problem(seed=2)
    kw = dict(divergence="jsd", temperature=2.0, labels=labels, label_weight=0.5)
    chunk_sizes = (1, 5, 1000)  # 1000 > N: one unpadded chunk

    @jax.jit
    def run(*a):
        ref = _vag(naive_reference, a, argnums=(0, 1), **kw)
        chunked = [
            _vag(fused_linear_distillation, a, argnums=(0, 1), chunk_size=c, **kw)
            for c in chunk_sizes
        ]
        summed = _vag(fused_linear_distillation, a, argnums=(0, 1), reduction="sum", **kw)
        _, vjp = jax.vjp(lambda h, w: fused_linear_distillation(h, w, *a[2:], **kw), *a[:2])
        return ref, chunked, summed, vjp(jnp.float32(-3.0))

    (v_ref, g_ref), chunked, (v_sum, g_sum), g_cot = run(*args)
    for v, g in chunked:  # any chunk size, ragged or not, gives the same answer
        assert float(v) == pytest.approx(float(v_ref), rel=1e-5)
        assert _rel(g[0], g_ref[0]) < 1e-5 and _rel(g[1], g_ref[1]) < 1e-5
    assert float(v_sum) == pytest.approx(N * float(v_ref), rel=1e-5)
    assert _rel(g_sum[1], N * g_ref[1]) < 1e-5
    assert _rel(g_cot[0], -3.0 * g_ref[0]) < 1e-5 and _rel(g_cot[1], -3.0 * g_ref[1]) < 1e-5


def test_zero_iff_student_equals_teacher():
    (h_s, w_s, h_t, w_t), _ = _problem(seed=5, ht=H)

    @jax.jit
    def run(h_s, w_s, h_t, w_t):
        f = fused_linear_distillation
        same = [f(h_s, w_s, h_s, w_s, divergence=d, chunk_size=CHUNK) for d in DIVERGENCES]
        other = [f(h_s, w_s, h_t, w_t, divergence=d, chunk_size=CHUNK) for d in DIVERGENCES]
        return same, other

    same, other = run(h_s, w_s, h_t, w_t)
    for d, s, o in zip(DIVERGENCES, same, other, strict=True):
        assert abs(float(s)) < 1e-6, d
        assert float(o) > 1e-2, d
    assert float(other[DIVERGENCES.index("tvd")]) <= 1.0


def test_jsd_endpoints_are_scaled_forward_and_reverse_kl():
    r"""beta -> 0: JSD/beta -> KL(p_T || p_S); beta -> 1: JSD/(1 - beta) -> KL(p_S || p_T).

    With m = beta p_T + (1 - beta) p_S: as beta -> 0, m -> p_S and the second term
    KL(p_S || m) is O(beta^2), leaving beta KL(p_T || p_S); symmetrically for beta -> 1.
    """
    args, _ = _problem(seed=6)
    epsilons = (1e-3, 1e-4)

    @jax.jit
    def run(*a):
        vag = lambda **kw: _vag(fused_linear_distillation, a, argnums=1, chunk_size=CHUNK, **kw)  # noqa: E731
        ends = [
            (vag(divergence="jsd", beta=e), vag(divergence="jsd", beta=1 - e)) for e in epsilons
        ]
        return vag(divergence="forward_kl"), vag(divergence="reverse_kl"), ends

    (fwd, g_fwd), (rev, g_rev), ends = run(*args)
    assert _rel(g_fwd, g_rev) > 0.3  # the two KLs are far apart, so the limits are informative
    grad_errs = []
    for eps, ((lo, g_lo), (hi, g_hi)) in zip(epsilons, ends, strict=True):
        assert abs(float(lo) / eps - float(fwd)) < 10 * eps * float(fwd)
        assert abs(float(hi) / eps - float(rev)) < 10 * eps * float(rev)
        grad_errs.append((_rel(g_lo / eps, g_fwd), _rel(g_hi / eps, g_rev)))
        # ... and not the other way round.
        assert _rel(g_lo / eps, g_rev) > 0.3 and _rel(g_hi / eps, g_fwd) > 0.3
    (lo_1, hi_1), (lo_2, hi_2) = grad_errs
    assert lo_2 < 1e-2 and hi_2 < 1e-2
    assert lo_2 < lo_1 / 3 and hi_2 < hi_1 / 3  # the gap closes as beta reaches the end


@pytest.mark.parametrize(("beta", "plain"), [(0.0, "forward_kl"), (1.0, "reverse_kl")])
def test_jsd_endpoints_are_forward_and_reverse_kl_exactly(beta, plain):
    """beta = 0 and 1 are accepted and give the plain KLs exactly on every path; trl's golden
    case (student [0.1, 0.9], teacher [0.9, 0.1]: 0.8 ln 9 at both ends) through identity heads."""
    from bayeskd.distributed import make_mesh

    args, _ = _problem(seed=10)
    paths = [dict(implementation="chunked"), dict(implementation="naive"),
             dict(implementation="vocab_sharded", mesh=make_mesh(1))]

    @jax.jit
    def run(*a):
        return [(_vag(fused_linear_distillation, a, argnums=(0, 1), divergence="jsd", beta=beta,
                      chunk_size=CHUNK, temperature=2.0, **p),
                 _vag(fused_linear_distillation, a, argnums=(0, 1), divergence=plain,
                      chunk_size=CHUNK, temperature=2.0, **p)) for p in paths]

    for p, ((v, g), (v0, g0)) in zip(paths, run(*args), strict=True):
        assert float(v) == float(v0), p
        for x, y in zip(g, g0, strict=True):
            np.testing.assert_array_equal(x, y, err_msg=str(p))
    eye = jnp.eye(2)
    student, teacher = jnp.log(jnp.array([[0.1, 0.9]])), jnp.log(jnp.array([[0.9, 0.1]]))
    golden = fused_linear_distillation(student, eye, teacher, eye, divergence="jsd", beta=beta)
    assert float(golden) == pytest.approx(0.8 * np.log(9.0), rel=1e-6)


# --------------------------------------------------------------------------------------
# Precision and stability.
# --------------------------------------------------------------------------------------


def test_bfloat16_inputs_close_to_float32():
    args32, labels = _problem(seed=7)
    args16 = tuple(x.astype(jnp.bfloat16) for x in args32)
    kws = [
        dict(divergence=d, temperature=2.0, labels=labels, label_weight=0.1, chunk_size=CHUNK)
        for d in DIVERGENCES
    ]

    @jax.jit
    def run(args32, args16):
        return [
            (
                _vag(fused_linear_distillation, args16, argnums=(0, 1), **kw),
                _vag(fused_linear_distillation, args32, argnums=(0, 1), **kw),
                _vag(naive_reference, args16, argnums=(0, 1), **kw),
            )
            for kw in kws
        ]

    for d, ((v16, g16), (v32, g32), (v_n, g_n)) in zip(
        DIVERGENCES, run(args32, args16), strict=True
    ):
        assert v16.dtype == jnp.float32, d
        assert g16[0].dtype == jnp.bfloat16 and g16[1].dtype == jnp.bfloat16, d
        # bf16 rounding of the inputs (8-bit mantissa) moves the loss by ~1e-2 at most.
        assert float(v16) == pytest.approx(float(v32), rel=2e-2), d
        assert _rel(g16[0], g32[0]) < 5e-2 and _rel(g16[1], g32[1]) < 5e-2, d
        # Same bf16 inputs through the naive path (float32 logits, autodiff): closer.
        assert float(v16) == pytest.approx(float(v_n), rel=1e-3), d
        assert _rel(g16[0], g_n[0]) < 2e-2 and _rel(g16[1], g_n[1]) < 2e-2, d


def test_stable_for_logits_of_magnitude_1e4():
    (h_s, w_s, h_t, w_t), labels = _problem(seed=8)
    h_s = h_s * (1e4 / jnp.abs(h_s @ w_s).max())  # largest |logit| = 1e4
    h_t = h_t * (1e4 / jnp.abs(h_t @ w_t).max())
    args = (h_s, w_s, h_t, w_t)
    kw = dict(labels=labels, label_weight=0.5, chunk_size=CHUNK)

    @jax.jit
    def run(*a):
        return [
            (
                _vag(fused_linear_distillation, a, argnums=(0, 1), divergence=d, **kw),
                _vag(naive_reference, a, argnums=(0, 1), divergence=d, **kw),
            )
            for d in DIVERGENCES
        ]

    for d, ((v_f, g_f), (v_n, g_n)) in zip(DIVERGENCES, run(*args), strict=True):
        assert np.isfinite(float(v_f)) and all(np.all(np.isfinite(g)) for g in g_f), d
        assert float(v_f) == pytest.approx(float(v_n), rel=1e-5), d
        assert _rel(g_f[0], g_n[0]) < 1e-5 and _rel(g_f[1], g_n[1]) < 1e-5, d


def test_grad_wrt_one_argument_under_jit():
    args, labels = _problem(seed=9)
    kw = dict(labels=labels, label_weight=1.0, chunk_size=CHUNK)

    @jax.jit
    def run(h_s, w_s, h_t, w_t):
        def grad_w(f):
            return jax.grad(lambda w: f(h_s, w, h_t, w_t, **kw))(w_s)

        return grad_w(fused_linear_distillation), grad_w(naive_reference)

    g, g_ref = run(*args)
    assert _rel(g, g_ref) < 1e-5


# --------------------------------------------------------------------------------------
# Bad input.
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(divergence="kl"), "divergence"),
        (dict(temperature=0.0), "temperature"),
        (dict(temperature=-1.0), "temperature"),
        (dict(temperature=float("nan")), "temperature"),
        (dict(temperature=float("inf")), "temperature"),
        (dict(beta=-0.1), "beta"),
        (dict(beta=1.5), "beta"),
        (dict(beta=float("nan")), "beta"),
        (dict(lam=-0.1), "lam"),
        (dict(lam=1.5), "lam"),
        (dict(implementation="pallas"), "implementation"),
        (dict(chunk_size=0), "chunk_size"),
        (dict(chunk_size=2.5), "chunk_size"),
        (dict(label_weight=1.5), "label_weight"),
        (dict(label_weight=-0.1), "label_weight"),
        (dict(label_weight=0.5), "labels"),
        (dict(labels=jnp.zeros((N + 1,), jnp.int32)), "labels"),
        (dict(labels=jnp.zeros((N,), jnp.float32)), "labels"),
        (dict(reduction="none"), "reduction"),
        (dict(where=jnp.ones((V + 1,), bool)), "where"),
        (dict(where=jnp.ones((V,), jnp.float32)), "where"),
    ],
)
@pytest.mark.parametrize("fn", [fused_linear_distillation, naive_reference])
def test_bad_arguments_raise_value_error(fn, kwargs, match):
    args, _ = _problem()
    with pytest.raises(ValueError, match=f"^{match}: ") as err:
        jax.jit(lambda *a: fn(*a, **kwargs)).lower(*args)  # raised while tracing
    assert "\n" not in str(err.value)  # one line, naming the argument first


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


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(implementation="vocab_sharded"), "mesh: implementation='vocab_sharded' needs"),
        (dict(mesh="vocab"), "mesh: implementation='vocab_sharded' needs"),
        (dict(implementation="chunked", mesh=True), "mesh: only implementation='vocab_sharded'"),
        (dict(implementation="naive", mesh=True), "mesh: only implementation='vocab_sharded'"),
        (dict(mesh=True, axis="model"), "axis: unknown 'model'"),
    ],
)
def test_mesh_and_axis_belong_to_the_vocab_sharded_implementation(kwargs, match):
    from bayeskd.distributed import make_mesh

    args, _ = _problem()
    if kwargs.get("mesh") is True:  # a real (one-device) mesh
        kwargs = {**kwargs, "mesh": make_mesh(1)}
    kwargs.setdefault("implementation", "vocab_sharded")
    with pytest.raises(ValueError, match=f"^{match}") as err:
        jax.jit(lambda *a: fused_linear_distillation(*a, **kwargs)).lower(*args)
    assert "\n" not in str(err.value)


def test_vocab_sharded_on_one_device_equals_chunked():
    """The shard_map path on a one-device mesh: the chunked kernel's value and gradients."""
    from bayeskd.distributed import make_mesh

    args, labels = _problem()
    kw = dict(divergence="jsd", temperature=2.0, beta=BETA, labels=labels,
              label_weight=LABEL_WEIGHT, chunk_size=CHUNK)
    loss, grads = _vag(fused_linear_distillation, args, (0, 1), **kw)
    loss_1, grads_1 = jax.jit(functools.partial(
        _vag, fused_linear_distillation, argnums=(0, 1), implementation="vocab_sharded",
        mesh=make_mesh(1), **kw))(args)
    assert abs(float(loss_1) - float(loss)) <= 1e-6 * abs(float(loss))
    for g, g_1 in zip(grads, grads_1, strict=True):
        assert _rel(g_1, g) < 1e-6


def test_traced_temperature_is_rejected():
    args, _ = _problem()
    with pytest.raises(ValueError, match="temperature"):
        jax.jit(lambda t, *a: fused_linear_distillation(*a, temperature=t)).lower(2.0, *args)


# --------------------------------------------------------------------------------------
# Memory.
# --------------------------------------------------------------------------------------


def test_fused_temp_memory_at_most_15_percent_of_naive():
    """N=2048, H=256, V=65536, default chunk: compile-only comparison of XLA temp buffers."""
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
    naive = temp_bytes(naive_reference)
    assert naive >= 4 * n * v * 4  # several [N, V] float32 buffers
    assert fused <= 0.15 * naive, (fused, naive)

"""Divergences against float64 references, properties, and the stable range of logits/temperatures."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from bayeskd.losses import (
    DIVERGENCES,
    TABLE,
    divergence,
    divergence_value_and_grad,
    kl_divergence,
    log_mean_probs,
    reverse_kl_divergence,
    soft_cross_entropy,
    softmax_cross_entropy,
)


def _kl64(zt, zs, t):
    """float64 numpy reference of T^2 KL(softmax(zt/T) || softmax(zs/T))."""
    zt, zs = np.asarray(zt, np.float64) / t, np.asarray(zs, np.float64) / t
    lt = zt - zt.max(-1, keepdims=True)
    lt = lt - np.log(np.exp(lt).sum(-1, keepdims=True))
    ls = zs - zs.max(-1, keepdims=True)
    ls = ls - np.log(np.exp(ls).sum(-1, keepdims=True))
    pt = np.exp(lt)
    return t**2 * np.sum(np.where(pt > 0, pt * (lt - ls), 0.0), -1)


def test_kl_hand_computed():
    # p = (0.5, 0.5), q = (0.25, 0.75): KL = 0.5 log 2 + 0.5 log(2/3)
    zt = jnp.log(jnp.array([0.5, 0.5]))
    zs = jnp.log(jnp.array([0.25, 0.75]))
    expected = 0.5 * np.log(2.0) + 0.5 * np.log(2.0 / 3.0)
    np.testing.assert_allclose(kl_divergence(zt, zs), expected, rtol=1e-6)
    # reverse: 0.25 log(0.5) + 0.75 log(1.5)
    np.testing.assert_allclose(reverse_kl_divergence(zt, zs), 0.25 * np.log(0.5) + 0.75 * np.log(1.5),
                               rtol=1e-6)


@pytest.mark.parametrize("scale", [1.0, 1e2, 1e4])
@pytest.mark.parametrize("temperature", [0.05, 1.0, 4.0, 100.0])
def test_kl_matches_float64_reference_over_range(scale, temperature):
    rng = np.random.default_rng(0)
    zt = rng.normal(size=(64, 10)) * scale
    zs = rng.normal(size=(64, 10)) * scale
    got = np.asarray(kl_divergence(zt, zs, temperature=temperature))
    ref = _kl64(zt, zs, temperature)
    assert np.all(np.isfinite(got))
    # float32 carries ~6e-8 relative error; each of the K log-probabilities is up to
    # log K + |z|/T in size and the sum is scaled by T^2, so the attainable absolute accuracy is
    # about T^2 * K * eps32 * (log K + |z| / T).
    tol = 1e-5 + temperature**2 * 10 * 6e-8 * (3.0 + 4 * scale / temperature)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=tol)


def test_kl_gradient_matches_finite_differences_float64():
    with jax.enable_x64(True):
        rng = np.random.default_rng(1)
        zt = jnp.asarray(rng.normal(size=(3, 5)))
        zs = jnp.asarray(rng.normal(size=(3, 5)))

        def f(z):
            t = 2.5
            lt = jax.nn.log_softmax(zt / t)
            ls = jax.nn.log_softmax(z / t)
            return t**2 * jnp.sum(jnp.exp(lt) * (lt - ls))

        g = jax.grad(f)(zs)
        eps = 1e-6
        fd = np.zeros((3, 5))
        for i in range(3):
            for j in range(5):
                e = jnp.zeros((3, 5)).at[i, j].set(eps)
                fd[i, j] = (f(zs + e) - f(zs - e)) / (2 * eps)
        np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-9)
        # and the library function gives the same gradient in float32
        g32 = jax.grad(lambda z: jnp.sum(kl_divergence(zt.astype(jnp.float32), z, temperature=2.5)))(
            zs.astype(jnp.float32))
        np.testing.assert_allclose(g32, g, rtol=1e-4, atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float32, (4, 6), elements=st.floats(-30, 30, width=32)),
       arrays(np.float32, (4, 6), elements=st.floats(-30, 30, width=32)),
       st.floats(-50, 50), st.sampled_from([0.5, 1.0, 3.0]))
def test_kl_properties(zt, zs, shift, t):
    kl = np.asarray(kl_divergence(zt, zs, temperature=t))
    assert np.all(kl >= 0)
    np.testing.assert_allclose(kl_divergence(zt, zt + 0 * zs, temperature=t), 0.0, atol=1e-5)
    # invariant to adding a constant to every logit of either side
    np.testing.assert_allclose(kl_divergence(zt + shift, zs - shift, temperature=t), kl,
                               rtol=1e-3, atol=2e-4)


def test_kl_zero_only_for_equal_distributions():
    z = jnp.array([[0.0, 1.0, 2.0]])
    assert float(kl_divergence(z, z + 3.0)[0]) == 0.0
    assert float(kl_divergence(z, z * 1.01)[0]) > 0.0


def test_kl_handles_zero_teacher_probabilities():
    zt = jnp.array([[0.0, -jnp.inf, 1.0]])
    zs = jnp.array([[0.0, 0.0, 0.0]])
    v = kl_divergence(zt, zs)
    assert np.isfinite(v).all() and float(v[0]) > 0


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_kl_rejects_bad_temperature(bad):
    with pytest.raises(ValueError, match="temperature"):
        kl_divergence(jnp.zeros((1, 3)), jnp.zeros((1, 3)), temperature=bad)


def test_kl_rejects_shape_mismatch():
    with pytest.raises(ValueError, match="teacher_logits"):
        kl_divergence(jnp.zeros((2, 3)), jnp.zeros((2, 4)))


def test_cross_entropies():
    z = jnp.array([[2.0, 0.0, -1.0]])
    logp = jax.nn.log_softmax(z)
    np.testing.assert_allclose(softmax_cross_entropy(z, jnp.array([1])), -logp[:, 1], rtol=1e-6)
    q = jnp.array([[0.2, 0.3, 0.5]])
    np.testing.assert_allclose(soft_cross_entropy(z, q), -(q * logp).sum(-1), rtol=1e-6)


def test_log_mean_probs_averages_in_probability_space():
    p1 = jnp.array([0.9, 0.1])
    p2 = jnp.array([0.1, 0.9])
    members = jnp.log(jnp.stack([p1, p2]))[None]  # [1, M=2, K=2]
    np.testing.assert_allclose(jnp.exp(log_mean_probs(members)), [[0.5, 0.5]], rtol=1e-6)
    # averaging logits instead would give a different (here also uniform) answer; use unequal
    p3 = jnp.array([0.99, 0.01])
    members = jnp.log(jnp.stack([p3, p2]))[None]
    np.testing.assert_allclose(jnp.exp(log_mean_probs(members)), [[0.545, 0.455]], rtol=1e-5)


# --------------------------------------------------------------------------------------------------
# The divergence table: every entry's value and closed-form gradient.
# --------------------------------------------------------------------------------------------------


def _np_log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def _np_divergence(name, zt, zs, t, beta=0.5, lam=0.1):
    """float64 numpy reference of every divergence, written from the definitions."""
    q = np.exp(_np_log_softmax(np.asarray(zt, np.float64) / t))
    p = np.exp(_np_log_softmax(np.asarray(zs, np.float64) / t))

    def kl(a, b):
        return np.sum(a * np.log(a / b), -1)

    if name == "tvd":
        return 0.5 * np.abs(q - p).sum(-1)
    value = {
        "forward_kl": lambda: kl(q, p),
        "reverse_kl": lambda: kl(p, q),
        "jsd": lambda: beta * kl(q, beta * q + (1 - beta) * p)
        + (1 - beta) * kl(p, beta * q + (1 - beta) * p),
        "skew_kl": lambda: kl(q, lam * q + (1 - lam) * p),
        "skew_reverse_kl": lambda: kl(p, lam * p + (1 - lam) * q),
    }[name]()
    return t**2 * value


def _np_fd_grad(f, z, eps=1e-6):
    """Central finite differences of sum(f(z)) in float64."""
    g = np.zeros(z.shape)
    for i in np.ndindex(z.shape):
        e = np.zeros(z.shape)
        e[i] = eps
        g[i] = (f(z + e).sum() - f(z - e).sum()) / (2 * eps)
    return g


def _logits(seed, shape=(4, 7), scale=1.5):
    rng = np.random.default_rng(seed)
    return rng.normal(size=shape) * scale, rng.normal(size=shape) * scale


def test_table_names_and_wrappers():
    assert DIVERGENCES == tuple(TABLE)
    assert DIVERGENCES[:5] == ("forward_kl", "reverse_kl", "jsd", "skew_kl", "tvd")
    assert [n for n in DIVERGENCES if not TABLE[n].t2] == ["tvd"]
    zt, zs = _logits(0)
    for wrapper, name in ((kl_divergence, "forward_kl"), (reverse_kl_divergence, "reverse_kl")):
        np.testing.assert_array_equal(wrapper(zt, zs, temperature=2.0),
                                      divergence(zt, zs, name=name, temperature=2.0))


@pytest.mark.parametrize("name", DIVERGENCES)
@pytest.mark.parametrize("t", [1.0, 2.5])
def test_divergence_matches_float64_reference(name, t):
    zt, zs = _logits(1)
    want = _np_divergence(name, zt, zs, t, beta=0.3, lam=0.2)
    got32 = divergence(zt, zs, name=name, temperature=t, beta=0.3, lam=0.2)
    assert got32.dtype == jnp.float32 and got32.shape == (4,)
    np.testing.assert_allclose(got32, want, rtol=2e-5, atol=1e-7)
    with jax.enable_x64(True):
        got64 = divergence(jnp.asarray(zt), jnp.asarray(zs), name=name, temperature=t, beta=0.3,
                           lam=0.2)
        np.testing.assert_allclose(got64, want, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", DIVERGENCES)
@pytest.mark.parametrize("t", [0.7, 2.5])
def test_closed_form_gradient_matches_autodiff_and_finite_differences(name, t):
    """float64: the table's gradient == jax.grad of divergence() == finite differences of numpy."""
    zt, zs = _logits(2)
    kw = dict(name=name, temperature=t, beta=0.3, lam=0.2)
    with jax.enable_x64(True):
        zt64, zs64 = jnp.asarray(zt), jnp.asarray(zs)
        value, grad = divergence_value_and_grad(zt64, zs64, **kw)
        auto = jax.grad(lambda z: jnp.sum(divergence(zt64, z, **kw)))(zs64)
    assert grad.dtype == jnp.float64 and grad.shape == zs.shape
    np.testing.assert_allclose(value, _np_divergence(name, zt, zs, t, 0.3, 0.2), rtol=1e-12)
    np.testing.assert_allclose(grad, auto, rtol=1e-10, atol=1e-14)
    fd = _np_fd_grad(lambda z: _np_divergence(name, zt, z, t, 0.3, 0.2), zs)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-9)
    # float32 gives the same gradient to float32 accuracy.
    _, grad32 = divergence_value_and_grad(zt, zs, **kw)
    np.testing.assert_allclose(grad32, grad, rtol=1e-4, atol=1e-6)


def test_jsd_limits_are_scaled_forward_and_reverse_kl():
    """trl's convention, m = beta p_t + (1 - beta) p_s: jsd/beta -> forward KL as beta -> 0 and
    jsd/(1 - beta) -> reverse KL as beta -> 1, in value and gradient, the gap closing like beta."""
    zt, zs = _logits(3)
    t = 2.0
    with jax.enable_x64(True):
        zt, zs = jnp.asarray(zt), jnp.asarray(zs)

        def vg(name, **kw):
            return divergence_value_and_grad(zt, zs, name=name, temperature=t, **kw)

        fwd, g_fwd = vg("forward_kl")
        rev, g_rev = vg("reverse_kl")
        assert float(jnp.max(jnp.abs(fwd - rev))) > 0.05  # far apart: the limits say something
        gaps = []
        for eps in (1e-3, 1e-4):
            lo, g_lo = vg("jsd", beta=eps)
            hi, g_hi = vg("jsd", beta=1 - eps)
            gap = [float(jnp.max(jnp.abs(a / eps - b) / jnp.abs(b).max()))
                   for a, b in ((lo, fwd), (hi, rev), (g_lo, g_fwd), (g_hi, g_rev))]
            assert max(gap) < 10 * eps
            # ... and not the other way round.
            assert float(jnp.max(jnp.abs(lo / eps - rev))) > 0.01
            gaps.append(max(gap))
        assert gaps[1] < gaps[0] / 5


@pytest.mark.parametrize(("skew", "plain"), [("skew_kl", "forward_kl"),
                                             ("skew_reverse_kl", "reverse_kl")])
def test_skew_kl_endpoints(skew, plain):
    """lam = 0 is the plain KL, lam = 1 is zero (value and closed-form gradient)."""
    zt, zs = _logits(4)
    with jax.enable_x64(True):
        zt, zs = jnp.asarray(zt), jnp.asarray(zs)
        v0, g0 = divergence_value_and_grad(zt, zs, name=skew, temperature=1.5, lam=0.0)
        v, g = divergence_value_and_grad(zt, zs, name=plain, temperature=1.5)
        v1, g1 = divergence_value_and_grad(zt, zs, name=skew, temperature=1.5, lam=1.0)
        mid = np.asarray(divergence(zt, zs, name=skew, temperature=1.5, lam=0.5))
        v = np.asarray(v)
    np.testing.assert_allclose(v0, v, rtol=1e-12)
    np.testing.assert_allclose(g0, g, rtol=1e-10, atol=1e-14)
    np.testing.assert_array_equal(v1, 0.0)
    np.testing.assert_allclose(g1, 0.0, atol=1e-15)
    assert np.all((0 < mid) & (mid < v))


def test_skew_kl_is_bounded_by_log_one_over_lam():
    """KL(q || lam q + (1 - lam) p) <= log(1/lam), however far apart p and q are (T^2 scaled)."""
    zt = jnp.array([[30.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    zs = jnp.array([[0.0, 30.0, 0.0], [0.0, 0.0, 60.0]])
    for lam in (0.1, 0.5):
        v = np.asarray(divergence(zt, zs, name="skew_kl", temperature=1.0, lam=lam))
        assert np.all(v <= np.log(1 / lam) + 1e-6) and v[0] > 0.9 * np.log(1 / lam)
    assert float(divergence(zt, zs, name="forward_kl")[0]) > 25  # unbounded without the skew


@pytest.mark.parametrize("name", DIVERGENCES)
def test_divergence_properties(name):
    """Zero at equal distributions, positive otherwise, invariant to shifting either's logits."""
    zt, zs = _logits(5)
    kw = dict(name=name, temperature=2.0, beta=0.3, lam=0.2)
    v = np.asarray(divergence(zt, zs, **kw))
    assert np.all(v > 1e-3)
    np.testing.assert_allclose(divergence(zt, zt + 7.0, **kw), 0.0, atol=1e-6)
    np.testing.assert_allclose(divergence(zt - 3.0, zs + 5.0, **kw), v, rtol=1e-5)


def test_divergence_jits_and_vmaps_over_beta_and_lam():
    """name is static; beta, lam and temperature may be traced (a sweep stacks them)."""
    zt, zs = (jnp.asarray(x, jnp.float32) for x in _logits(6))
    betas, lams = jnp.array([0.2, 0.7]), jnp.array([0.0, 0.4])
    f = jax.jit(jax.vmap(lambda b, m: divergence(zt, zs, name="jsd", beta=b, lam=m, temperature=2.0)
                         + divergence(zt, zs, name="skew_kl", beta=b, lam=m, temperature=2.0)))
    got = f(betas, lams)
    for i in range(2):
        want = _np_divergence("jsd", zt, zs, 2.0, beta=float(betas[i])) + _np_divergence(
            "skew_kl", zt, zs, 2.0, lam=float(lams[i]))
        np.testing.assert_allclose(got[i], want, rtol=2e-5)


@pytest.mark.parametrize(("kwargs", "arg"), [
    (dict(name="kl"), "name"),
    (dict(beta=-0.1), "beta"),
    (dict(beta=1.5), "beta"),
    (dict(beta=float("nan")), "beta"),
    (dict(lam=-0.1), "lam"),
    (dict(lam=1.5), "lam"),
    (dict(temperature=0.0), "temperature"),
])
@pytest.mark.parametrize("fn", [divergence, divergence_value_and_grad])
def test_divergence_bad_arguments_raise_one_line(fn, kwargs, arg):
    with pytest.raises(ValueError, match=f"^{arg}: ") as err:
        fn(jnp.zeros((2, 3)), jnp.zeros((2, 3)), **kwargs)
    assert "\n" not in str(err.value)


TRL_STUDENT, TRL_TEACHER = np.log([0.1, 0.9]), np.log([0.9, 0.1])
TRL_ENDPOINT = 0.8 * np.log(9.0)  # trl's golden value, 1.75778, at beta = 0 and at beta = 1


@pytest.mark.parametrize(("beta", "plain"), [(0.0, "forward_kl"), (1.0, "reverse_kl")])
def test_jsd_endpoints_are_forward_and_reverse_kl_exactly(beta, plain):
    """trl and Liger: jsd(beta=0) = KL(teacher || student), jsd(beta=1) = KL(student || teacher),
    exactly, in value and closed-form gradient, static or traced beta; trl's golden case."""
    golden = divergence(TRL_TEACHER, TRL_STUDENT, name="jsd", beta=beta)
    np.testing.assert_allclose(golden, TRL_ENDPOINT, rtol=1e-6)
    zt, zs = _logits(7)
    kw = dict(temperature=2.0)
    v, g = divergence_value_and_grad(zt, zs, name="jsd", beta=beta, **kw)
    v0, g0 = divergence_value_and_grad(zt, zs, name=plain, **kw)
    np.testing.assert_array_equal(v, v0)
    np.testing.assert_array_equal(g, g0)
    np.testing.assert_array_equal(divergence(zt, zs, name="jsd", beta=beta, **kw), v0)
    swept = jax.jit(jax.vmap(lambda b: divergence(zt, zs, name="jsd", beta=b, **kw)))(
        jnp.array([beta, 0.5]))
    np.testing.assert_allclose(swept[0], v0, rtol=1e-5)  # jit reassociates
    assert float(jnp.max(jnp.abs(swept[1] - v0))) > 0.05  # the interior is another objective

"""Exact pieces of the paper figures: closed forms, targets, the per-member teacher prior."""

import jax
import numpy as np
import pytest

from bayeskd.experiments.figures.self_distillation import kernel_self_distillation, rbf, solve_c
from bayeskd.experiments.figures.teacher_quality import virtual_teacher
from bayeskd.experiments.figures.variance_reduction import fit_softmax, tempered
from bayeskd.experiments.registry import summary_markdown


def test_solve_c_is_the_root():
    rng = np.random.default_rng(0)
    z, d = rng.normal(size=20), np.exp(rng.uniform(-8, 2, 20))
    target = 0.3 * float(z @ z)
    c = solve_c(z, d, target)
    assert np.sum((c * z / (c + d)) ** 2) == pytest.approx(target, rel=1e-6)
    assert solve_c(z, d, float(z @ z) * 1.01) == float("inf")  # the zero function is feasible


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kernel_self_distillation_rounds(seed):
    k = kernel_self_distillation(40, 12, seed=seed, epsilon=0.05)
    n, eps = 40, 0.05
    # round 1 in closed form: y1 = G (c I + G)^-1 y0 with the residual exactly sqrt(K eps)
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(0, 1, n))
    G = rbf(x, x)
    c0 = k["c"][0]
    y1 = G @ np.linalg.solve(c0 * np.eye(n) + G, k["y0"])
    np.testing.assert_allclose(k["train_fits"][0], y1, atol=1e-6)
    prev = k["y0"]
    for t, y in enumerate(k["train_fits"]):
        if t < k["collapse_round"]:
            assert np.sum((y - prev) ** 2) == pytest.approx(n * eps, rel=1e-6)
        else:
            assert np.all(y == 0)  # collapsed: the zero function
        prev = y
    # the multipliers grow, so the cumulative shrinkage only falls, largest eigenvalue least
    assert np.all(np.diff(k["c"][: k["collapse_round"]]) > 0)
    s = k["shrinkage"]
    assert np.all((s >= 0) & (s <= 1)) and np.all(np.diff(s, axis=0) <= 1e-12)
    assert np.all(np.diff(s[1], axis=0) <= 1e-12)
    assert k["collapse_round"] >= k["r0"] - 1


def test_tempered_and_virtual_teachers():
    p = np.array([[0.7, 0.2, 0.1], [0.4, 0.4, 0.2]])
    np.testing.assert_allclose(tempered(p, 1.0), p)
    hot, cold = tempered(p, 0.3), tempered(p, 3.0)
    for q in (hot, cold):
        np.testing.assert_allclose(q.sum(-1), 1.0)
    assert hot[0, 0] > p[0, 0] > cold[0, 0]
    lp = virtual_teacher(np.array([2, 0]), 4, a=0.85)
    np.testing.assert_allclose(np.exp(lp).sum(-1), 1.0, rtol=1e-6)
    assert np.exp(lp[0, 2]) == pytest.approx(0.85) and np.exp(lp[1, 3]) == pytest.approx(0.05)


def test_fit_softmax_recovers_a_realisable_target():
    rng = np.random.default_rng(1)
    phi = rng.normal(size=(2, 300, 3)).astype(np.float32)
    W = rng.normal(size=(3, 4)).astype(np.float32)
    q = np.asarray(jax.nn.softmax(phi @ W, -1))
    w = np.ones((2, 300), np.float32)
    w[1, 150:] = 0  # padding is ignored
    Wf, bf = fit_softmax(phi, q, w, steps=1500, prior_variance=1e6)
    for m in range(2):
        pred = np.asarray(jax.nn.softmax(phi[m] @ Wf[m] + bf[m], -1))
        assert np.abs(pred - q[m])[: 150].max() < 0.05


def test_summary_marks_disagreement():
    res = {"figure": "x", "title": "t", "paper": "p", "mirrors": "m", "published_claim": "c",
           "size": "smoke", "seeds": 2, "timing": {"runtime_s": 1.0}, "figures": ["x"],
           "notes": ["a note"], "tables": [],
           "comparisons": [{"claim": "up", "published": "1", "ours": "2", "agrees": False,
                            "note": ""},
                           {"claim": "flat", "published": "3", "ours": "3", "agrees": True,
                            "note": "n"}]}
    md = summary_markdown(res)
    assert "| up | 1 | 2 | **no** |" in md and "| flat | 3 | 3 (n) | yes |" in md
    assert "- a note" in md and "![x](x.png)" in md

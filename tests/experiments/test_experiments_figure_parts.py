"""Exact pieces of the paper figures: closed forms, targets, the per-member teacher prior, the
store of finished parts, and notes computed from the numbers they describe."""

import jax
import numpy as np
import pytest

from bayeskd.checkpoint import SweepStore
from bayeskd.data.mnist1d import generate_mnist1d
from bayeskd.experiments.common import load_job_dataset, string_keys
from bayeskd.experiments.figures import (
    label_smoothing_teacher,
    self_distillation,
    teacher_quality,
    variance_reduction,
)
from bayeskd.experiments.figures._base import (
    Units,
    transfer_labels,
)
from bayeskd.experiments.figures.prior_table import _versus
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


# ----------------------------------------------------------------------------- parts and keys


def test_a_cached_unit_is_computed_once_and_returned_as_read_back(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"pair": (1, 2), "x": np.arange(3, dtype=np.float32)}

    store = SweepStore(tmp_path / "ck", config={"a": 1}, log=None)
    first = store.cached("part", compute)
    assert first["pair"] == [1, 2]  # as read back: tuples come back as lists, on every run
    again = SweepStore(tmp_path / "ck", config={"a": 1}, log=None).cached("part", compute)
    assert calls == [1] and again["pair"] == [1, 2]
    np.testing.assert_array_equal(again["x"], first["x"])
    assert Units()("part", compute)["pair"] == (1, 2) and calls == [1, 1]  # no store: computed


def test_string_keys_turn_tuple_keys_into_strings_for_json():
    summary = {("mlp", "labels"): {"acc": 1.0}, 20: {(0.5, 2.0): [{(1, "a"): 3}]}}
    assert string_keys(summary) == {"mlp | labels": {"acc": 1.0},
                                    "20": {"0.5 | 2.0": [{"1 | a": 3}]}}


def test_generated_mnist1d_reproduces_the_transfer_set_with_labels():
    ds = load_job_dataset("mnist1d", transfer_size=25)
    x, y = generate_mnist1d(25, seed=ds.meta["transfer_seed"], mean=ds.meta["mean"],
                            std=ds.meta["std"])
    np.testing.assert_array_equal(x, ds.x_transfer)
    np.testing.assert_array_equal(transfer_labels(ds), y)
    assert x.dtype == np.float32 and y.dtype == np.int32 and set(y.tolist()) <= set(range(10))
    with pytest.raises(ValueError, match="num"):
        generate_mnist1d(0, seed=1, mean=0.0, std=1.0)


# ----------------------------------------------------------------------------- computed notes


@pytest.fixture
def no_figures(monkeypatch):
    for module in (self_distillation, teacher_quality, variance_reduction):
        monkeypatch.setattr(module, "_figure", lambda *args, **kwargs: None)


def test_variance_headline_gives_the_minimum_and_maximum_ratio(no_figures):
    size = variance_reduction.SIZES["smoke"]  # N = 20, 100, 500
    names = variance_reduction.arms()
    ratio = {20: 5.0, 100: 4.4, 500: 5.6}  # the first N is neither the minimum nor the maximum
    rows = []
    for n in size.sizes:
        for a, name in enumerate(names):
            var = ratio[n] if name == "one-hot" else 1.0
            rows.append({"part": "risk", "n": n, "target": name, "variance": var, "bias": 0.0})
            for s in range(2):
                nll = 0.6 + 0.01 * a + 0.1 * (name == "one-hot") / n + 0.001 * s
                rows.append({"part": "student", "n": n, "seed": s, "target": name,
                             "test_nll": nll, "excess_nll": nll - 0.6, "accuracy": 0.9})
    bias = {name: 0.01 * a for a, name in enumerate(names)}
    rep = variance_reduction._report(rows, size, 2, 0.6, 0.6, dict(bias), bias)
    assert "4.4x (N=100) to 5.6x (N=500)" in rep.headline


def test_teacher_quality_differences_come_from_unrounded_means(no_figures):
    def rows_for(student, arm, accs):
        return [{"student": student, "arm": arm, "seed": s, "accuracy": a}
                for s, a in enumerate(accs)]

    # means 66.433 % and 68.167 %: rounded first they would differ by 1.8, unrounded by 1.73
    rows = (rows_for("mlp", "labels", [0.66, 0.668667]) + rows_for("mlp", "KD, trained CNN",
                                                                   [0.68, 0.683333])
            + rows_for("mlp", "KD, barely trained CNN", [0.5, 0.5])
            + rows_for("mlp", "teacher-free KD", [0.6, 0.6])
            + rows_for("cnn", "labels", [0.9, 0.9])
            + rows_for("cnn", "reversed KD, MLP teacher", [0.8, 0.8]))
    teachers = {name: {"accuracy": a} for name, a in
                (("cnn", 0.93), ("cnn, barely trained", 0.39), ("mlp", 0.65))}
    rep = teacher_quality._report(rows, teacher_quality.SIZES["smoke"], 2, teachers)
    reference = rep.comparisons[-1]
    assert reference.ours.endswith("(+1.7 points)") and reference.agrees
    assert "KD, trained CNN +1.7 pts" in rep.headline
    assert any("28.0 points below the trained CNN" in n for n in rep.notes)


def test_self_distillation_reports_every_generation_not_the_best(no_figures):
    size = self_distillation.SIZES["smoke"]  # generations 0, 1, 2
    acc = {0: 0.60, 1: 0.55, 2: 0.62}  # generation 2 is the best; generation 1 is below gen 0
    rows = [{"part": "ban", "generation": g, "model": model, "seed": s, "accuracy": acc[g],
             "nll": 1.0, "ece": 0.1}
            for g in acc for model in ("generation", "ensemble 0..g") for s in range(2)]
    kernel = [{"test_mse": np.array([3.0, 1.0, 2.0]), "collapse_round": 2, "r0": 2.5,
               "kappa": 1e6, "best_round": 1, "c": np.ones(3), "shrinkage": np.ones((3, 4))}] * 2
    rep = self_distillation._report(rows, size, 2, kernel, {"confidence": 0.99, "accuracy": 1.0})
    assert "60.0, 55.0, 62.0%" in rep.headline
    born_again = rep.comparisons[0]
    assert born_again.agrees is False  # generation 1 against its teacher, not the best later one
    assert "1 of 2 later generations above gen 0" in born_again.ours
    assert rep.comparisons[-1].agrees is None  # the collapse bound cannot fail: no verdict


def test_smoothing_note_compares_each_difference_with_the_seed_std():
    def acc(mean, std):
        return {"accuracy": {"mean": mean, "std": std, "n": 3}}

    stud = {(0.0, 1.0): acc(0.6617, 0.0095), (0.2, 1.0): acc(0.6527, 0.0216),
            (0.0, 2.0): acc(0.6720, 0.0115), (0.2, 2.0): acc(0.6363, 0.0214),
            (0.0, 4.0): acc(0.6323, 0.0225), (0.2, 4.0): acc(0.6343, 0.0103)}
    note = label_smoothing_teacher._temperature_note(stud, (1.0, 2.0, 4.0), 0.0, 0.2)
    assert "T = 1: -0.9 points (lower mean, within one seed std)" in note
    assert "T = 2: -3.6 points (lower by more than one seed std)" in note
    assert "T = 4: +0.2 points (higher mean, within one seed std)" in note


def test_prior_comparison_words_follow_the_numbers():
    def ms(mean, std):
        return {"mean": mean, "std": std}

    assert _versus(ms(0.151, 0.012), ms(0.109, 0.008)) == "higher"  # not "the same NLL"
    assert _versus(ms(4.028, 0.239), ms(3.699, 0.867)) == "the same within one seed std"
    assert _versus(ms(0.1, 0.01), ms(0.2, 0.01)) == "lower"

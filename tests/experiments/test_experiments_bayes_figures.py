"""The Bayesian-distillation figures' exact pieces: KD = Dirichlet MAP, credible-interval
coverage, generalised-distillation targets, the uncertainty split, AUROC, the toy data, and bad
input. Each figure runs at smoke size in ``test_experiments_reproduce.py`` (one ``--all`` run),
where the numbers its ``results.json`` must record are checked."""

import jax
import numpy as np
import pytest

from bayeskd.experiments.figures import bayesian_dark_knowledge as bdk
from bayeskd.experiments.figures import ensemble_distribution_distillation as end2_fig
from bayeskd.experiments.figures import kd_as_map
from bayeskd.experiments.figures import privileged_information as pi
from bayeskd.experiments.figures import temperature_tempering as tt

# --------------------------------------------------------------------------- kd_as_map


def _toy(seed=0, n=40, d=3, k=3):
    rng = np.random.default_rng(seed)
    phi = rng.standard_normal((n, d))
    y = rng.integers(0, k, n).astype(np.int32)
    t = rng.dirichlet(np.ones(k), size=n)
    return phi, y, t


def test_kd_minimiser_is_the_dirichlet_map_at_t1_only():
    phi, y, t = _toy()
    with jax.enable_x64(True):
        w = kd_as_map._solve_maps(phi, y, t, weight_decay=1e-2)
    assert np.max(np.abs(w["kd"] - w["dirichlet"])) < 1e-8
    # the identity is not vacuous: T = 4 and alpha = 0 land elsewhere
    assert np.max(np.abs(w["kd_T4"] - w["dirichlet"])) > 1e-3
    assert np.max(np.abs(w["labels"] - w["dirichlet"])) > 1e-3


def test_coverage_counts_truths_inside_equal_tailed_intervals():
    draws = np.arange(1, 101, dtype=float)[:, None, None] / 100  # quantiles 0.05/0.95 = .0595/.9505
    truth = np.array([[0.06], [0.5], [0.95], [0.99]])[:, :, None][:, 0]  # [4, 1]
    draws = np.broadcast_to(draws, (100, 4, 1))
    assert kd_as_map.credible_coverage(draws, truth, 0.9) == 0.75
    got = kd_as_map.coverages(draws, truth, (0.5, 0.9))
    assert got == {0.5: 0.25, 0.9: 0.75}


@pytest.mark.parametrize("level", [0.0, 1.0, 1.5, -0.1])
def test_coverage_level_outside_the_open_unit_interval(level):
    with pytest.raises(ValueError, match=r"^level: must lie in the open interval \(0, 1\)"):
        kd_as_map.credible_coverage(np.zeros((3, 1, 1)), np.zeros((1, 1)), level)


# --------------------------------------------------------------------------- privileged information


def test_generalised_targets_give_the_generalised_distillation_loss():
    rng = np.random.default_rng(0)
    z, logits = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    y = np.array([0, 1, 2, 0, 1])
    log_s = pi.privileged_table(z, np.zeros((5, 2)), temperature=4.0)
    np.testing.assert_allclose(np.exp(log_s), jax.nn.softmax(z / 4.0), rtol=1e-5)
    q = pi.generalised_targets(y, log_s, imitation=0.3)
    logp = np.asarray(jax.nn.log_softmax(logits))
    ce_q = -np.sum(q * logp, -1)
    want = 0.7 * -logp[np.arange(5), y] + 0.3 * -np.sum(np.exp(log_s) * logp, -1)
    np.testing.assert_allclose(ce_q, want, rtol=1e-5)


def test_privileged_and_regular_row_counts_must_match():
    with pytest.raises(ValueError, match=r"^teacher_logits: .*one row per regular input \(N = 4\)"):
        pi.privileged_table(np.zeros((3, 2)), np.zeros((4, 5)), temperature=2.0)


@pytest.mark.parametrize("temperature", [0.0, -1.0])
def test_temperature_must_be_positive(temperature):
    with pytest.raises(ValueError, match="^temperature: must be a finite number > 0"):
        pi.privileged_table(np.zeros((2, 2)), np.zeros((2, 1)), temperature=temperature)


def test_setups_hide_what_they_say():
    rng = np.random.default_rng(0)
    alpha = rng.standard_normal(pi.DIM)
    x, xs, y = pi.sample_setup(2, 500, alpha, rng=rng)  # relevant features: x* = x_J
    np.testing.assert_array_equal(xs[:, :3], x[:, :3])
    assert np.all(xs[:, 3:] == 0)
    np.testing.assert_array_equal(y, (x[:, :3] @ alpha[:3] > 0).astype(np.int32))
    x, xs, y = pi.sample_setup(1, 500, alpha, rng=rng)  # clean features: labels from x* only
    np.testing.assert_array_equal(y, (xs @ alpha > 0).astype(np.int32))
    assert np.std(x - xs) > 0.9


def test_downsample_averages_blocks():
    x = np.arange(16, dtype=float).reshape(1, 4, 4, 1)
    np.testing.assert_array_equal(pi.downsample(x, 2)[0, :, :, 0], [[2.5, 4.5], [10.5, 12.5]])


# --------------------------------------------------------------------------- EnD² figure pieces


def test_uncertainty_split_and_auroc():
    p = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])  # two members, total disagreement
    u = end2_fig.uncertainty_maps(p)
    np.testing.assert_allclose([u["total"][0], u["data"][0], u["knowledge"][0]],
                               [np.log(2), 0.0, np.log(2)], atol=1e-6)
    assert end2_fig.auroc(np.array([0.1, 0.2]), np.array([0.3, 0.4])) == 1.0
    assert end2_fig.auroc(np.array([0.3, 0.4]), np.array([0.1, 0.2])) == 0.0
    r = np.linalg.norm(end2_fig.ood_ring(1000, seed=0), axis=1)
    assert r.min() >= end2_fig.OOD_RADII[0] and r.max() <= end2_fig.OOD_RADII[1]


def test_toy_has_ten_points_per_class():
    x, y = bdk.toy_data()
    assert x.shape == (20, 2) and np.bincount(y).tolist() == [10, 10]


def _toy_box():
    x, _ = bdk.toy_data()
    grid = bdk.grid_2d(x, resolution=20, margin=1.5)[0]
    return x, (grid.min(axis=0), grid.max(axis=0))


def test_uniform_student_inputs_fill_the_box_not_the_training_points():
    from bayeskd.posteriors.sgld import _student_inputs

    x, (lo, hi) = _toy_box()
    draw = _student_inputs("uniform", x, None, (lo, hi))  # the figure's uniform arm
    xs = np.asarray(draw(jax.random.key(0), 5000))
    assert xs.shape == (5000, 2) and np.all(xs >= lo) and np.all(xs <= hi)
    # covers the box: every cell of a 5 x 5 partition holds 200 +- 30% of the draws
    cells = np.floor((xs - lo) / (hi - lo) * 5).clip(0, 4).astype(int)
    counts = np.bincount(cells[:, 0] * 5 + cells[:, 1], minlength=25)
    assert counts.min() > 140 and counts.max() < 260
    # not the training points: most draws lie farther than 0.5 from every training point
    dist = np.min(np.linalg.norm(xs[:, None] - x[None], axis=-1), axis=1)
    assert np.mean(dist > 0.5) > 0.5
    # the perturbed arm, by contrast, stays near the data
    near = np.asarray(_student_inputs("perturb", x, 0.1, None)(jax.random.key(0), 5000))
    d_near = np.min(np.linalg.norm(near[:, None] - x[None], axis=-1), axis=1)
    assert np.mean(d_near > 0.5) < 0.01


@pytest.mark.parametrize("kwargs, message", [
    ({"student_inputs": "uniform"}, r"^input_box: student_inputs='uniform' needs the box"),
    ({"student_inputs": "grid"}, r"^student_inputs: unknown 'grid'; choose one of: perturb, "
                                 r"uniform"),
    ({"student_inputs": "perturb"}, r"^input_noise: student_inputs='perturb' needs"),
    ({"student_inputs": "uniform", "input_box": ([0.0, 1.0], [1.0, 1.0])},
     r"^input_box: must be two finite \[D\] corners"),
])
def test_student_inputs_are_checked_before_work(kwargs, message):
    from bayeskd.posteriors import bayesian_dark_knowledge

    x, y = bdk.toy_data()
    with pytest.raises(ValueError, match=message):
        bayesian_dark_knowledge(bdk.mlp((4,)), bdk.mlp((4,)), {"x": x, "y": y}, prior=None,
                                key=jax.random.key(0), step_size=1e-3, num_steps=10, burn_in=0,
                                batch_size=4, **kwargs)


def _kl(uniform, perturb, sgd=0.04, sgld=0.01):
    kl = {"SGD": sgd, "SGLD": sgld}
    for inputs, vals in (("uniform", uniform), ("perturb", perturb)):
        kl |= {bdk.student_arm(s, inputs): v for s, v in zip(bdk.STUDENTS, vals, strict=True)}
    return kl


def test_input_notes_follow_the_numbers():
    students = list(bdk.STUDENTS)
    kl = _kl(uniform=(0.03, 0.02, 0.015), perturb=(0.10, 0.13, 0.08))
    assert bdk.inputs_note(kl, students, "uniform") == (
        "Students on uniform inputs over the grid's box: KL 2-10-2 0.030 / 2-100-2 0.020 / "
        "2-10-10-2 0.015; the published order (2-10-10-2 < 2-100-2 < 2-10-2) holds; every "
        "student below SGD (0.040): yes; the best student is 1.5x SGLD's KL (published 1.3x). "
        "The published ordering and closeness hold with these inputs.")
    assert bdk.inputs_note(kl, students, "perturb") == (
        "Students on training points + N(0, 0.5²) noise: KL 2-10-2 0.100 / 2-100-2 0.130 / "
        "2-10-10-2 0.080; the published order (2-10-10-2 < 2-100-2 < 2-10-2) does not hold; "
        "every student below SGD (0.040): no; the best student is 8.0x SGLD's KL (published "
        "1.3x). The published ordering and closeness do not hold with these inputs.")
    # swap the arms' numbers: the verdicts swap with them
    swapped = _kl(uniform=(0.10, 0.13, 0.08), perturb=(0.03, 0.02, 0.015))
    assert bdk.inputs_note(swapped, students, "uniform").endswith("do not hold with these inputs.")
    assert bdk.inputs_note(swapped, students, "perturb").endswith("hold with these inputs.")
    assert not bdk.inputs_note(swapped, students, "perturb").endswith("do not hold with these "
                                                                       "inputs.")
    # below SGD but out of order: closeness alone is not enough
    pat = bdk.published_pattern(_kl(uniform=(0.01, 0.02, 0.03), perturb=(1, 1, 1)), students,
                                "uniform")
    assert pat == {"order": False, "below_sgd": True, "best_over_sgld": pytest.approx(1.0)}


def test_generalised_targets_need_one_privileged_row_per_label():
    with pytest.raises(ValueError, match=r"^log_s: the privileged targets need one row per regular "
                                         r"label \(N = 3\), got shape \(2, 2\)"):
        pi.generalised_targets(np.array([0, 1, 0]), np.zeros((2, 2)), imitation=0.5)


# --------------------------------------------------------------------------- temperature tempering


def test_softened_entropy_is_the_entropy_of_softmax_over_t():
    logp = np.log(np.array([[0.7, 0.2, 0.1], [0.5, 0.25, 0.25]]))
    h1 = np.mean([-(p * np.log(p)).sum() for p in np.exp(logp)])
    assert tt.softened_entropy(logp, 1.0) == pytest.approx(h1, rel=1e-12)
    q = np.exp(logp[0] / 4) / np.exp(logp[0] / 4).sum()
    q2 = np.exp(logp[1] / 4) / np.exp(logp[1] / 4).sum()
    want = np.mean([-(q * np.log(q)).sum(), -(q2 * np.log(q2)).sum()])
    assert tt.softened_entropy(logp, 4.0) == pytest.approx(want, rel=1e-12)


def test_entropy_crossing_interpolates_in_log_temperature():
    temps = np.array([1.0, 0.1, 0.01])  # any order
    h = np.array([0.4, 0.2, 0.1])
    assert tt.entropy_crossing(temps, h, 0.3) == pytest.approx(10 ** -0.5)
    assert tt.entropy_crossing(temps, h, 0.1) == pytest.approx(0.01)
    assert tt.entropy_crossing(temps, h, 0.5) is None and tt.entropy_crossing(temps, h, 0.05) is None


@pytest.mark.parametrize("field, value, message", [
    ("posterior_temperatures", (1.0, 0.0), "^posterior_temperatures: must be a finite number > 0"),
    ("posterior_temperatures", (-0.3,), "^posterior_temperatures: must be a finite number > 0"),
    ("kd_temperatures", (0.0,), "^kd_temperatures: must be a finite number > 0"),
    ("kd_temperatures", (), "^kd_temperatures: give at least one temperature"),
])
def test_tempering_temperatures_must_be_positive_before_work(field, value, message, monkeypatch):
    import dataclasses

    def no_work(*a, **k):
        raise AssertionError("work started")

    monkeypatch.setattr(tt, "load_digits", no_work)
    size = dataclasses.replace(tt.SIZES["smoke"], **{field: value})
    with pytest.raises(ValueError, match=message):
        tt.run(size, seeds=1)

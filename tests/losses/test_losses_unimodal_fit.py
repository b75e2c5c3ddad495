"""The unimodal-fit toy against exact answers: the teacher's regions, the masses of a uniform
student, a teacher inside the family recovered by every divergence, forward KL's moment
matching (the discretised Gaussians are an exponential family on the grid) and reverse KL's
mode seeking."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayeskd.losses.unimodal_fit import (
    bimodal_teacher,
    fit_unimodal,
    gaussian_logits,
    region_masses,
)

V = 64


def test_teacher_is_normalised_with_modes_at_the_quarters():
    logp, regions = bimodal_teacher(V)
    p = np.exp(np.asarray(logp, np.float64))
    assert p.sum() == pytest.approx(1.0, abs=1e-6)
    tokens = np.arange(V)
    assert set(tokens[regions["mode_a"]]) == set(range(8, 25))  # 16 ± 2 * 4
    assert set(tokens[regions["mode_b"]]) == set(range(40, 57))  # 48 ± 2 * 4
    assert (regions["valley"] == ~(regions["mode_a"] | regions["mode_b"])).all()
    assert np.argmax(p) == 16 and p[16] / p[48] == pytest.approx(0.6 / 0.4, rel=1e-4)


def test_a_flat_student_has_region_sized_masses_and_entropy_log_v():
    _, regions = bimodal_teacher(V)
    m = region_masses(np.array([0.5, 20.0]), regions)  # sigma = e^20 V: uniform on the grid
    assert m["mass_mode_a"] == pytest.approx(17 / V) and m["mass_mode_b"] == pytest.approx(17 / V)
    assert m["mass_valley"] == pytest.approx(30 / V)
    assert m["mass_major_mode"] == max(m["mass_mode_a"], m["mass_mode_b"])
    assert m["entropy"] == pytest.approx(np.log(V), rel=1e-6)
    assert m["mu"] == pytest.approx(0.5 * V)


@pytest.mark.parametrize("name", ["forward_kl", "reverse_kl", "jsd", "tvd"])
def test_a_teacher_inside_the_family_is_recovered(name):
    truth = jnp.array([0.4, np.log(0.1)])
    teacher = jax.nn.log_softmax(gaussian_logits(truth, V))
    theta = fit_unimodal(teacher, name=name, key=jax.random.key(0), steps=2000)
    np.testing.assert_allclose(np.asarray(theta), np.asarray(truth), atol=0.01)


def test_forward_kl_matches_the_teachers_mean_and_variance():
    logp, _ = bimodal_teacher(V)
    p = np.exp(np.asarray(logp, np.float64))
    theta = fit_unimodal(logp, name="forward_kl", key=jax.random.key(1), steps=3000)
    q = np.asarray(jax.nn.softmax(gaussian_logits(theta, V)), np.float64)
    v = np.arange(V)
    assert q @ v == pytest.approx(p @ v, rel=2e-3)
    assert q @ v**2 - (q @ v) ** 2 == pytest.approx(p @ v**2 - (p @ v) ** 2, rel=1e-2)


def test_reverse_kl_locks_onto_one_mode():
    logp, regions = bimodal_teacher(V)
    for s in range(2):
        m = region_masses(fit_unimodal(logp, name="reverse_kl", key=jax.random.key(s),
                                       steps=1000), regions)
        assert m["mass_major_mode"] > 0.9
        assert min(abs(m["mu"] - 16), abs(m["mu"] - 48)) < 1.0

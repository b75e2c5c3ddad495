"""The posterior zoo's core: settings and sizes, the table of fits, a posterior's evaluation
with its R-hat / ESS and convergence label, and the labelled rows."""

import dataclasses
import types

import jax
import numpy as np
import pytest

from bayeskd.posteriors import zoo
from bayeskd.posteriors.reference import (
    CONVERGED_ESS,
    CONVERGED_RHAT,
    converged,
    evaluate_posterior,
)


class Fixed:
    """A posterior whose draw ``s`` predicts ``p(y=1|x) = sigmoid(x_0 + u_s)`` (``u``: given)."""

    def __init__(self, u, chains):
        self.u, self.chains = np.asarray(u, np.float32), chains

    def sample_probs(self, x, *, key, num_samples=None):
        p1 = jax.nn.sigmoid(x[None, :, 0] + self.u[:, None])
        return np.stack([1 - p1, p1], -1)


X = np.linspace(-2, 2, 30, dtype=np.float32)[:, None]
Y = (X[:, 0] > 0).astype(np.int32)


def test_converged_thresholds_are_strict():
    assert converged({"rhat_max": 1.0, "ess_min": CONVERGED_ESS + 1})
    assert not converged({"rhat_max": CONVERGED_RHAT, "ess_min": 1e6})
    assert not converged({"rhat_max": 1.0, "ess_min": CONVERGED_ESS})


def test_mixed_chains_are_converged_and_a_stuck_chain_is_labelled():
    rng = np.random.default_rng(0)
    u = rng.normal(size=4 * 300)  # four chains of 300 independent draws
    row, probs = evaluate_posterior(Fixed(u, 4), X, Y, key=jax.random.key(0))
    assert row["chains"] == 4 and row["rhat_max"] < CONVERGED_RHAT
    assert row["ess_min"] > CONVERGED_ESS and row["converged"] is True
    assert probs.shape == (30, 2) and "kl_ref" not in row
    stuck = u.copy()
    stuck[:300] += 3.0  # chain 0 explores another region
    bad, _ = evaluate_posterior(Fixed(stuck, 4), X, Y, key=jax.random.key(0))
    assert bad["rhat_max"] > 1.1 and bad["converged"] is False


def test_one_network_has_no_chain_diagnostics_and_zero_distance_to_itself():
    row, probs = evaluate_posterior(Fixed([0.0], 1), X, Y, key=jax.random.key(0))
    assert not {"chains", "rhat_max", "ess_min", "converged"} & set(row)
    assert row["mutual_information"] == 0.0 and row["accuracy"] == 1.0
    ref, _ = evaluate_posterior(Fixed([0.0], 1), X, Y, key=jax.random.key(0), ref_probs=probs)
    assert ref["kl_ref"] == pytest.approx(0.0, abs=1e-7) and ref["agreement_ref"] == 1.0
    few, _ = evaluate_posterior(Fixed(np.zeros(6), 2), X, Y, key=jax.random.key(0))
    assert few["chains"] == 2 and "rhat_max" not in few  # 3 draws a chain: too few for R-hat


def test_fits_include_the_fits_they_start_from():
    assert zoo.fits_for(("laplace",)) == ["map", "laplace"]
    assert zoo.fits_for(("swag_diag", "csgld")) == ["map", "ensemble", "swag", "csgld"]
    assert set(zoo.FIT_OF) == set(zoo.METHODS) and set(zoo.FIT_OF.values()) == set(zoo.FITTERS)
    assert set(zoo.STARTS_FROM.values()) <= set(zoo.FITTERS)


def test_sizes_derive_from_the_quick_setup():
    moons, digits = zoo.SETUPS["moons"], zoo.SETUPS["digits"]
    assert moons == zoo.Setup() and zoo.SETUPS["gmm"].map.batch_size == 100
    assert digits.reference is False and digits.transfer.mixup > 0
    f = zoo.full(moons)
    assert f.map.steps == 2 * moons.map.steps and f.sgld.burn_in == 2 * moons.sgld.burn_in
    assert f.student.steps == 2 * moons.student.steps and f.nuts.samples > moons.nuts.samples
    s = zoo.smoke(digits)
    assert s.num_train == 300 and s.transfer.copies == 0
    assert 0 < s.transfer.mixup < digits.transfer.mixup
    assert zoo.smoke(moons).transfer.copies < moons.transfer.copies
    with pytest.raises(ValueError, match="sgld.chains"):
        dataclasses.replace(moons, sgld=zoo.SGLDSettings(chains=moons.map.members + 1))


def test_plane_only_for_two_d_inputs():
    s = zoo.smoke(zoo.SETUPS["moons"])
    two = types.SimpleNamespace(input_shape=(2,), x_train=np.zeros((4, 2), np.float32))
    points, xx, yy = zoo.plane(two, s)
    assert points.shape == (s.grid_resolution ** 2, 2) and xx.shape == yy.shape
    assert zoo.plane(types.SimpleNamespace(input_shape=(64,)), s) is None


def test_labelled_rows_keys_kl_to_map_and_member_zero_maps():
    p = np.array([[0.9, 0.1], [0.2, 0.8]], np.float32)
    q = np.array([[0.5, 0.5], [0.5, 0.5]], np.float32)
    def entry(probs):
        return {"row": {"nll": 1.0}, "test": probs, "maps": {"prob": [0.1]}}

    rows, maps = zoo.labelled_rows({"teacher": [("map", [entry(p)]), ("ens", [entry(q), entry(p)])],
                                    "student": [("map", [entry(p)])]}, seed=3, map_test=p)
    assert [(r["method"], r["role"], r["member"], r["seed"]) for r in rows] == [
        ("map", "teacher", 0, 3), ("ens", "teacher", 0, 3), ("ens", "teacher", 1, 3),
        ("map", "student", 0, 3)]
    assert rows[0]["kl_map"] == pytest.approx(0.0, abs=1e-7) and rows[1]["kl_map"] > 0
    assert "kl_map" not in rows[3]  # students are not compared with the MAP
    assert set(maps) == {("map", "teacher"), ("ens", "teacher"), ("map", "student")}

"""Sharded runs on forced CPU devices equal one-device runs: members, data rows, vocabulary, chains."""

import pytest

from bayeskd.losses.fused import DIVERGENCES

# Float32 reassociation across devices: far below any change a bug would make (the losses are O(1)).
TOL = 1e-5


@pytest.mark.parametrize("data_axis", ["1", "2"])
def test_fit_sharded_over_members_and_data_equals_one_device(single, data_axis):
    out = single.json()["sharded_fit"][data_axis]
    assert out["one_device"] == 1 and out["devices"] == 4
    assert out["spec"] == "P('members',)"
    rows = "P()" if data_axis == "1" else "P('data',)"  # teacher table sharded with the rows
    assert out["data_spec"] == rows and out["table_spec"] == rows, out
    assert out["params"] < TOL and out["loss"] < TOL, out
    assert out["errors"] == [  # an explicit mesh must divide the run (checked before work)
        "mesh: its members axis (2 devices) must divide num_members, got num_members=3",
        "mesh: its data axis (4 devices) must divide the batch, got batch_size=10"], out


@pytest.mark.parametrize(("data_axis", "constraints"), [("1", 0), ("2", 4)])
def test_minibatch_rows_are_constrained_to_the_data_axis(single, data_axis, constraints):
    out = single.json()["sharded_fit"][data_axis]
    # One per minibatch array (x, y, label_mask, index) when `data` has more than one device.
    assert out["batch_constraints"] == constraints, out
    assert out["params"] < TOL, out  # and the result is still the one-device one


def test_sgld_chains_over_members_equal_one_device(single):
    out = single.json()["sharded_sgld"]
    assert out["devices"] == 4
    assert out["params"] < TOL, out


def test_vocab_sharded_kernel_equals_unsharded_values_and_gradients(single):
    out = dict(single.json()["vocab_kernel"])
    assert out.pop("error") == ("axis: the 4 devices of mesh axis 'vocab' must divide the "
                                "vocabulary, got V=30")
    assert sorted(out) == sorted([f"{d},0.3" for d in DIVERGENCES] + ["forward_kl,0.0"])
    for name, r in out.items():
        assert r["value"] > 0.01, name  # not a trivially zero loss
        assert r["d_value"] <= TOL * max(1.0, r["value"]), (name, r)
        assert r["d_grad_h"] <= TOL and r["d_grad_w"] <= TOL, (name, r)
        assert r["w_grad_spec"] == "P(None, 'vocab')", (name, r)


def test_nuts_chains_run_in_parallel_across_devices(single):
    out = single.json()["nuts_parallel"]
    assert out["shape"] == [2, 30]
    assert out["methods"] == ["parallel", "vectorized"]
    assert out["max_diff"] < 1e-4, out
    assert abs(out["mean"] - out["exact_mean"]) < 0.5, out

"""ensemble at a toy size: vmapped and sequential runs do the same work."""

import pytest

from bayeskd.bench import _common, ensemble


@pytest.fixture(scope="module")
def problem():
    return _common.toy_problem(num_train=128, num_test=64, hidden=(16,))


def test_matmul_flops_per_step_by_hand():
    p = _common.toy_problem(num_train=16, num_test=16, dim=40, classes=10, hidden=(100, 100))
    # forward 2B(40*100 + 100*100 + 100*10), weight grads the same, input grads of layers 2-3.
    assert p.matmul_flops_per_step(100) == 2 * 100 * (2 * 15000 + 11000)


def test_vmapped_members_equal_sequential_runs(problem):
    res = ensemble.run(size="smoke", problem=problem, members=(1, 3), log=lambda *a: None)
    rows = res["results"]
    assert set(rows) == {"1", "3"}
    r3 = rows["3"]
    # The same initial states and keys: vmapped and one-at-a-time training agree to rounding.
    assert r3["max_rel_param_diff_vs_sequential"] < 1e-4
    assert r3["time_ratio_vs_1"] == pytest.approx(r3["vmap_run_s"] / rows["1"]["vmap_run_s"])
    assert r3["speedup_vs_sequential"] == pytest.approx(r3["sequential_run_s"] / r3["vmap_run_s"])
    flops = 3 * res["settings"]["steps"] * res["settings"]["matmul_flops_per_step"]
    assert r3["matmul_flops_per_s"] == pytest.approx(flops / r3["vmap_run_s"])
    assert r3["fraction_of_matmul_rate"] == pytest.approx(
        r3["matmul_flops_per_s"] / res["matmul_rate"]["used_flops_per_s"])
    assert res["matmul_rate"]["used_flops_per_s"] > 0


def test_ensemble_needs_the_one_member_reference(problem):
    with pytest.raises(ValueError, match="members"):
        ensemble.run(size="smoke", problem=problem, members=(2, 4), log=lambda *a: None)

"""sweep at a toy size: one vectorised run equals the configurations run one by one."""

import numpy as np
import pytest

from bayeskd.bench import _common, sweep


@pytest.fixture(scope="module")
def problem():
    return _common.toy_problem(num_train=128, num_test=64, hidden=(16,))


def test_sweep_vectorised_equals_sequential_and_configs_differ(problem):
    res = sweep.run(size="smoke", problem=problem, log=lambda *a: None)
    assert len(res["settings"]["configs"]) == 4
    assert res["max_rel_param_diff_vs_sequential"] < 1e-4
    final = np.asarray(res["final_loss"]["vectorised"])
    # Each member trains under its own (temperature, alpha): the objectives differ.
    assert np.ptp(final) > 1e-3
    r = res["results"]
    assert res["ratios"]["vectorised_over_single"] == pytest.approx(
        r["vectorised"]["run_s"] / r["single"]["run_s"])


def test_sweep_rejects_bad_hyperparameters(problem):
    with pytest.raises(ValueError, match="temperature"):
        sweep.run(size="smoke", problem=problem, temperatures=(0.0, 1.0), log=lambda *a: None)
    with pytest.raises(ValueError, match="alpha"):
        sweep.run(size="smoke", problem=problem, alphas=(1.5,), log=lambda *a: None)

"""train_kd at a toy size: the three loops optimise the same objective from the same start."""

import json
import math

import jax
import numpy as np
import pytest

from bayeskd.bench import _common, train_kd

SMOKE = train_kd.SETTINGS["smoke"]


@pytest.fixture(scope="module")
def problem():
    return _common.toy_problem(num_train=256, num_test=256, hidden=(16,))


def test_initial_loss_equal_in_torch_and_nnx(problem):
    pytest.importorskip("torch")
    losses = train_kd.initial_losses(problem, SMOKE)
    assert set(losses) == {"nnx", "torch"}
    assert losses["torch"] == pytest.approx(losses["nnx"], rel=1e-5)
    # The KD objective of a fresh network is well above zero (a check that it is computed at all).
    assert losses["nnx"] > 0.05


def test_torch_model_holds_the_nnx_weights(problem):
    torch = pytest.importorskip("torch")
    graphdef, params = train_kd.initial_params(problem)
    from flax import nnx

    x = problem.data["x"][:32]
    want = np.asarray(nnx.merge(graphdef, params)(x))
    with torch.no_grad():
        got = train_kd.torch_model(problem, params)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_every_loop_learns_and_ratios_are_consistent(problem, monkeypatch):
    res = train_kd.run(size="smoke", problem=problem, steps=150, batch_size=32, log=lambda *a: None)
    rows = res["results"]
    expect = {"bayeskd", "nnx_jit_step"} | ({"torch_eager"} if train_kd.torch_available() else set())
    assert set(rows) == expect
    for name, row in rows.items():
        assert row["time_s"] > 0 and row["steps_per_s"] == pytest.approx(150 / row["time_s"])
        # Bayes accuracy of the toy problem is high; a loop that trains gets well above chance (1/3).
        assert row["accuracy"] > 0.8, name
    for name in expect - {"bayeskd"}:
        assert res["ratios"][f"{name}_over_bayeskd"] == pytest.approx(
            rows[name]["time_s"] / rows["bayeskd"]["time_s"])
    spread = next(t for t in res["targets"] if t["target"].startswith("accuracy spread"))
    accs = [r["accuracy"] for r in rows.values()]
    assert spread["value"] == pytest.approx(max(accs) - min(accs))
    assert len(res["load_before"]) == 3


def test_without_torch_the_torch_target_is_unmeasured(problem, monkeypatch):
    monkeypatch.setattr(train_kd, "torch_available", lambda: False)
    fake = {"bayeskd": 2.0, "nnx_jit_step": 30.0}
    for name, t in fake.items():
        monkeypatch.setattr(train_kd, f"run_{name}",
                            lambda *a, t=t, **k: {"_time_s": t, "_cpu_s": t / 2, "accuracy": 0.9})
    res = train_kd.run(size="smoke", problem=problem, log=lambda *a: None)
    assert set(res["results"]) == set(fake)
    assert res["ratios"] == {"nnx_jit_step_over_bayeskd": 15.0}
    assert res["cpu_ratios"] == {"nnx_jit_step_over_bayeskd": 15.0}
    assert res["targets"][1]["met"] is True  # 15x >= 6x
    t = res["targets"][0]
    assert t["value"] is None and t["met"] is None


def test_target_direction():
    assert _common.target("x", 5.0, 4.0, op=">=")["met"] is True
    assert _common.target("x", 3.0, 4.0, op=">=")["met"] is False
    assert _common.target("x", 3.0, 4.0)["met"] is True
    assert _common.target("x", math.nan, 4.0)["met"] is None


def test_alternate_rotates_the_order():
    calls = []
    comps = {n: (lambda n=n: calls.append(n)) for n in "abc"}
    times, _, cpu = _common.alternate(comps, repeats=3, warmup=True)
    assert calls == list("abc") + list("abc") + list("bca") + list("cab")
    assert all(len(v) == 3 for v in times.values()) and all(len(v) == 3 for v in cpu.values())
    assert jax.devices()  # the benchmark modules import jax without side effects on the device


def _fake_competitors(monkeypatch, times):
    monkeypatch.setattr(train_kd, "torch_available", lambda: "torch_eager" in times)
    for name, t in times.items():
        monkeypatch.setattr(train_kd, f"run_{name}",
                            lambda *a, t=t, **k: {"_time_s": t, "_cpu_s": t, "accuracy": 0.9})


def test_headline_ratios_under_named_keys(problem, monkeypatch):
    _fake_competitors(monkeypatch, {"bayeskd": 2.0, "nnx_jit_step": 8.0, "torch_eager": 5.0})
    res = train_kd.run(size="smoke", problem=problem, log=lambda *a: None)
    assert res["torch_eager_ratio"] == 2.5 and res["nnx_jit_loop_ratio"] == 4.0
    assert res["cold_cache_s"] == 2.0 and res["warm_cache_s"] is None  # smoke: no warm run
    torch_t, nnx_t = res["targets"][:2]
    assert (torch_t["value"], torch_t["bound"], torch_t["met"]) == (2.5, 3.0, False)
    assert (nnx_t["value"], nnx_t["bound"], nnx_t["met"]) == (4.0, 4.5, False)


def test_benchmarks_json_carries_the_named_keys(problem, monkeypatch, tmp_path):
    """What ``bayeskd bench --out FOLDER`` writes: the named ratios of train_kd, and no torch
    ratio when PyTorch is missing."""
    from bayeskd.bench import run_benchmarks

    _fake_competitors(monkeypatch, {"bayeskd": 2.0, "nnx_jit_step": 10.0})
    monkeypatch.setattr(_common, "kd_problem", lambda **k: problem)
    path = tmp_path / "benchmarks.json"
    run_benchmarks(["train_kd"], size="smoke", json_path=path, log=lambda *a: None)
    res = json.loads(path.read_text())["benchmarks"]["train_kd"]
    assert res["nnx_jit_loop_ratio"] == 5.0 and res["torch_eager_ratio"] is None
    assert res["cold_cache_s"] == 2.0 and "warm_cache_s" in res

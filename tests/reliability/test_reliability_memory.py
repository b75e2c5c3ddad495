"""Runs that cannot fit in memory are refused before any work, with one line that says how many
seeds would fit; the estimate itself is checked against exact counts."""

import time

import jax
import pytest

from bayeskd.cli import main
from bayeskd.experiments.runner import resolve
from bayeskd.experiments.specs.compare_priors import check_memory
from bayeskd.models import make_model, param_count
from bayeskd.training import memory
from bayeskd.training.memory import FitMemory, check_fits_memory, estimate_fit_bytes


def test_fit_memory_is_linear_in_members():
    est = FitMemory(fixed_bytes=100, per_member_bytes=10, members=5)
    assert est.total_bytes == 150
    assert est.max_members(200) == 10 and est.max_members(209) == 10 and est.max_members(99) == 0


@pytest.mark.parametrize(("model", "shape"), [("mlp", (40,)), ("mlp-large", (64,)), ("cnn", (40,))])
def test_estimate_counts_every_parameter(model, shape):
    params = param_count(make_model(model, shape, 10, key=jax.random.key(0)))
    counted, values = memory._model_counts(model, shape, 10, 0.0)
    assert counted == params
    est = estimate_fit_bytes(model, shape, 10, members=3, batch_size=7, num_inputs=11)
    assert est.per_member_bytes == 4 * (8 * params + 2 * 7 * values)
    assert est.fixed_bytes == 4 * 3 * 11 * (shape[0] + 10)
    assert values > sum(shape) + 10  # at least the input and the logits


def test_check_fits_memory_names_the_argument_and_what_fits():
    est = FitMemory(fixed_bytes=0, per_member_bytes=10**9, members=100)
    check_fits_memory(FitMemory(0, 10**9, 8), name="seeds", what="x", available=10**10)  # 8 <= 8
    with pytest.raises(ValueError) as info:
        check_fits_memory(est, name="seeds", what="100 seeds", available=10**10)
    assert str(info.value) == ("seeds: 100 seeds need about 100.0 GB, more than the 8.0 GB usable "
                               "(80% of 10.0 GB available); at most 8 fit")
    with pytest.raises(ValueError, match=r"^transfer_size: .* the inputs alone need about 20\.0 GB"):
        check_fits_memory(FitMemory(2 * 10**10, 1, 1), name="seeds", data_name="transfer_size",
                          what="1 seed", available=10**10)


def test_compare_priors_config_is_checked_against_the_memory():
    cfg = resolve("compare_priors", size="smoke", overrides={"seeds": 4}).cfg
    check_memory(cfg, available=10**12)
    # 3.6 MB of inputs (6000 x 50 values, 3 copies) + 1.47 MB per MLP seed in 8 MB usable
    with pytest.raises(ValueError, match="^seeds: 4 seeds of mlp on 6000 inputs need about .* at "
                                         "most 2 fit$"):
        check_memory(cfg, available=10**7)


@pytest.mark.parametrize(("argv", "name"), [
    (["compare-priors", "--size", "smoke", "--seeds", "100000"], "seeds"),
    (["compare-priors", "--size", "smoke", "--transfer-size", "10000000000"], "transfer_size"),
    (["reproduce", "hinton_kd", "--size", "smoke", "--seeds", "100000"], "seeds"),
    (["lm-distill", "--seeds", "100000"], "seeds"),
    (["lm-distill", "--vocab-size", "10000000"], "vocab_size"),
    (["lm-distill", "--num-train", "100000000"], "num_train"),
    (["posterior-zoo", "--set", "moons.grid_resolution=200000"], "moons.grid_resolution"),
    (["posterior-zoo", "--set", "moons.transfer.copies=1000000000"], "moons.transfer.copies"),
    (["posterior-zoo", "--set", "moons.map.members=100000000"], "moons.map.members"),
    (["posterior-zoo", "--dataset", "digits", "--set", "digits.transfer.mixup=2000000000"],
     "digits.transfer.mixup"),
], ids=["compare-priors-seeds", "compare-priors-transfer", "reproduce-seeds", "lm-seeds",
        "lm-vocab", "lm-rows", "zoo-grid", "zoo-transfer", "zoo-members", "zoo-digits-mixup"])
def test_oversized_run_is_refused_at_once_and_writes_nothing(argv, name, tmp_path, monkeypatch,
                                                             capsys):
    monkeypatch.setenv("BAYESKD_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    t0 = time.perf_counter()
    assert main([*argv, "--no-progress", "--out", str(out)]) == 2
    assert time.perf_counter() - t0 < 10
    err = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert len(err) == 1 and err[0].startswith("bayeskd: error: "), err
    assert err[0].startswith(f"bayeskd: error: {name}:"), err
    assert list(tmp_path.iterdir()) == []  # no output folder, no cache, no checkpoints


def test_zoo_estimate_counts_its_networks_and_scales_with_its_settings():
    from bayeskd.posteriors import zoo
    from bayeskd.posteriors.zoo import setups
    from bayeskd.posteriors.zoo.fitters import mlp_fn

    ds = zoo.load_data("moons", zoo.SETUPS["moons"], seed=0)[0]
    net = mlp_fn(ds, (10,))(jax.random.key(0))  # the network the zoo trains
    assert setups._mlp_counts(2, (10,), 2)[0] == param_count(net) == 52  # 2-10-2
    s = zoo.SETUPS["moons"]
    est, _ = zoo.estimate_bytes("moons", s, zoo.METHODS)
    assert est.members == 10 and est.per_member_bytes == 4 * (8 * 52 + 2 * 50 * 2 * (10 + 2))
    # R = 50 -> 100: the grid's R^2 (D + 2 E K) values, and one evaluation's 2 S K max(...) now
    # over the 10,000 grid points instead of the 50 x 101 transfer inputs
    big, knob = zoo.estimate_bytes("moons", setups._replaced(s, "grid_resolution", 100), zoo.METHODS)
    entries, transfer = len(zoo.METHODS) + 1, 50 * (1 + 100)
    assert big.fixed_bytes - est.fixed_bytes == 4 * ((100**2 - 50**2) * (2 + 2 * entries * 2)
                                                     + 2 * 50 * 2 * (100**2 - transfer))
    assert knob == "grid_resolution"

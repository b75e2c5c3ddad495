"""The checkpoint store: exact round trips, bit-identical resume, config binding, corruption."""

import dataclasses
import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayeskd.checkpoint import CheckpointError, SweepStore
from bayeskd.data import load_gmm
from bayeskd.models import make_model
from bayeskd.priors import GaussianPrior
from bayeskd.training import TrainConfig, TrainingDiverged, fit

CFG = TrainConfig(steps=300, batch_size=50, learning_rate=1e-2, eval_every=100)
# every training test here runs the same compiled program: 2 members, a Gaussian prior whose
# weight decay is an array (so an infinite one can trigger the divergence guard)
M = 2


def _prior(weight_decay=1e-3):
    return GaussianPrior(weight_decay=jnp.asarray(weight_decay, jnp.float32))


@pytest.fixture(scope="module")
def gmm():
    return load_gmm(num_train=300, num_test=300, dim=2, num_classes=3, seed=0)


def _fn(ds):
    return lambda k: make_model("mlp-small", (2,), ds.num_classes, key=k)


def _data(ds):
    return {"x": ds.x_train, "y": ds.y_train}


def _same_params(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


class Killed(Exception):
    pass


def test_unit_round_trip_is_exact(tmp_path):
    store = SweepStore(tmp_path / "ck", config={"a": 1}, log=None)
    value = {
        "rows": [{"prior": "kd", "acc": 0.1 + 0.2, "tiny": 5e-324, "nan": math.nan, "n": 3,
                  "nested": {"0.25": 1 / 3}, "none": None, "flag": True}],
        "probs": np.random.default_rng(0).random((7, 3)).astype(np.float32),
        "count": np.arange(4, dtype=np.int64),
        "key": jax.random.key_data(jax.random.key(3)),
        "pair": (1.5, "x"),
        "scalar": np.float32(0.1),
    }
    store.put("student-kd", value)
    got = SweepStore(tmp_path / "ck", config={"a": 1}, log=None).get("student-kd")
    r = got["rows"][0]
    assert r["acc"] == 0.1 + 0.2 and r["tiny"] == 5e-324 and math.isnan(r["nan"])
    assert r["nested"]["0.25"] == 1 / 3 and r["none"] is None and r["flag"] is True and r["n"] == 3
    assert got["probs"].dtype == np.float32
    np.testing.assert_array_equal(got["probs"], value["probs"])
    np.testing.assert_array_equal(got["count"], value["count"])
    np.testing.assert_array_equal(got["key"], value["key"])
    assert got["pair"] == [1.5, "x"] and got["scalar"] == float(np.float32(0.1))
    assert list(got) == list(value)  # key order is kept
    assert store.names() == ["student-kd"] and "student-kd" in store and "teacher" not in store


def test_fit_resumes_bit_identically_after_a_kill(gmm, tmp_path):
    full = fit(_fn(gmm), _data(gmm), prior=_prior(), config=CFG, key=jax.random.key(7),
               num_members=M, progress=False)

    def kill_at_200(step, state):
        if step == 200:  # dies after computing chunk 2, before checkpointing it
            raise Killed

    store = SweepStore(tmp_path / "ck", config={"run": 1}, log=None)
    with pytest.raises(Killed):
        fit(_fn(gmm), _data(gmm), prior=_prior(), config=CFG, key=jax.random.key(7),
            num_members=M, progress=False, on_chunk=kill_at_200, checkpoint=store.trainer("u"))
    logs = []
    store = SweepStore(tmp_path / "ck", config={"run": 1}, log=logs.append)  # a new process
    assert store.trainer("u").latest_step() == 100
    assert "u at step 100" in store.describe()
    resumed = fit(_fn(gmm), _data(gmm), prior=_prior(), config=CFG, key=jax.random.key(7),
                  num_members=M, progress=False, checkpoint=store.trainer("u"))
    assert any("resuming u from step 100" in m for m in logs)
    assert full.steps_run == 300 and resumed.steps_run == 200  # only the missing steps ran
    _same_params(full.params, resumed.params)
    assert resumed.history == full.history
    # only the newest checkpoint is kept; a finished unit supersedes it
    ck = store.trainer("u")
    assert ck.latest_step() == 300 and len(list(ck.directory.glob("step_*.json"))) == 1
    # killed after the last chunk but before the unit was stored: the rerun trains no step
    again = fit(_fn(gmm), _data(gmm), prior=_prior(), config=CFG, key=jax.random.key(7),
                num_members=M, progress=False, checkpoint=ck)
    _same_params(full.params, again.params)
    assert again.history == full.history and np.all(np.asarray(again.state.step) == 300)
    assert again.steps_run == 0
    store.put("u", {"done": True})
    assert not ck.directory.exists()


def test_restore_refuses_a_state_of_another_shape(gmm, tmp_path):
    store = SweepStore(tmp_path / "ck", config={}, log=None)
    cfg = dataclasses.replace(CFG, steps=100)
    fit(_fn(gmm), _data(gmm), prior=_prior(), config=cfg, key=jax.random.key(0), num_members=M,
        progress=False, checkpoint=store.trainer("u"))
    # another optimiser: its state has other arrays (momentum instead of Adam's two moments)
    with pytest.raises(CheckpointError, match=r"checkpoint: .*step_000000100.* arrays"):
        fit(_fn(gmm), _data(gmm), prior=_prior(), config=dataclasses.replace(CFG, optimizer="sgd"),
            key=jax.random.key(0), num_members=M, progress=False, checkpoint=store.trainer("u"))


def test_divergence_keeps_the_last_good_checkpoint(gmm, tmp_path):
    store = SweepStore(tmp_path / "ck", config={}, log=None)
    ck = store.trainer("u")
    good = fit(_fn(gmm), _data(gmm), prior=_prior(), config=dataclasses.replace(CFG, steps=100),
               key=jax.random.key(1), num_members=M, progress=False, checkpoint=ck)
    # the run goes on under an infinite weight decay: its loss is inf from step 101
    with pytest.raises(TrainingDiverged) as e:
        fit(_fn(gmm), _data(gmm), prior=_prior(np.inf), config=CFG, key=jax.random.key(1),
            num_members=M, progress=False, checkpoint=ck)
    msg = str(e.value)
    assert "loss became inf at step 101" in msg and "GaussianPrior" in msg
    assert "last good checkpoint (step 100)" in msg and str(ck.directory) in msg
    assert e.value.step == 101 and e.value.checkpoint_step == 100
    # the last finite loss is the last step of the checkpointed run, restored with it
    assert math.isfinite(e.value.last_finite_loss) and f"{e.value.last_finite_loss:.6g}" in msg
    assert ck.latest_step() == 100
    restored = SweepStore(tmp_path / "ck", config={}, log=None).trainer("u").restore(
        _state_like(gmm))
    assert restored.step == 100
    _same_params(restored.state.params, good.params)


def _state_like(ds):
    """A fresh state of the test run, as a template for restore."""
    from bayeskd.training.trainer import TrainState, init_members

    keys = jax.random.split(jax.random.key(0), M)
    _, params = init_members(_fn(ds), keys)
    tx = CFG.make_optimizer()
    return TrainState(params, jax.vmap(tx.init)(params), keys, jnp.zeros((M,), jnp.int32))


def test_another_configuration_is_ignored_then_replaced(tmp_path):
    SweepStore(tmp_path / "ck", config={"seeds": 3}, log=None).put("teacher", {"x": 1})
    logs = []
    store = SweepStore(tmp_path / "ck", config={"seeds": 5}, log=logs.append)
    assert not store.active and store.get("teacher") is None and store.names() == []
    assert any("another configuration" in m for m in logs)
    assert (tmp_path / "ck" / "units" / "teacher.npz").exists()  # nothing deleted before work
    store.put("student-kd", {"y": 2})
    assert sorted(p.name for p in (tmp_path / "ck" / "units").iterdir()) == ["student-kd.npz"]
    manifest = json.loads((tmp_path / "ck" / "manifest.json").read_text())
    assert manifest["config"] == {"seeds": 5} and manifest["config_hash"] == store.config_hash


def test_fresh_ignores_then_replaces(tmp_path):
    SweepStore(tmp_path / "ck", config={}, log=None).put("teacher", {"x": 1})
    store = SweepStore(tmp_path / "ck", config={}, fresh=True, log=None)
    assert store.get("teacher") is None and store.trainer("teacher").restore(None) is None
    store.put("a", {})
    assert SweepStore(tmp_path / "ck", config={}, log=None).names() == ["a"]


def _orbax_store(tmp_path):
    store = SweepStore(tmp_path / "ck", config={}, log=None)
    ck = store.trainer("u")
    ck.save(100, {"w": jnp.arange(6.0), "key": jax.random.key(0)}, history={"step": [100]})
    store.put("teacher", {"logp": np.zeros((3, 2), np.float32)})
    return ck


def test_trainer_state_round_trip_with_prng_key(tmp_path):
    ck = _orbax_store(tmp_path)
    like = {"w": jnp.zeros(6), "key": jax.random.key(5)}
    r = ck.restore(like)
    assert r.step == 100 and r.history == {"step": [100]}
    np.testing.assert_array_equal(r.state["w"], np.arange(6.0))
    np.testing.assert_array_equal(jax.random.key_data(r.state["key"]),
                                  jax.random.key_data(jax.random.key(0)))


@pytest.mark.parametrize("damage", ["manifest", "unit_truncated", "unit_other_config",
                                    "orbax_bytes", "record", "orbax_folder_gone"])
def test_corruption_is_refused_naming_the_file(tmp_path, damage):
    ck = _orbax_store(tmp_path)
    root = tmp_path / "ck"
    step_dir = ck.directory / "step_000000100"
    if damage == "manifest":
        target = root / "manifest.json"
        target.write_text("{not json")
    elif damage == "unit_truncated":
        target = root / "units" / "teacher.npz"
        target.write_bytes(target.read_bytes()[:-40])
    elif damage == "unit_other_config":
        target = root / "units" / "teacher.npz"
        SweepStore(tmp_path / "other", config={"x": 1}, log=None).put("teacher", {"a": 1})
        target.write_bytes((tmp_path / "other" / "units" / "teacher.npz").read_bytes())
    elif damage == "orbax_bytes":
        target = max((p for p in step_dir.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
        b = bytearray(target.read_bytes())
        b[len(b) // 2] ^= 0xFF
        target.write_bytes(bytes(b))
        target = step_dir
    elif damage == "record":
        target = ck.directory / "step_000000100.json"
        target.write_text("[]")
    else:
        import shutil

        shutil.rmtree(step_dir)
        target = step_dir
    with pytest.raises(CheckpointError, match="checkpoint") as e:
        SweepStore(root, config={}, log=None)
    assert str(target) in str(e.value) and "--fresh" in str(e.value)
    assert isinstance(e.value, ValueError)
    # --fresh is the way out
    SweepStore(root, config={}, fresh=True, log=None).put("teacher", {"ok": 1})
    assert SweepStore(root, config={}, log=None).get("teacher") == {"ok": 1}


def test_leftovers_of_an_interrupted_save_are_ignored_and_cleaned(tmp_path):
    ck = _orbax_store(tmp_path)
    (ck.directory / "step_000000200.orbax-checkpoint-tmp-123").mkdir()  # killed inside orbax
    (ck.directory / "step_000000300").mkdir()  # killed before its record was written
    (ck.directory / ".step_000000300.json.abc.tmp").write_text("{")
    (tmp_path / "ck" / "units" / ".teacher.npz.xyz.tmp").write_bytes(b"PK")
    store = SweepStore(tmp_path / "ck", config={}, log=None)  # no error
    ck = store.trainer("u")
    assert ck.latest_step() == 100 and store.names() == ["teacher"]
    ck.save(200, {"w": jnp.ones(6), "key": jax.random.key(1)})
    assert sorted(p.name for p in ck.directory.iterdir()) == ["step_000000200",
                                                               "step_000000200.json"]


def test_unit_names_and_values_are_checked(tmp_path):
    store = SweepStore(tmp_path / "ck", config={}, log=None)
    with pytest.raises(ValueError, match="name"):
        store.put("../escape", {})
    with pytest.raises(TypeError, match="key"):
        store.put("k", {"key": jax.random.key(0)})
    with pytest.raises(TypeError, match="object"):
        store.put("k", {"x": object()})
    assert not (tmp_path / "ck").exists()  # refused values write nothing


def test_a_relative_output_folder_checkpoints_and_resumes(gmm, tmp_path, monkeypatch):
    # jobs default to relative folders (paper_figures/NAME); orbax needs absolute paths
    monkeypatch.chdir(tmp_path)
    cfg = dataclasses.replace(CFG, steps=200)
    store = SweepStore.for_output("rel/out", config={"r": 1}, log=None)
    fit(_fn(gmm), _data(gmm), prior=_prior(), config=cfg, key=jax.random.key(0), num_members=M,
        progress=False, checkpoint=store.trainer("u"))
    again = SweepStore.for_output("rel/out", config={"r": 1}, log=None).trainer("u")
    assert again.directory.is_absolute() and again.latest_step() == 200

"""Bad input, in one table: the Python API raises the right error naming the argument; the CLI
prints one line naming it, exits 2 and writes nothing."""

import dataclasses
import shutil
import subprocess

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayeskd.checkpoint import CheckpointError, SweepStore
from bayeskd.cli import main
from bayeskd.data import Dataset, load_dataset
from bayeskd.experiments.config import check_config
from bayeskd.experiments.runner import checkpoint_config, resolve
from bayeskd.experiments.specs.compare_priors import Config, check
from bayeskd.losses import kl_divergence, reverse_kl_divergence
from bayeskd.models import make_model
from bayeskd.priors import GaussianPrior, LabelSmoothing, NoPrior, SumPrior, TeacherPrior
from bayeskd.training import TrainConfig, fit

# ---------------------------------------------------------------------------------------------
# The Python API: (case, call, error type, text the message must contain)

N, K = 8, 3
X = np.random.default_rng(0).normal(size=(N, 2)).astype(np.float32)
Y = np.arange(N, dtype=np.int32) % K
CFG = TrainConfig(steps=2, batch_size=4, eval_every=2)


def _fit(**data):
    base = {"x": X, "y": Y}
    base.update(data)
    return lambda: fit(lambda k: make_model("mlp-small", (2,), K, key=k), base, prior=NoPrior(),
                       config=CFG, key=jax.random.key(0), progress=False)


def _fit_prior(prior):
    return lambda: fit(lambda k: make_model("mlp-small", (2,), K, key=k), {"x": X, "y": Y},
                       prior=prior, config=CFG, key=jax.random.key(0), progress=False)


def _fit_members(m):
    return lambda: fit(lambda k: make_model("mlp-small", (2,), K, key=k), {"x": X, "y": Y},
                       prior=NoPrior(), config=CFG, key=jax.random.key(0), num_members=m)


def _with_nan(a, where=(0, 0)):
    a = np.array(a, np.float32)
    a[where] = np.nan
    return a


def _corrupt_store(tmp):
    store = SweepStore(tmp / "ck", config={"a": 1}, log=None)
    store.put("teacher", {"logp": np.zeros((4, 2), np.float32)})
    path = tmp / "ck" / "units" / "teacher.npz"
    path.write_bytes(path.read_bytes()[:100])
    return lambda: SweepStore(tmp / "ck", config={"a": 1}, log=None)


API_CASES = [
    # temperatures
    ("kl_temperature_zero", lambda t: lambda: kl_divergence(jnp.zeros((1, 3)), jnp.zeros((1, 3)),
                                                            temperature=0.0), ValueError, "temperature"),
    ("reverse_kl_temperature_inf", lambda t: lambda: reverse_kl_divergence(
        jnp.zeros((1, 3)), jnp.zeros((1, 3)), temperature=float("inf")), ValueError, "temperature"),
    ("teacher_prior_temperature_negative", lambda t: lambda: TeacherPrior(alpha=0.5, temperature=-1.0),
     ValueError, "temperature"),
    # alphas and strengths
    ("teacher_prior_alpha_above_one", lambda t: lambda: TeacherPrior(alpha=1.5), ValueError, "alpha"),
    ("label_smoothing_negative", lambda t: lambda: LabelSmoothing(epsilon=-0.1), ValueError, "epsilon"),
    ("weight_decay_nan", lambda t: lambda: GaussianPrior(weight_decay=float("nan")), ValueError,
     "weight_decay"),
    ("prior_sigma_zero", lambda t: lambda: GaussianPrior.from_sigma(0.0, 100), ValueError, "sigma"),
    ("mixing_weights_above_one", lambda t: lambda: SumPrior((TeacherPrior(alpha=0.7, table=np.zeros((N, K))),
                                                             LabelSmoothing(epsilon=0.5))),
     ValueError, "priors"),
    ("config_dropout_one", lambda t: lambda: check_config(Config(dropout=1.0)), ValueError,
     "dropout"),
    ("config_no_priors", lambda t: lambda: check(Config(priors=())), ValueError, "priors"),
    ("train_batch_size_zero", lambda t: lambda: TrainConfig(batch_size=0), ValueError, "batch_size"),
    ("train_learning_rate_negative", lambda t: lambda: TrainConfig(learning_rate=-1e-3), ValueError,
     "learning_rate"),
    # shapes and class counts
    ("kl_shape_mismatch", lambda t: lambda: kl_divergence(jnp.zeros((2, 3)), jnp.zeros((2, 4))),
     ValueError, "teacher_logits"),
    ("fit_rows_mismatch", lambda t: _fit(y=Y[:-1]), ValueError, "data['y']"),
    ("fit_teacher_class_count", lambda t: _fit_prior(TeacherPrior(table=np.zeros((N, K + 1)))),
     ValueError, "table"),
    ("fit_teacher_rows", lambda t: _fit_prior(TeacherPrior(table=np.zeros((N - 1, K)))),
     ValueError, "table"),
    ("fit_teacher_wrong_classes", lambda t: _fit_prior(TeacherPrior(teacher=lambda x: x[:, :1])),
     ValueError, "teacher"),
    ("fit_data_index_reserved", lambda t: _fit(index=np.arange(N)), ValueError, "data['index']"),
    ("model_one_class", lambda t: lambda: make_model("mlp", (2,), 1, key=jax.random.key(0)),
     ValueError, "num_classes"),
    ("fit_zero_members", lambda t: _fit_members(0), ValueError, "num_members"),
    # label ranges
    ("fit_label_too_large", lambda t: _fit(y=np.full(N, K, np.int32)), ValueError, "data['y']"),
    ("fit_label_negative", lambda t: _fit(y=np.full(N, -1, np.int32)), ValueError, "data['y']"),
    ("fit_float_labels", lambda t: _fit(y=Y.astype(np.float32)), ValueError, "data['y']"),
    ("fit_label_mask_out_of_range", lambda t: _fit(label_mask=np.full(N, 2.0, np.float32)),
     ValueError, "label_mask"),
    ("dataset_label_out_of_range", lambda t: lambda: Dataset("d", X, Y + K, X, Y, K), ValueError,
     "y_train"),
    # NaN inputs
    ("fit_nan_inputs", lambda t: _fit(x=_with_nan(X, (3, 1))), ValueError, "data['x']"),
    ("fit_nan_teacher", lambda t: _fit_prior(TeacherPrior(table=_with_nan(np.zeros((N, K))))),
     ValueError, "table"),
    ("dataset_nan_inputs", lambda t: lambda: Dataset("d", _with_nan(X), Y, X, Y, K), ValueError,
     "x_train"),
    # empty datasets
    ("fit_empty", lambda t: _fit(x=X[:0], y=Y[:0]), ValueError, "data"),
    ("dataset_empty", lambda t: lambda: Dataset("d", X[:0], Y[:0], X, Y, K), ValueError, "x_train"),
    # missing data files, unknown names
    ("missing_mnist_files", lambda t: lambda: load_dataset("mnist", data_dir=str(t / "nowhere")),
     FileNotFoundError, "train-images"),
    ("unknown_dataset", lambda t: lambda: load_dataset("imagenet"), ValueError, "dataset"),
    ("unknown_model", lambda t: lambda: make_model("vit", (2,), K, key=jax.random.key(0)),
     ValueError, "model"),
    ("unknown_optimizer", lambda t: lambda: TrainConfig(optimizer="lbfgs"), ValueError, "optimizer"),
    ("unknown_prior_name", lambda t: lambda: check_config(Config(priors=("none", "magic"))),
     ValueError, "priors"),
    # checkpoints
    ("corrupted_checkpoint", _corrupt_store, CheckpointError, "checkpoint"),
    ("bad_unit_name", lambda t: lambda: SweepStore(t / "ck2", config={}, log=None).put("a/b", {}),
     ValueError, "name"),
]


@pytest.mark.parametrize("case, make, error, needle", API_CASES, ids=[c[0] for c in API_CASES])
def test_api_bad_input(case, make, error, needle, tmp_path):
    call = make(tmp_path)
    with pytest.raises(error) as e:
        call()
    assert needle in str(e.value), str(e.value)


# ---------------------------------------------------------------------------------------------
# The CLI: (case, extra arguments, what --out is, text the one error line must contain)


def _readonly(folder):
    """Make ``folder`` read-only for this process (root ignores permission bits: use chattr)."""
    folder.chmod(0o555)
    if _writable(folder):
        folder.chmod(0o755)
        if shutil.which("chattr") is None or subprocess.run(
                ["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
            pytest.skip("cannot make a read-only folder here (root, no chattr)")
    return folder


def _writable(folder):
    try:
        (folder / ".probe").write_text("x")
    except OSError:
        return False
    (folder / ".probe").unlink()
    return True


def _release(folder):
    if shutil.which("chattr"):
        subprocess.run(["chattr", "-i", str(folder)], capture_output=True)
    folder.chmod(0o755)


SMOKE = resolve("compare_priors", size="smoke")


def _prepare(kind, tmp):
    """Return (--out path, folder to watch) for each kind of output folder."""
    if kind == "new":
        return tmp / "out", tmp
    if kind == "file":
        f = tmp / "results.txt"
        f.write_text("keep me")
        return f, tmp
    if kind in ("readonly", "readonly_parent"):
        ro = tmp / "ro"
        ro.mkdir()
        (ro / "old.json").write_text("{}")
        _readonly(ro)
        return (ro if kind == "readonly" else ro / "new"), ro
    out = tmp / "out"
    store = SweepStore.for_output(out, config=checkpoint_config(SMOKE), log=None)
    store.put("teacher", {"logp_test": np.zeros((2, 10), np.float32)})
    (out / ".bayeskd.lock").touch()  # every earlier run leaves its (free) lock file
    ck = store.trainer("student-none")
    ck.save(100, {"w": np.arange(4.0, dtype=np.float32)})
    if kind == "corrupt_manifest":
        (out / ".checkpoints" / "manifest.json").write_text("{")
    elif kind == "corrupt_unit":
        unit = out / ".checkpoints" / "units" / "teacher.npz"
        unit.write_bytes(unit.read_bytes()[:-10])
    elif kind == "corrupt_trainer":
        files = [p for p in (ck.directory / "step_000000100").rglob("*") if p.is_file()]
        target = max(files, key=lambda p: p.stat().st_size)
        b = bytearray(target.read_bytes())
        b[-1] ^= 0xFF
        target.write_bytes(bytes(b))
    return out, out


CLI_CASES = [
    ("temperature_zero", ["--temperature", "0"], "new", "temperature"),
    ("temperature_nan", ["--temperature", "nan"], "new", "temperature"),
    ("temperature_huge_negative", ["--temperature", "-1e30"], "new", "temperature"),
    ("alpha_above_one", ["--alpha", "1.5"], "new", "alpha"),
    ("seeds_zero", ["--seeds", "0"], "new", "seeds"),
    ("seeds_not_a_number", ["--seeds", "two"], "new", "seeds"),
    ("transfer_size_zero", ["--transfer-size", "0"], "new", "transfer_size"),
    ("unknown_dataset", ["--dataset", "imagenet"], "new", "dataset"),
    ("unknown_student", ["--student", "vit"], "new", "student"),
    ("unknown_teacher", ["--teacher", "gpt"], "new", "teacher"),
    ("unknown_prior", ["--priors", "none,magic"], "new", "priors"),
    ("empty_prior_list", ["--priors", ","], "new", "priors"),
    ("unknown_size", ["--size", "huge"], "new", "size"),
    ("missing_data_files", ["--dataset", "mnist", "--data-dir", "/nonexistent/bayeskd"], "new",
     "train-images"),
    ("out_is_a_file", [], "file", "--out"),
    ("out_read_only", [], "readonly", "--out"),
    ("out_parent_read_only", [], "readonly_parent", "--out"),
    ("corrupted_manifest", [], "corrupt_manifest", "checkpoint"),
    ("corrupted_unit", [], "corrupt_unit", "checkpoint"),
    ("corrupted_trainer_checkpoint", [], "corrupt_trainer", "checkpoint"),
]


def _snapshot(folder):
    return {p.relative_to(folder): (p.read_bytes() if p.is_file() else None)
            for p in sorted(folder.rglob("*"))}


@pytest.mark.parametrize("case, extra, out_kind, needle", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_cli_bad_input(case, extra, out_kind, needle, tmp_path, capsys):
    out, watch = _prepare(out_kind, tmp_path)
    before = _snapshot(watch)
    try:
        code = main(["compare-priors", "--size", "smoke", "--no-progress", "--out", str(out), *extra])
        err = capsys.readouterr().err
        after = _snapshot(watch)
    finally:
        if out_kind.startswith("readonly"):
            _release(watch)
    assert code == 2
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("bayeskd: error:") and needle in lines[0], lines[0]
    assert after == before  # no file written, changed or removed
    if out_kind.startswith("corrupt"):
        assert "--fresh" in lines[0]


def test_the_table_is_large_enough():
    assert len(API_CASES) + len(CLI_CASES) >= 25
    categories = {"temperature", "alpha", "epsilon", "weight_decay", "teacher_logits", "data['y']",
                  "data['x']", "num_classes", "train-images", "dataset", "model", "checkpoint"}
    needles = {c[-1] for c in API_CASES} | {c[-1] for c in CLI_CASES}
    assert categories <= needles


def test_corrupted_checkpoint_is_not_replaced_without_fresh(tmp_path, capsys):
    out, _ = _prepare("corrupt_unit", tmp_path)
    assert main(["compare-priors", "--size", "smoke", "--out", str(out)]) == 2
    assert "checkpoint" in capsys.readouterr().err
    with pytest.raises(CheckpointError):
        SweepStore.for_output(out, config=checkpoint_config(SMOKE), log=None)
    # the same folder under another configuration is not an error: those checkpoints are skipped
    other = checkpoint_config(dataclasses.replace(SMOKE, cfg=dataclasses.replace(SMOKE.cfg, seeds=3)))
    assert not SweepStore.for_output(out, config=other, log=None).active

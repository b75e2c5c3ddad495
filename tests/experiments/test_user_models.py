"""Your own architecture as ``--teacher`` / ``--student``: ``module.path:factory`` is checked
before any work (one line naming the argument, exit 2, nothing written) and runs end to end."""

import json
import pathlib
import re
import textwrap

import jax
import jax.numpy as jnp
import pytest

from bayeskd.cli import main
from bayeskd.experiments.specs.compare_priors import Config, load_inputs
from bayeskd.models import UserModel, check_user_model

MODULE = "bayeskd_test_user_models"  # a name no other test imports (modules stay in sys.modules)

SOURCE = textwrap.dedent('''
    import jax
    import jax.numpy as jnp
    from flax import nnx


    class MLP(nnx.Module):
        def __init__(self, rngs, out=10):
            self.hidden = nnx.Linear(40, 16, rngs=rngs)
            self.head = nnx.Linear(16, out, rngs=rngs)

        def __call__(self, x):  # no key
            return self.head(jax.nn.relu(self.hidden(x.reshape(x.shape[0], -1))))


    class BNNet(nnx.Module):
        def __init__(self, rngs):
            self.conv = nnx.Conv(1, 4, kernel_size=(5,), strides=(2,), rngs=rngs)
            self.bn = nnx.BatchNorm(4, rngs=rngs)
            self.head = nnx.Linear(4 * 20, 10, rngs=rngs)

        def __call__(self, x):
            h = jax.nn.relu(self.bn(self.conv(x[..., None])))
            return self.head(h.reshape(x.shape[0], -1))


    class NaNNet(MLP):
        def __call__(self, x):
            return super().__call__(x) * jnp.nan


    def mlp(rngs):
        return MLP(rngs)


    def bn_cnn(rngs):
        return BNNet(rngs)


    def wide(rngs):
        return MLP(rngs, out=7)


    def nan(rngs):
        return NaNNet(rngs)


    def not_a_module(rngs):
        return 3


    NOT_CALLABLE = 1
''')


@pytest.fixture(scope="module")
def user_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("user_models")
    (d / f"{MODULE}.py").write_text(SOURCE)
    (d / f"{MODULE}_broken.py").write_text("raise RuntimeError('this module is broken')\n")
    return d


@pytest.fixture
def on_path(user_dir, monkeypatch):
    monkeypatch.syspath_prepend(str(user_dir))
    return user_dir


SMOKE = ["compare-priors", "--size", "smoke", "--no-progress", "--seeds", "1",
         "--teacher-steps", "50", "--student-steps", "50", "--priors", "none,kd"]

BAD = [
    (["--teacher", f"{MODULE}:wide"], "teacher: ", "[B, 10]"),
    (["--teacher", f"{MODULE}:nan"], "teacher: ", "non-finite"),
    (["--teacher", f"{MODULE}_broken:mlp"], "teacher: ", "this module is broken"),
    (["--teacher", f"{MODULE}:missing"], "teacher: ", "no attribute 'missing'"),
    (["--teacher", f"{MODULE}:NOT_CALLABLE"], "teacher: ", "not callable"),
    (["--teacher", f"{MODULE}:not_a_module"], "teacher: ", "not an nnx.Module"),
    (["--teacher", "no_such_module_xyz:f"], "teacher: ", "no_such_module_xyz"),
    (["--teacher", ":f"], "teacher: ", "module.path:factory"),
    (["--student", f"{MODULE}:wide"], "student: ", "[B, 10]"),
    (["--student", f"{MODULE}:mlp", "--priors", "none,dropout"], "priors: ", "dropout"),
]


@pytest.mark.parametrize("extra, start, needle", BAD)
def test_bad_user_model_exits_2_with_one_line(extra, start, needle, on_path, tmp_path, capsys):
    out = tmp_path / "out"
    code = main([*SMOKE, "--out", str(out), *extra])
    lines = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert code == 2
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"bayeskd: error: {start}") and needle in lines[0], lines[0]
    assert not out.exists()


def test_user_model_is_hashable_by_value_and_builds(on_path):
    m = UserModel(f"{MODULE}:mlp", (40,), 10)
    assert m == UserModel(f"{MODULE}:mlp", [40], 10) and hash(m) == hash(UserModel(
        f"{MODULE}:mlp", (40,), 10))
    assert m != UserModel(f"{MODULE}:bn_cnn", (40,), 10)
    assert m(jax.random.key(0))(jnp.zeros((3, 40))).shape == (3, 10)
    assert len(m.code_digest()) == 64
    check_user_model(f"{MODULE}:bn_cnn", (40,), 10, name="teacher")  # batch statistics are fine


def test_file_path_spec(user_dir):
    spec = f"{user_dir / MODULE}.py:mlp"
    check_user_model(spec, (40,), 10, name="student")
    assert UserModel(spec, (40,), 10).code_digest() == UserModel(
        f"{user_dir / MODULE}.py:wide", (40,), 10).code_digest()
    with pytest.raises(ValueError, match=r"^student: cannot import"):
        check_user_model(f"{user_dir}/absent.py:mlp", (40,), 10, name="student")


def test_help_lists_names_and_factory(capsys):
    with pytest.raises(SystemExit):
        main(["compare-priors", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "one of cnn, mlp-large, or module.path:factory" in text
    assert "one of mlp, mlp-small, mlp-large, or module.path:factory" in text


def test_readme_example_passes_the_checks(tmp_path):
    text = (pathlib.Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = text.split("## Your own model", 1)[1]
    (tmp_path / "my_models.py").write_text(re.search(r"```python\n(.*?)```", section, re.S)[1])
    assert "--teacher my_models:bn_cnn" in section
    check_user_model(f"{tmp_path}/my_models.py:bn_cnn", (40,), 10, name="teacher")


def _run(out, *extra) -> dict:
    assert main([*SMOKE, "--out", str(out), *extra]) == 0
    return json.loads((out / "results.json").read_text())


def test_user_teacher_runs_end_to_end(on_path, tmp_path):
    r = _run(tmp_path / "out", "--teacher", f"{MODULE}:mlp")
    teacher = [row for row in r["rows"] if row["part"] == "teacher"]
    assert teacher[0]["model"] == f"{MODULE}:mlp"
    assert teacher[0]["param_count"] == 40 * 16 + 16 + 16 * 10 + 10
    assert {row["prior"] for row in r["rows"] if row["part"] == "student"} == {"none", "kd"}
    assert r["summary"]["teacher"]["teacher"]["accuracy"]["mean"] > 0.1


def test_user_student_runs_and_leaves_dropout_out(on_path, tmp_path):
    names = load_inputs(Config(student=f"{MODULE}:mlp", transfer_size=10))[2]
    assert "dropout" not in names and "none" in names
    r = _run(tmp_path / "out", "--student", f"{MODULE}:mlp")
    assert r["extra"]["priors"] == ["none", "kd"]
    students = [row for row in r["rows"] if row["part"] == "student"]
    assert students and all(row["param_count"] == 40 * 16 + 16 + 16 * 10 + 10 for row in students)


def test_batchnorm_teacher_runs_end_to_end(on_path, tmp_path, capsys):
    out = tmp_path / "out"
    code = main([*SMOKE, "--out", str(out), "--teacher", f"{MODULE}:bn_cnn"])
    err = capsys.readouterr().err
    assert code == 0, err
    r = json.loads((out / "results.json").read_text())
    assert r["summary"]["teacher"]["teacher"]["accuracy"]["mean"] > 0.1

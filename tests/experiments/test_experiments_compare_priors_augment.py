"""compare-priors with the augmentation priors: augment, kd_augment (function matching inside the
step) and kd_crossfit (out-of-fold teachers), at smoke size; bad input refused before any output."""

import json

import pytest

from bayeskd.cli import main
from bayeskd.experiments.compare_priors import (
    DEFAULT_PRIORS,
    ComparePriorsConfig,
    load_inputs,
)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cpa") / "out"
    assert main(["compare-priors", "--size", "smoke", "--out", str(out), "--no-progress",
                 "--priors", "none,augment,kd_augment,kd_crossfit", "--folds", "2"]) == 0
    return out


def test_new_priors_run_and_are_summarised(smoke_run):
    r = json.loads((smoke_run / "results.json").read_text())
    assert [row["prior"] for row in r["rows"]] == (["none"] * 2 + ["augment"] * 2
                                                   + ["kd_augment"] * 2 + ["kd_crossfit"] * 2)
    assert set(r["summary"]) == {"none", "augment", "kd_augment", "kd_crossfit"}
    assert r["config"]["folds"] == 2 and r["config"]["augment"] is None
    for row in r["rows"]:
        assert 0.2 < row["accuracy"] <= 1 and row["nll"] > 0
    # the student fit to the teacher on fresh views agrees with the teacher more than the fair
    # control does: the same views and steps with the labels in place of the teacher
    s = r["summary"]
    assert s["kd_augment"]["agreement"]["mean"] > s["augment"]["agreement"]["mean"]


def test_defaults_run_augment_and_kd_augment_not_kd_crossfit():
    assert {"augment", "kd_augment"} <= set(DEFAULT_PRIORS)
    assert "kd_crossfit" not in DEFAULT_PRIORS
    assert ComparePriorsConfig(size="smoke").prior_names() == DEFAULT_PRIORS


@pytest.mark.parametrize(("extra", "needle"), [
    (["--augment", "rotate"], "augment: unknown 'rotate'; choose one of: mnist1d, crop_flip, mixup"),
    (["--augment", "mnist1d:max_shift=-2"], "max_shift: must be an integer >= 0, got -2"),
    (["--augment", "mixup:alpha=0"], "alpha: mixup needs a Beta concentration > 0, got 0"),
    (["--augment", "mixup:alpha=-0.5"], "alpha: mixup needs a Beta concentration > 0"),
    (["--priors", "kd_crossfit", "--folds", "1"], "folds: out-of-fold teachers need at least 2"),
    (["--priors", "kd_crossfit", "--folds", "4001"],
     r"folds: must lie in [2, 4000] (the number of training examples), got 4001"),
])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(extra, needle, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["compare-priors", "--size", "smoke", "--out", str(out), "--no-progress",
                 *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("bayeskd: error: ")
    assert needle in err
    assert not out.exists()


def test_function_matching_needs_a_teacher_network(tmp_path):
    import numpy as np

    from bayeskd.data import load_dataset

    ds = load_dataset("mnist1d")
    logits = np.zeros((ds.num_train + ds.num_test, 10), np.float32)
    np.save(tmp_path / "t.npy", logits)
    cfg = ComparePriorsConfig(size="smoke", teacher_logits=str(tmp_path / "t.npy"),
                              priors=("kd_augment",))
    with pytest.raises(ValueError, match="priors: kd_augment needs a teacher network"):
        load_inputs(cfg)
    default = ComparePriorsConfig(size="smoke", teacher_logits=str(tmp_path / "t.npy"))
    assert "kd_augment" not in load_inputs(default)[2]

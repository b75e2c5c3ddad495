"""Bad input to the CLI: one line on stderr, exit status 2, nothing written."""

import pytest

from bayeskd.cli import main

CASES = [
    (["--temperature", "0"], "temperature"),
    (["--temperature", "-2"], "temperature"),
    (["--temperature", "nan"], "temperature"),
    (["--temperature", "inf"], "temperature"),
    (["--alpha", "1.5"], "alpha"),
    (["--alpha", "-0.1"], "alpha"),
    (["--seeds", "0"], "seeds"),
    (["--seeds", "-3"], "seeds"),
    (["--dataset", "imagenet"], "dataset"),
    (["--student", "vit"], "student"),
    (["--teacher", "gpt"], "teacher"),
    (["--size", "huge"], "size"),
    (["--priors", "none,magic"], "priors"),
    (["--transfer-size", "0"], "transfer_size"),
    (["--dataset", "mnist", "--data-dir", "/nonexistent/bayeskd"], "train-images-idx3-ubyte"),
    (["--seeds", "two"], "seeds: must be an integer"),
]


@pytest.mark.parametrize("extra, needle", CASES)
def test_bad_input_exits_2_with_one_line(extra, needle, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["compare-priors", "--out", str(out), "--no-progress", *extra])
    err = capsys.readouterr().err
    assert code == 2
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("bayeskd: error:") and needle in lines[0], lines[0]
    assert not out.exists()


def test_out_that_is_a_file(tmp_path, capsys):
    f = tmp_path / "file.txt"
    f.write_text("x")
    assert main(["compare-priors", "--size", "smoke", "--out", str(f)]) == 2
    assert "--out" in capsys.readouterr().err
    assert f.read_text() == "x"


def test_unknown_command(capsys):
    with pytest.raises(SystemExit) as e:
        main(["frobnicate"])
    assert e.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_diverged_training_prints_one_line_and_exits_1(monkeypatch, tmp_path, capsys):
    from bayeskd.experiments import commands
    from bayeskd.training import TrainingDiverged

    def diverge(*args, **kwargs):
        raise TrainingDiverged("loss became nan at step 7 (member 0)\nmore detail", step=7,
                               member=0, last_finite_loss=1.5)

    monkeypatch.setattr(commands, "run", diverge)
    status = main(["compare-priors", "--size", "smoke", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 1
    assert err == ["bayeskd: training diverged: loss became nan at step 7 (member 0)"]

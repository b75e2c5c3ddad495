"""``bayeskd lm-distill``: smoke run, resume, results, and one-line errors for bad input."""

import json

import numpy as np
import pytest

from bayeskd.cli import main
from bayeskd.experiments.lm_distill import LMDistillConfig, compare_to_hard, run

SMALL = dict(size="smoke", modes=("token",), divergences=("forward_kl",), seeds=2)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("lm") / "out"
    logs: list[str] = []
    results = run(LMDistillConfig(**SMALL), out=out, progress=False, log=logs.append)
    return out, results, logs


def test_smoke_run_writes_results_with_provenance(smoke):
    out, results, _ = smoke
    saved = json.loads((out / "results.json").read_text())
    assert saved["provenance"]["command"] is not None
    assert [r["method"] for r in saved["rows"]] == ["hard"] * 2 + ["token-forward_kl"] * 2
    for r in saved["rows"]:
        assert r["kl_true"] > 0 and r["bits_per_token"] == pytest.approx(r["nll"] / np.log(2))
    assert saved["data"]["true_nll"] < saved["summary"]["hard"]["nll"]["mean"]
    assert {(e["k"], e["tail"]) for e in saved["topk_error"]} == {
        (16, "zero"), (16, "uniform"), (16, "dirichlet")}
    zero = next(e for e in saved["topk_error"] if e["tail"] == "zero")
    assert zero["kl_full_to_topk"] == float("inf")
    assert (out / "results.csv").exists() and (out / "lm_distillation.png").exists()


def test_rerun_resumes_from_checkpoints_and_gives_the_same_rows(smoke):
    out, results, _ = smoke
    logs: list[str] = []
    again = run(LMDistillConfig(**SMALL), out=out, progress=False, log=logs.append)
    assert again["rows"] == results["rows"]
    assert sum("reloaded" in line for line in logs) >= 3  # teacher and both methods


def test_compare_to_hard_needs_more_than_two_std():
    summary = {"hard": {"nll": {"mean": 2.0, "std": 0.1}},
               "a": {"nll": {"mean": 1.7, "std": 0.1}}, "b": {"nll": {"mean": 1.8, "std": 0.1}}}
    got = compare_to_hard(summary, "nll")
    assert got["a"]["better_by_2std"] and not got["b"]["better_by_2std"]  # 0.3 > 0.283 > 0.2


def _bad(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    latin = tmp_path / "latin.txt"
    latin.write_bytes(b"caf\xe9 au lait")
    return [
        (["--top-k", "65"], "top_k: must be at most the vocabulary size 64, got 65"),
        (["--beta", "1.5"], "beta: must lie in [0, 1]"),
        (["--lam", "-0.5"], "lam: must lie in [0, 1]"),
        (["--data", str(empty)], "--data: empty.txt is empty"),
        (["--data", str(latin)], "--data: latin.txt is not UTF-8"),
        (["--seq-len", "40", "--max-len", "32"], "seq_len: 40 is longer than the model's 32"),
        (["--init", "distilbert", "--teacher", "1x32", "--student", "2x32"],
         "--student: DistilBERT initialisation needs a student no deeper"),
        (["--init", "distilbert", "--student", "1x16"], "needs the teacher's width 32"),
        (["--mode", "token,beam"], "mode: unknown 'beam'"),
        (["--divergence", "kl"], "divergence: unknown 'kl'"),
        (["--teacher", "big"], "--teacher: must be LAYERSxWIDTH"),
        (["--on-policy", "2"], "on_policy: must lie in [0, 1]"),
    ]


def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys):
    for extra, needle in _bad(tmp_path):
        out = tmp_path / "out"
        code = main(["lm-distill", "--size", "smoke", "--out", str(out), "--no-progress", *extra])
        err = capsys.readouterr().err
        lines = [x for x in err.splitlines() if x.strip()]
        assert code == 2, (extra, err)
        assert len(lines) == 1 and needle in lines[0], (extra, err)
        assert not out.exists()


def test_vocabulary_mismatch_between_teacher_and_student_is_refused():
    import jax
    from flax import nnx

    from bayeskd.models.transformer import TransformerConfig
    from bayeskd.training import TrainConfig, fit
    from bayeskd.training.lm import LMObjective, ModelLMTeacher

    teacher = TransformerConfig(vocab_size=20, num_layers=1, width=8, num_heads=2, max_len=6)
    student = TransformerConfig(vocab_size=16, num_layers=1, width=8, num_heads=2, max_len=6)
    prior = ModelLMTeacher.from_module(teacher(jax.random.key(0)))
    with pytest.raises(ValueError, match="w_teacher: must have the same V as w_student, got 20 "
                                         "and 16"):
        fit(student, {"x": np.zeros((4, 6), np.int32)}, prior=prior,
            config=TrainConfig(steps=1, batch_size=2, eval_every=1), key=jax.random.key(0),
            objective=LMObjective())
    del nnx

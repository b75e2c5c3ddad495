"""``bayeskd lm-distill``: smoke run, resume, results, and one-line errors for bad input."""

import json

import numpy as np
import pytest

from bayeskd.cli import main
from bayeskd.experiments.lm_distill import (
    LMDistillConfig,
    best_by_validation,
    compare_to_hard,
    posterior_metrics,
    run,
)

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


def test_every_student_is_scored_at_its_final_step_and_at_its_best_validation_point(smoke):
    _, results, _ = smoke
    assert results["data"]["num_val"] == 32
    for r in results["rows"]:
        curve = results["curves"][r["method"]]
        assert curve["step"] == [20, 40]  # every eval_every steps, the final step included
        assert r["nll"] == pytest.approx(curve["nll"][-1][r["seed"]], rel=1e-6)
        i = curve["step"].index(r["best_step"])
        assert i == int(np.argmin([v[r["seed"]] for v in curve["val_nll"]]))
        assert r["nll_best"] == curve["nll"][i][r["seed"]]
        assert r["kl_true_best"] == curve["kl_true"][i][r["seed"]]
    assert set(results["versus_hard"]) == {"nll", "kl_true", "nll_best", "kl_true_best"}


def test_best_by_validation_chooses_on_the_validation_rows_only():
    curve = {"step": [10, 20, 30], "val_nll": [[3.0, 2.0], [2.5, 2.2], [2.6, 2.1]],
             "nll": [[9.0, 1.0], [8.0, 0.5], [1.0, 0.1]],
             "kl_true": [[0.9, 0.1], [0.8, 0.05], [0.1, 0.01]]}
    assert best_by_validation(curve, 0) == {"nll_best": 8.0, "best_step": 20,
                                            "kl_true_best": 0.8}
    assert best_by_validation(curve, 1) == {"nll_best": 1.0, "best_step": 10,
                                            "kl_true_best": 0.1}
    assert best_by_validation({"step": [], "val_nll": [], "nll": [], "kl_true": []}, 0) == {}


def test_posterior_metrics_mutual_information_by_hand():
    import jax
    import jax.numpy as jnp
    from flax import nnx

    from bayeskd.models.transformer import TransformerConfig
    from bayeskd.training.lm import ModelLMTeacher, lm_log_probs

    cfg = TransformerConfig(vocab_size=11, num_layers=1, width=8, num_heads=2, max_len=6)
    split = [nnx.split(cfg(jax.random.key(k)), nnx.Param) for k in (1, 2)]
    gd = split[0][0]
    tokens = np.asarray(jax.random.randint(jax.random.key(0), (5, 6), 0, 11))
    true = jax.nn.log_softmax(jax.random.normal(jax.random.key(3), (5, 5, 11)))
    data = {"test": tokens, "true_test": true}
    lps = jnp.stack([lm_log_probs(gd, p, tokens) for _, p in split], axis=-2)  # [N, T, 2, V]
    mean = jnp.log(jnp.mean(jnp.exp(lps), -2))
    ent = lambda lp: -jnp.sum(jnp.exp(lp) * lp, -1)  # noqa: E731
    want_mi = float(jnp.mean(ent(mean) - ent(lps).mean(-1)))
    stacked = jax.tree.map(lambda a, b: jnp.stack([a, b]), split[0][1], split[1][1])
    got = posterior_metrics(ModelLMTeacher(gd, stacked, 2), data, key=jax.random.key(0), batch=2)
    assert got["mutual_information"] == pytest.approx(want_mi, rel=1e-4) and want_mi > 1e-3
    assert got["kl_true"] == pytest.approx(
        float(jnp.mean(jnp.sum(jnp.exp(true) * (true - mean), -1))), rel=1e-4)
    one = posterior_metrics(ModelLMTeacher(gd, split[0][1]), data, key=jax.random.key(0))
    assert abs(one["mutual_information"]) < 1e-6


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
        (["--student", "2x64"], "--student: 2x64 is larger than the teacher 1x32"),
        (["--teacher-posterior", "ensemble", "--teacher-members", "1"],
         "teacher_members: an ensemble teacher needs at least 2 members, got 1"),
        (["--teacher-posterior", "mc_dropout", "--teacher-members", "3"],
         "teacher_members: a mc_dropout teacher is one network, got 3 members"),
        (["--teacher-posterior", "laplace"], "teacher_posterior: unknown 'laplace'"),
        (["--teacher-posterior", "single,swag"], "teacher_posterior: unknown 'swag'"),
        (["--teacher-posterior", "mc_dropout", "--teacher-dropout", "1.0"],
         "teacher_dropout: must lie in the open interval (0, 1), got 1.0"),
        (["--teacher-dropout", "-0.1"], "teacher_dropout: must lie in the open interval (0, 1)"),
        (["--teacher-posterior", "mc_dropout", "--teacher-samples", "0"],
         "teacher_samples: a posterior needs at least one sample, got 0"),
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

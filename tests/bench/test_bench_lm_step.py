"""The LM training-step benchmark at smoke size: both programs run and compute the same losses."""

from bayeskd.bench.lm_step import run


def test_lm_step_smoke_reports_memory_time_and_equal_losses():
    res = run(size="smoke", log=lambda *_: None)
    row = res["results"][0]
    assert row["chunked_temp"] > 0 and row["naive_temp"] > 0
    assert row["chunked_tokens_per_s"] > 0
    assert row["loss_rel_err"] < 1e-3
    assert [t["met"] for t in res["targets"]][2] is True

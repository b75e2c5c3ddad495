"""One language-model training step: the chunked kernel against materialised logits, and tokens/s.

The student step that :func:`bayeskd.training.fit` compiles for a language model (transformer
forward, the distillation loss through :class:`bayeskd.training.lm.LMObjective` with a teacher
model inside the step, backward, Adam update) is lowered twice: with the chunked kernel and with
``implementation="naive"`` (``[tokens, V]`` logits materialised and differentiated by
autodiff). Reported: the XLA temporary memory of each program
(``compiled.memory_analysis().temp_size_in_bytes``), median wall time per step and training
tokens per second. The target: at ``V = 32,768`` the chunked step uses at most 20% of the naive
step's temporary memory at no more than 1.3x its time.

Command: ``bayeskd bench --only lm_step`` (about a minute on 2 cores; ``--size smoke`` seconds).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np

from bayeskd.bench._common import alternate, check_size, load_average, median, target
from bayeskd.models.transformer import TransformerConfig
from bayeskd.training import CompiledRun, TrainConfig
from bayeskd.training.lm import LMObjective, ModelLMTeacher


@dataclasses.dataclass(frozen=True)
class Settings:
    vocab_size: int
    batch_size: int
    seq_len: int
    student: tuple[int, int]
    teacher: tuple[int, int]
    steps: int  # steps per timed call (one compiled chunk)
    repeats: int
    chunk_size: int = 256


SETTINGS = {
    "smoke": Settings(vocab_size=1024, batch_size=4, seq_len=32, student=(1, 32), teacher=(1, 32),
                      steps=2, repeats=1),
    "full": Settings(vocab_size=32768, batch_size=16, seq_len=128, student=(1, 64),
                     teacher=(2, 64), steps=2, repeats=3),
}


def _run_for(s: Settings, implementation: str) -> tuple[CompiledRun, Any]:
    def arch(spec):
        return TransformerConfig(vocab_size=s.vocab_size, num_layers=spec[0], width=spec[1],
                                 num_heads=4, max_len=s.seq_len)

    teacher = ModelLMTeacher.from_module(arch(s.teacher)(jax.random.key(1)))
    tokens = np.asarray(jax.random.randint(jax.random.key(2), (64, s.seq_len), 0, s.vocab_size),
                        np.int32)
    run = CompiledRun(arch(s.student), {"x": tokens}, prior=teacher,
                      config=TrainConfig(steps=s.steps, batch_size=s.batch_size,
                                         eval_every=s.steps),
                      objective=LMObjective(chunk_size=s.chunk_size, implementation=implementation))
    return run, run.init_state(jax.random.key(0))


def bench_lm_step(s: Settings, *, log=print) -> dict[str, Any]:
    """Temporary bytes and step time of the chunked and the naive LM training step."""
    runs = {impl: _run_for(s, impl) for impl in ("chunked", "naive")}
    row: dict[str, Any] = {"vocab": s.vocab_size, "tokens_per_step": s.batch_size * (s.seq_len - 1)}
    for impl, (run, state) in runs.items():
        row[f"{impl}_temp"] = run.lower(state, 1).compile().memory_analysis().temp_size_in_bytes
    times, last, _ = alternate({impl: (lambda r=run, st=state: jax.block_until_ready(r(st)))
                                for impl, (run, state) in runs.items()}, repeats=s.repeats)
    losses = {impl: np.asarray(last[impl][1], np.float64) for impl in runs}
    row["loss_rel_err"] = float(np.max(np.abs(losses["chunked"] - losses["naive"])
                                       / np.abs(losses["naive"])))
    for impl in runs:
        row[f"{impl}_step_s"] = median(times[impl]) / s.steps
        row[f"{impl}_tokens_per_s"] = row["tokens_per_step"] / row[f"{impl}_step_s"]
    row["temp_ratio"] = row["chunked_temp"] / row["naive_temp"]
    row["time_ratio"] = row["chunked_step_s"] / row["naive_step_s"]
    log(f"[bench] lm_step V={s.vocab_size}: temp {row['chunked_temp'] / 2**20:.1f} vs "
        f"{row['naive_temp'] / 2**20:.1f} MiB ({100 * row['temp_ratio']:.1f}%), step "
        f"{row['chunked_step_s'] * 1e3:.0f} vs {row['naive_step_s'] * 1e3:.0f} ms "
        f"(x{row['time_ratio']:.2f}), {row['chunked_tokens_per_s']:.0f} tokens/s")
    return row


def run(*, size: str = "full", repeats: int | None = None, log=print, **overrides) -> dict[str, Any]:
    check_size(size)
    s = dataclasses.replace(SETTINGS[size], **overrides)
    if repeats is not None:
        s = dataclasses.replace(s, repeats=repeats)
    load_before = load_average()
    row = bench_lm_step(s, log=log)
    return {
        "benchmark": "lm_step", "size": size, "settings": dataclasses.asdict(s), "results": [row],
        "targets": [
            target(f"LM step temp memory chunked/naive at V={s.vocab_size}", row["temp_ratio"],
                   0.2),
            target(f"LM step time chunked/naive at V={s.vocab_size}", row["time_ratio"], 1.3,
                   unit="x"),
            target("LM step losses chunked vs naive (relative)", row["loss_rel_err"], 1e-3),
        ],
        "load_before": load_before, "load_after": load_average(),
    }

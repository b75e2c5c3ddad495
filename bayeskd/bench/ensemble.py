"""``ensemble``: M members trained by ``vmap`` in one compiled run against M sequential runs.

The program is :func:`bayeskd.training.fit`'s compiled chunk (the KD student of ``train_kd``,
``steps`` steps in one ``lax.scan``), built ahead of time by
:class:`~bayeskd.bench._common.CompiledRun` so that compilation and execution are timed
separately. For each ``M`` in ``members``:

* ``vmap``: one program training all ``M`` members at once;
* ``sequential``: the one-member program (compiled once) run ``M`` times, member after member,
  from the same initial states and keys as the vmapped members (so both do the same work; the
  largest difference between their final parameters is recorded as a check).

Reported: execution time, ``time(M) / time(1)`` (execution only, and with compilation), the
speed-up over the sequential runs, and the achieved dense-matmul FLOP rate as a fraction of the
machine's own large float32 matmul rate (measured here, before and after; the higher rate is
used so the fraction is not flattered by a slow moment).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np

from bayeskd.bench._common import (
    CompiledRun,
    KDProblem,
    RunSettings,
    alternate,
    check_size,
    kd_prior,
    kd_problem,
    load_average,
    matmul_rate,
    median,
    member_slice,
    target,
    timed,
    timed_cpu,
)


@dataclasses.dataclass(frozen=True)
class EnsembleSettings(RunSettings):
    """The ensemble benchmark: member counts, and the size of the machine's matmul-rate probe."""

    members: tuple[int, ...] = (1, 4, 8, 16)
    matmul_n: int = 2048


SETTINGS = {
    "full": EnsembleSettings(),
    "smoke": EnsembleSettings(members=(1, 2), steps=20, batch_size=16, repeats=1, matmul_n=256,
                              warmup=False, fresh_caches=False),
}


def max_rel_param_diff(vmapped: Any, sequential: list[Any]) -> float:
    """Largest ``|a - b| / (max |b| + 1e-12)`` over leaves between vmapped and sequential members."""
    worst = 0.0
    for m, seq in enumerate(sequential):
        for a, b in zip(jax.tree.leaves(vmapped), jax.tree.leaves(seq), strict=True):
            a, b = np.asarray(a[m]), np.asarray(b[0])
            worst = max(worst, float(np.max(np.abs(a - b)) / (np.max(np.abs(b)) + 1e-12)))
    return worst


def vmapped_competitor(prog: CompiledRun, key: jax.Array):
    """Run all members of ``prog`` once; times the execution only (init is reported apart)."""

    def go() -> dict[str, Any]:
        state, init_s = timed(prog.init_state, key)
        (final, losses), run_s, cpu_s = timed_cpu(prog, state)
        return {"_time_s": run_s, "_cpu_s": cpu_s, "init_s": init_s, "params": final.params,
                "final_loss": np.asarray(losses[:, -1])}

    return go


def sequential_competitor(vec: CompiledRun, single: CompiledRun, key: jax.Array,
                          priors_per_member: list | None = None):
    """Run ``single`` once per member of ``vec``, from that member's initial state (and prior)."""

    def go() -> dict[str, Any]:
        state = vec.init_state(key)  # the vmapped members' initial states, sliced below
        total, cpu, params = 0.0, 0.0, []
        for m in range(vec.members):
            prior = None if priors_per_member is None else priors_per_member[m]
            (final, _), run_s, cpu_s = timed_cpu(single, member_slice(state, m), prior)
            total, cpu = total + run_s, cpu + cpu_s
            params.append(final.params)
        return {"_time_s": total, "_cpu_s": cpu, "params": params}

    return go


def compile_all(progs: dict[Any, CompiledRun], key: jax.Array, *,
                clear: bool = True) -> dict[Any, dict[str, float]]:
    """Compile every program once (``clear``: empty JAX's caches first); returns the seconds of
    init (its own compilation included), lowering and compilation."""
    if clear:
        jax.clear_caches()
    out = {}
    for name, prog in progs.items():
        state, init_s = timed(prog.init_state, key)  # includes the init's own compilation
        out[name] = prog.compile(state) | {"init_s": init_s}
    return out


def run(*, size: str = "full", repeats: int | None = None, problem: KDProblem | None = None,
        log=print, **overrides) -> dict[str, Any]:
    check_size(size)
    s = dataclasses.replace(SETTINGS[size], **overrides)
    if repeats is not None:
        s = dataclasses.replace(s, repeats=repeats)
    if 1 not in s.members:
        raise ValueError(f"members: must include 1 (the reference run), got {s.members}")
    problem = problem or kd_problem(size=size, log=log)
    load_before = load_average()
    rate_before = matmul_rate(s.matmul_n)
    prior = kd_prior(problem)
    progs = {m: CompiledRun(problem, prior, members=m, steps=s.steps, batch_size=s.batch_size,
                            learning_rate=s.learning_rate) for m in s.members}
    compile_info = compile_all(progs, jax.random.key(0), clear=s.fresh_caches)
    key = jax.random.key(1)
    competitors = {}
    for m in s.members:
        competitors[f"vmap_{m}"] = vmapped_competitor(progs[m], key)
        if m > 1:
            competitors[f"sequential_{m}"] = sequential_competitor(progs[m], progs[1], key)
    times, last, cpu = alternate(competitors, repeats=s.repeats, warmup=s.warmup)
    rate_after = matmul_rate(s.matmul_n)
    peak = max(rate_before["flops_per_s"], rate_after["flops_per_s"])
    flops_step = problem.matmul_flops_per_step(s.batch_size)
    c1 = compile_info[1]["lower_s"] + compile_info[1]["compile_s"]
    t1 = median(times["vmap_1"])
    rows = {}
    for m in s.members:
        cm = compile_info[m]["lower_s"] + compile_info[m]["compile_s"]
        tv = median(times[f"vmap_{m}"])
        ts = median(times[f"sequential_{m}"]) if m > 1 else tv
        rate = m * s.steps * flops_step / tv
        rows[m] = {
            "vmap_run_s": tv,
            "sequential_run_s": ts,
            "vmap_runs_s": times[f"vmap_{m}"],
            "vmap_cpu_s": median(cpu[f"vmap_{m}"]),
            "sequential_cpu_s": median(cpu[f"sequential_{m}"]) if m > 1 else median(cpu["vmap_1"]),
            "compile_s": cm,
            "init_s": compile_info[m]["init_s"],
            "vmap_total_s": cm + tv,
            "sequential_total_s": c1 + ts,
            "time_ratio_vs_1": tv / t1,
            "cpu_ratio_vs_1": median(cpu[f"vmap_{m}"]) / median(cpu["vmap_1"]),
            "time_ratio_vs_1_with_compile": (cm + tv) / (c1 + t1),
            "speedup_vs_sequential": ts / tv,
            "speedup_vs_sequential_with_compile": (c1 + ts) / (cm + tv),
            "matmul_flops_per_s": rate,
            "fraction_of_matmul_rate": rate / peak,
            "max_rel_param_diff_vs_sequential": (
                max_rel_param_diff(last[f"vmap_{m}"]["params"], last[f"sequential_{m}"]["params"])
                if m > 1 else 0.0),
        }
        log(f"[bench] ensemble M={m:2d}: vmap {tv:7.2f} s (x{tv / t1:4.2f} of M=1), sequential "
            f"{ts:7.2f} s, compile {cm:5.1f} s, {rate / 1e9:6.1f} GFLOP/s = "
            f"{100 * rate / peak:4.1f}% of matmul")
    ref = 8 if 8 in rows else max(rows)
    targets = [
        target(f"time({ref})/time(1), execution", rows[ref]["time_ratio_vs_1"], 4.0, unit="x"),
        target(f"time({ref})/time(1), with compilation", rows[ref]["time_ratio_vs_1_with_compile"],
               4.0, unit="x", note="informational"),
        target(f"{ref}-member FLOP rate / matmul rate", rows[ref]["fraction_of_matmul_rate"], 0.40,
               op=">="),
    ]
    return {
        "benchmark": "ensemble",
        "size": size,
        "settings": dataclasses.asdict(s) | {"model": problem.layer_sizes,
                                             "matmul_flops_per_step": flops_step},
        "matmul_rate": {"before": rate_before, "after": rate_after, "used_flops_per_s": peak},
        "results": {str(m): r for m, r in rows.items()},
        "targets": targets,
        "load_before": load_before,
        "load_after": load_average(),
    }

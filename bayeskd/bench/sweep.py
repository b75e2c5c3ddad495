"""``sweep``: 16 (temperature, alpha) KD configurations as one vectorised run against 16 runs.

The KD student of ``train_kd`` under a stacked :class:`~bayeskd.priors.TeacherPrior` whose
``alpha`` and ``temperature`` leaves are ``[16]``: member ``m`` trains under configuration ``m``
(``fit(..., prior_axis=0)``'s program, built ahead of time so compilation is timed apart).
Competitors:

* ``vectorised``: the 16 configurations in one compiled program;
* ``single``: one configuration alone (the reference time);
* ``sequential``: the one-configuration program (compiled once; the hyperparameters are
  arguments, not constants) run 16 times, configuration after configuration, from the same
  initial states as the vectorised members.

Target: the vectorised run takes at most 5x the time of one configuration.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import jax

from bayeskd.bench import _common, ensemble
from bayeskd.bench._common import CompiledRun, KDProblem, kd_prior
from bayeskd.priors import TeacherPrior, stack_priors


@dataclasses.dataclass(frozen=True)
class SweepSettings(_common.RunSettings):
    """The grid of the sweep benchmark: every temperature x KD weight."""

    temperatures: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0)
    alphas: tuple[float, ...] = (0.25, 0.5, 0.75, 0.9)


SETTINGS = {
    "full": SweepSettings(),
    "smoke": SweepSettings(temperatures=(1.0, 4.0), alphas=(0.5, 0.9), steps=20, batch_size=16,
                           repeats=1, warmup=False, fresh_caches=False),
}


def stacked_prior(problem: KDProblem, temperatures,
                  alphas) -> tuple[TeacherPrior, list[tuple[float, float]]]:
    """A :class:`TeacherPrior` with ``[C]`` leaves, one per (temperature, alpha) pair."""
    configs = list(itertools.product(temperatures, alphas))
    return stack_priors(kd_prior(problem, alpha=float(a), temperature=float(t))
                        for t, a in configs), configs


def run(*, size: str = "full", repeats: int | None = None, problem: KDProblem | None = None,
        log=print, **overrides) -> dict[str, Any]:
    _common.check_size(size)
    s = dataclasses.replace(SETTINGS[size], **overrides)
    if repeats is not None:
        s = dataclasses.replace(s, repeats=repeats)
    problem = problem or _common.kd_problem(size=size, log=log)
    prior, configs = stacked_prior(problem, s.temperatures, s.alphas)
    c = len(configs)
    load_before = _common.load_average()
    common = {"steps": s.steps, "batch_size": s.batch_size, "learning_rate": s.learning_rate,
              "prior_axis": 0}
    vec = CompiledRun(problem, prior, members=c, **common)
    single = CompiledRun(problem, jax.tree.map(lambda x: x[:1], prior), members=1, **common)
    info = ensemble.compile_all({"vectorised": vec, "single": single}, jax.random.key(0),
                       clear=s.fresh_caches)
    key = jax.random.key(1)
    per_config = [jax.tree.map(lambda a, m=m: a[m : m + 1], vec.prior) for m in range(c)]
    competitors = {
        "vectorised": ensemble.vmapped_competitor(vec, key),
        "single": ensemble.vmapped_competitor(single, key),
        "sequential": ensemble.sequential_competitor(vec, single, key, per_config),
    }
    times, last, cpu = _common.alternate(competitors, repeats=s.repeats, warmup=s.warmup)
    cv = info["vectorised"]["lower_s"] + info["vectorised"]["compile_s"]
    c1 = info["single"]["lower_s"] + info["single"]["compile_s"]
    tv, t1, ts = (_common.median(times[k]) for k in ("vectorised", "single", "sequential"))
    rows = {
        "vectorised": {"run_s": tv, "runs_s": times["vectorised"], "compile_s": cv,
                       "total_s": cv + tv},
        "single": {"run_s": t1, "runs_s": times["single"], "compile_s": c1, "total_s": c1 + t1},
        "sequential": {"run_s": ts, "runs_s": times["sequential"], "compile_s": c1,
                       "total_s": c1 + ts},
    }
    for name, row in rows.items():
        row["cpu_s"] = _common.median(cpu[name])
    ratios = {
        "vectorised_over_single": tv / t1,
        "vectorised_over_single_with_compile": (cv + tv) / (c1 + t1),
        "sequential_over_vectorised": ts / tv,
        "sequential_over_vectorised_with_compile": (c1 + ts) / (cv + tv),
        "vectorised_over_single_cpu": rows["vectorised"]["cpu_s"] / rows["single"]["cpu_s"],
    }
    check = ensemble.max_rel_param_diff(last["vectorised"]["params"], last["sequential"]["params"])
    log(f"[bench] sweep {c} configs: vectorised {tv:.2f} s, one config {t1:.2f} s "
        f"(x{tv / t1:.2f}), sequential {ts:.2f} s (x{ts / tv:.2f} of vectorised); compile "
        f"{cv:.1f} s vs {c1:.1f} s")
    targets = [
        _common.target(f"{c} configs / 1 config, execution", ratios["vectorised_over_single"], 5.0,
               unit="x"),
        _common.target(f"{c} configs / 1 config, with compilation",
               ratios["vectorised_over_single_with_compile"], 5.0, unit="x"),
    ]
    return {
        "benchmark": "sweep",
        "size": size,
        "settings": dataclasses.asdict(s) | {"configs": configs, "model": problem.layer_sizes},
        "results": rows,
        "ratios": ratios,
        "final_loss": {"configs": configs,
                       "vectorised": last["vectorised"]["final_loss"].tolist()},
        "max_rel_param_diff_vs_sequential": check,
        "targets": targets,
        "load_before": load_before,
        "load_after": _common.load_average(),
    }

"""``bayeskd bench``: performance benchmarks, run side by side in one process.

=====================  ==========================================================================
``train_kd``           6,000 KD steps: :func:`bayeskd.training.fit` (one compiled ``lax.scan``) vs a
                       PyTorch eager loop and the Flax tutorial's per-step ``nnx.jit`` loop
``ensemble``           M = 1, 4, 8, 16 members by ``vmap`` in one program vs M sequential runs;
                       FLOP rate as a fraction of the machine's measured matmul rate
``sweep``              16 (temperature, alpha) configurations as one vectorised run vs 16 runs
``kd_kernel``          chunked fused distillation loss vs the naive one (memory, RSS, time)
``reproduce_quick``    wall time of ``bayeskd reproduce --all --size quick`` (once)
``lm_step``            one LM training step at V = 32,768, chunked kernel vs materialised logits
=====================  ==========================================================================

Each benchmark alternates its competitors after a warm-up round and reports medians of
``repeats`` rounds (5 by default), the ratios, the targets and the load average
before and after; the machine (CPU model, cores, library versions) is recorded with them.
Results: ``BENCHMARKS.md``. Command: ``bayeskd bench [--only NAME,...] [--json [FILE]]
[--out FOLDER]``: ``--json`` alone writes :data:`DEFAULT_JSON`
(``paper_figures/bench/benchmarks.json``), ``--json FILE`` writes FILE and ``--out FOLDER``
writes ``FOLDER/benchmarks.json`` (about 15 to 30 minutes on 2 cores; ``--size smoke`` runs
everything at toy sizes in a minute).

Compilation is timed cold: the benchmark process keeps no compiled program on disk. ``train_kd``
also times ``fit`` in a fresh process with a warm persistent compilation cache
(``warm_cache_s``) unless ``--no-compile-cache`` or ``BAYESKD_COMPILE_CACHE=0`` says otherwise.
Whole processes, interpreter start-up included: the scripts of the repository's ``bench/``
folder.
"""

from __future__ import annotations

import importlib
import inspect
import os
import pathlib
import time
from collections.abc import Sequence
from typing import Any

BENCHMARKS = ("train_kd", "ensemble", "sweep", "kd_kernel", "reproduce_quick", "lm_step")
_NEEDS_PROBLEM = ("train_kd", "ensemble", "sweep")
DEFAULT_JSON = pathlib.Path("paper_figures") / "bench" / "benchmarks.json"
JSON_NAME = "benchmarks.json"

__all__ = ["BENCHMARKS", "DEFAULT_JSON", "add_cli", "json_target", "format_targets", "parse_only", "run_benchmarks"]


def parse_only(only: str | Sequence[str] | None) -> list[str]:
    """Benchmark names from ``--only`` (comma-separated); all of them when ``None``."""
    if only is None:
        return list(BENCHMARKS)
    names = [n.strip() for n in (only.split(",") if isinstance(only, str) else only) if n.strip()]
    if not names:
        raise ValueError(f"--only: give at least one of: {', '.join(BENCHMARKS)}")
    for n in names:
        if n not in BENCHMARKS:
            raise ValueError(f"--only: unknown benchmark {n!r}; choose from: {', '.join(BENCHMARKS)}")
    return list(dict.fromkeys(names))


def json_target(json: str | os.PathLike | None, out: str | os.PathLike | None) -> pathlib.Path | None:
    """The results file of ``--json [FILE]`` and ``--out FOLDER``, or ``None`` (no file).

    ``--out FOLDER`` gives ``FOLDER/benchmarks.json`` (the folder is created); ``--json FILE``
    gives FILE; the two together are refused. ``--json`` without a file is :data:`DEFAULT_JSON`.
    """
    if out is not None:
        if json is not None and pathlib.Path(json) != DEFAULT_JSON:
            raise ValueError("--out: give --json FILE or --out FOLDER, not both")
        folder = pathlib.Path(out)
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"--out: {str(folder)!r} is a file; give a folder")
        folder.mkdir(parents=True, exist_ok=True)
        return folder / JSON_NAME
    if json is not None and pathlib.Path(json) == DEFAULT_JSON:
        DEFAULT_JSON.parent.mkdir(parents=True, exist_ok=True)
    return None if json is None else pathlib.Path(json)


def check_json_path(path: str | os.PathLike | None) -> pathlib.Path | None:
    """Validate ``--json FILE`` before any work: not a folder, in an existing writable folder."""
    if path is None:
        return None
    p = pathlib.Path(path)
    if p.is_dir():
        raise ValueError(f"--json: {str(p)!r} is a folder; give a file path")
    parent = p.parent if str(p.parent) else pathlib.Path(".")
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise ValueError(f"--json: folder {str(parent)!r} does not exist or is not writable")
    return p


def run_benchmarks(
    names: Sequence[str] | None = None,
    *,
    size: str = "full",
    repeats: int | None = None,
    json_path: str | os.PathLike | None = None,
    log=print,
    compile_cache: bool = True,
) -> dict[str, Any]:
    """Run the named benchmarks (all by default); returns (and optionally writes) the results.

    The JSON file is rewritten after every benchmark, so a long run that is interrupted keeps
    what it finished. ``compile_cache=False`` leaves out ``train_kd``'s warm-cache run.
    """
    from bayeskd.bench._common import check_size, kd_problem, load_average, machine_info
    from bayeskd.io import write_json

    names = parse_only(names)
    check_size(size)
    if repeats is not None and (isinstance(repeats, bool) or not isinstance(repeats, int)
                                or repeats < 1):
        raise ValueError(f"--repeats: must be an integer >= 1, got {repeats!r}")
    path = check_json_path(json_path)
    t0 = time.perf_counter()
    out: dict[str, Any] = {"machine": machine_info(), "size": size,
                           "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                           "load_at_start": load_average(), "benchmarks": {}}
    log(f"[bench] {out['machine']['cpu']}, {out['machine']['cores']} cores, jax "
        f"{out['machine']['jax']} ({out['machine']['device']}), load {out['load_at_start']}")
    problem = None
    for name in names:
        module = importlib.import_module(f"bayeskd.bench.{name}")
        kwargs: dict[str, Any] = {"size": size, "log": log}
        if "repeats" in inspect.signature(module.run).parameters:  # timed in rounds
            kwargs["repeats"] = repeats
        if name in _NEEDS_PROBLEM:
            problem = problem or kd_problem(size=size, log=log)
            kwargs["problem"] = problem
        if name == "train_kd" and not compile_cache:
            kwargs["compile_cache"] = False
        tb = time.perf_counter()
        result = module.run(**kwargs)
        result["wall_s"] = time.perf_counter() - tb
        out["benchmarks"][name] = result
        out["wall_s"] = time.perf_counter() - t0
        if path is not None:
            write_json(path, out)
    log(format_targets(out))
    if path is not None:
        log(f"[bench] wrote {path}")
    return out


def format_targets(results: dict[str, Any]) -> str:
    """The targets of every benchmark as a text table."""
    lines = [f"{'benchmark':16s} {'target':46s} {'measured':>10s} {'bound':>10s}  met",
             "-" * 92]
    for name, res in results["benchmarks"].items():
        if not res.get("targets"):
            status = res.get("status", "")
            extra = f" ({res['wall_s']:.0f} s)" if "wall_s" in res and status == "ok" else ""
            lines.append(f"{name:16s} {status + extra}")
        for t in res.get("targets", []):
            v = "n/a" if t["value"] is None else f"{t['value']:.3g}{t['unit']}"
            met = {True: "yes", False: "NO", None: "-"}[t["met"]]
            lines.append(f"{name:16s} {t['target'][:46]:46s} {v:>10s} "
                         f"{t['op']} {t['bound']:.3g}{t['unit']:>3s}  {met}")
    return "\n".join(lines)


def add_cli(sub) -> None:
    """Add the ``bench`` subcommand."""
    p = sub.add_parser("bench", help="performance benchmarks (BENCHMARKS.md)",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("--only", default=None,
                   help=f"comma-separated subset of {','.join(BENCHMARKS)} (default: all)")
    p.add_argument("--json", nargs="?", const=str(DEFAULT_JSON), default=None, metavar="FILE",
                   help=f"write the results to FILE (without FILE: {DEFAULT_JSON})")
    p.add_argument("--out", default=None, metavar="FOLDER",
                   help=f"write the results to FOLDER/{JSON_NAME}")
    p.add_argument("--size", default="full", help="full (the measured sizes) | smoke (toy sizes)")
    p.add_argument("--repeats", type=int, default=None,
                   help="measured rounds per benchmark (default 5; smoke 1)")
    p.set_defaults(func=_run_bench, own_compile_cache=True)  # cold compilation is measured


def _run_bench(args) -> int:
    from bayeskd.cache import compile_cache_wanted

    names = parse_only(args.only)
    path = json_target(args.json, args.out)
    run_benchmarks(names, size=args.size, repeats=args.repeats, json_path=path,
                   compile_cache=not args.no_compile_cache and compile_cache_wanted())
    return 0

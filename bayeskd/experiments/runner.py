"""The one runner: every job and figure is a :class:`~bayeskd.experiments.spec.Spec` it runs.

:func:`resolve` checks a request before any work (the experiment's name, its size, ``--set``
overrides on any field of its nested configuration, every field's type and range, the spec's own
checks, the output folder); :func:`run` then holds the output folder's lock and

1. opens its resumable units (:class:`bayeskd.checkpoint.SweepStore` in ``<out>/.checkpoints``,
   bound to the configuration and the package's code) and calls the spec's ``measure``;
2. summarises the rows (the spec's tables, mean ± std over seeds), derives the named values and
   computes every expectation's verdict by its rule;
3. writes ``results.json`` (numbers, configuration, the cached inputs used with their code
   digests, provenance; no wall-clock time, so the same command gives the same bytes),
   ``timing.json`` (the run's and each unit's seconds), ``results.csv``, each figure as PNG and
   PDF, and ``summary.md`` rendered from ``results.json`` (:mod:`bayeskd.experiments.render`).

``--fresh`` ignores the checkpoints *and* recomputes every cached input (teachers, datasets).
A killed run, repeated, reloads its finished units and resumes mid-training.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import shlex
import time
from collections.abc import Callable, Sequence
from typing import Any

from bayeskd.cache import fresh_caches, recording
from bayeskd.checkpoint import SweepStore
from bayeskd.distributed import is_main_process
from bayeskd.experiments.config import apply_overrides, check_config, config_dict
from bayeskd.experiments.registry import get_spec
from bayeskd.experiments.spec import Measured, Spec
from bayeskd.io import check_out_dir, locked_output, save_figure, write_csv, write_json, write_text
from bayeskd.metrics import summarize
from bayeskd.provenance import code_digests, provenance
from bayeskd.training.memory import check_fits_memory, estimate_fit_bytes
from bayeskd.validate import check_choice

__all__ = ["Context", "DEFAULT_ROOT", "SIZE_NAMES", "checkpoint_config", "resolve", "run",
           "string_keys"]

SIZE_NAMES = ("smoke", "quick", "full")
DEFAULT_ROOT = pathlib.Path("paper_figures")
UNIT_FORMAT = 3  # bump when the meaning of stored units changes


class Context:
    """What ``measure`` gets from the runner: resumable units, trainer checkpoints, the log and
    progress bars.

    ``ctx.unit(name, compute)`` is the stored value of part ``name``, or ``compute()`` stored and
    read back (a resumed run continues from the same bytes); ``ctx.trainer(name)`` is the
    mid-training checkpoint of that part's ``fit`` run. Without a store (``Context()``) every
    part is computed and nothing is written.
    """

    def __init__(self, store: SweepStore | None = None, *, name: str = "",
                 log: Callable[[str], Any] | None = None, progress: bool | None = None):
        self.store, self.name, self.progress = store, name, progress
        self._log = log or (lambda msg: None)
        self.timings: dict[str, float] = {}

    def log(self, message: str) -> None:
        self._log(f"[{self.name}] {message}" if self.name else message)

    def unit(self, name: str, compute: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        value = compute() if self.store is None else self.store.cached(name, compute)
        self.timings[name] = round(time.perf_counter() - t0, 2)
        return value

    def trainer(self, name: str):
        return None if self.store is None else self.store.trainer(name)


@dataclasses.dataclass(frozen=True)
class Request:
    """A checked request: the spec, its size, the final configuration and the overrides."""

    spec: Spec
    size: str
    cfg: Any
    overrides: dict
    out: pathlib.Path


def resolve(name: str | Spec, *, size: str = "quick", overrides: Sequence[str] | dict | None = None,
            out: str | os.PathLike | None = None) -> Request:
    """Check a request before any work; ``ValueError`` naming the argument otherwise."""
    spec = name if isinstance(name, Spec) else get_spec(name)
    check_choice(size, SIZE_NAMES, name="--size")
    base = dataclasses.replace(spec.sizes[size], **spec.preset)
    cfg, parsed = apply_overrides(base, overrides)
    check_config(cfg)
    if spec.check is not None:
        spec.check(cfg)
    check_seeds_fit(cfg.seeds)
    out_path = pathlib.Path(out) if out is not None else DEFAULT_ROOT / spec.folder
    check_out_dir(out_path)
    return Request(spec, size, cfg, parsed, out_path)


def check_seeds_fit(seeds: int) -> None:
    """Every experiment trains at least ``seeds`` MNIST-1D-sized MLP students in one program: a
    seed count whose estimate for that alone exceeds the machine's memory is refused at once
    (:mod:`bayeskd.training.memory`); specs check their own larger costs in ``check``."""
    est = estimate_fit_bytes("mlp", (40,), 10, members=seeds, batch_size=100, num_inputs=5000)
    check_fits_memory(est, name="seeds", what=f"{seeds} seeds (at least {seeds} MLP students "
                      "trained together)")


def string_keys(obj: Any) -> Any:
    """``obj`` with every dict key a string, for JSON: a tuple key ``("mlp", "labels")`` becomes
    ``"mlp | labels"``. Summaries keep tuple keys in Python; this is the one place they become
    strings."""
    if isinstance(obj, dict):
        return {(" | ".join(map(str, k)) if isinstance(k, tuple) else str(k)): string_keys(v)
                for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [string_keys(v) for v in obj]
    return obj


def summaries(spec: Spec, rows: list[dict]) -> dict:
    """``{table: summarize(...)}`` of the spec's tables (tuple keys for multi-field groups)."""
    out = {}
    for name, table in spec.tables.items():
        sel = [r for r in rows if all(r.get(k) == v for k, v in table.where.items())]
        out[name] = summarize(sel, group=table.group, metrics=list(table.metrics))
    return out


def command_line(req: Request) -> str:
    """The canonical command of a request, as ``summary.md`` and the READMEs print it."""
    spec = req.spec
    words = ["bayeskd", *(spec.command.split() if spec.command else ["reproduce", spec.name])]
    for k, v in spec.preset.items():
        words += [f"--{k.replace('_', '-')}", ",".join(map(str, v)) if isinstance(v, tuple) else str(v)]
    words += ["--size", req.size]
    for k, v in req.overrides.items():
        words += ["--set", f"{k}={','.join(map(str, v)) if isinstance(v, tuple) else v}"]
    if req.out != DEFAULT_ROOT / spec.folder:
        words += ["--out", str(req.out)]
    return shlex.join(words)


def run(name: str | Spec | Request, *, size: str = "quick",
        overrides: Sequence[str] | dict | None = None, out: str | os.PathLike | None = None,
        fresh: bool = False, progress: bool | None = None,
        log: Callable[[str], Any] = print) -> dict:
    """Run experiment ``name`` at ``size`` into ``out`` (default ``paper_figures/<folder>``) and
    return the dict written to ``results.json``.

    Args:
      name: a registered name (:data:`bayeskd.experiments.registry.SPECS`), a spec, or a
        :func:`resolve`\\ d request.
      size: ``smoke`` (seconds, the tests), ``quick`` (minutes; the committed results) or
        ``full``.
      overrides: ``FIELD=VALUE`` strings (nested fields as ``section.field``) or a dict.
      fresh: ignore earlier checkpoints in ``out`` and recompute every cached input.
      progress: tqdm bars (``None``: the trainer decides by run length).
      log: receives one-line progress messages.
    """
    req = name if isinstance(name, Request) else resolve(name, size=size, overrides=overrides,
                                                          out=out)
    spec, cfg = req.spec, req.cfg
    t0 = time.perf_counter()
    with locked_output(req.out) as out_dir:
        store = SweepStore.for_output(out_dir, config=checkpoint_config(req), fresh=fresh,
                                      log=log)
        if store.active:
            log(f"[{spec.name}] {store.describe()}")
        ctx = Context(store, name=spec.name, log=log, progress=progress)
        ctx.log(f"{req.size} size, {cfg.seeds} seeds: {spec.title}")
        with recording() as inputs, fresh_caches(fresh):
            measured = spec.measure(cfg, ctx)
        results = assemble(req, measured, inputs)
        write_outputs(req, out_dir, results, measured, ctx,
                      runtime_s=time.perf_counter() - t0)
    if spec.command is not None:  # a job prints its tables
        from bayeskd.experiments.render import report_tables

        log("\n".join(report_tables(spec, results)).rstrip())
    took = f"{time.perf_counter() - t0:.0f} s"
    ctx.log(f"wrote {req.out}/ in {took}" if is_main_process() else
            f"done in {took}; process 0 wrote {req.out}/")
    return results


def checkpoint_config(req: Request) -> dict:
    """What a run's checkpoints belong to: the spec, its final configuration and the package's
    code, so a checkpoint never resumes under other settings or other code."""
    return {"spec": req.spec.name, "units": UNIT_FORMAT, "config": config_dict(req.cfg),
            "code": code_digests(["bayeskd"])}


def assemble(req: Request, measured: Measured, inputs: list[dict]) -> dict:
    """The ``results.json`` dict: configuration, rows, summaries, values, verdicts, inputs."""
    from bayeskd.experiments.render import values_of

    spec = req.spec
    summary = summaries(spec, measured.rows)
    values = values_of(spec, summary, measured, req.cfg)
    return {
        "spec": spec.name,
        "title": spec.title,
        "command": command_line(req),
        "size": req.size,
        "overrides": string_keys(dict(req.overrides)),
        "config": config_dict(req.cfg),
        "rows": measured.rows,
        "summary": string_keys(summary),
        "values": values,
        "verdicts": {e.claim: e.verdict(values) for e in spec.expectations},
        "extra": string_keys(measured.extra),
        "inputs": inputs,
        "provenance": provenance(),
        "_summary_py": summary,  # dropped before writing: the plot's tuple-keyed view
    }


def write_outputs(req: Request, out_dir: pathlib.Path, results: dict, measured: Measured,
                  ctx: Context, *, runtime_s: float) -> None:
    import matplotlib.pyplot as plt

    from bayeskd.experiments.render import summary_markdown

    summary_py = results.pop("_summary_py")
    figures = {}
    if req.spec.plot is not None:
        view = PlotView(summary_py, results["values"], measured.rows, measured.extra)
        figures = req.spec.plot(view, req.cfg)
    results["figures"] = sorted(figures)
    write_json(out_dir / "results.json", results)
    write_json(out_dir / "timing.json", {"runtime_s": round(runtime_s, 1), "units": ctx.timings,
                                         "cores": os.cpu_count()})
    fields = list(dict.fromkeys(k for r in results["rows"] for k in r
                                if not isinstance(r[k], dict)))
    write_csv(out_dir / "results.csv", results["rows"], fields=fields)
    for stem, fig in figures.items():
        save_figure(fig, out_dir / f"{stem}.png", dpi=100)
        save_figure(fig, out_dir / f"{stem}.pdf")
        plt.close(fig)
    write_text(out_dir / "summary.md", summary_markdown(req.spec, results))


@dataclasses.dataclass(frozen=True)
class PlotView:
    """What a spec's ``plot`` reads: the summaries (tuple keys), values, rows and extra."""

    summary: dict
    values: dict
    rows: list
    extra: dict

"""``bayeskd reproduce``: the paper figures by name, each in a smoke / quick / full size.

Every figure lives in :mod:`bayeskd.experiments.figures` (``INFO``, ``SIZES``, ``run``); the
top-level ``experiments/<name>.py`` scripts call the same code. :func:`reproduce` validates the
request before any work, runs the figure and writes ``paper_figures/<name>/``: ``results.json``
(timing under ``"timing"``, the rest byte-reproducible), ``results.csv``, each figure as PNG and
PDF, and ``summary.md`` with the published number and ours side by side. After every run the
README's figure table, ``paper_figures/README_table.md``, is rebuilt from the ``results.json``
files found next to it.

Commands::

    bayeskd reproduce --list
    bayeskd reproduce hinton_kd --size quick --seeds 3
    bayeskd reproduce bayesian_dark_knowledge --size quick --set sgld_steps=5000 --set grid=30
    bayeskd reproduce --all --size quick

``--set FIELD=VALUE`` (repeatable) changes one field of the chosen size (the value is read by the
field's current type; a tuple as a comma list). A figure module may define ``check_size(size)``;
it is called on the final size before any work and before any folder is created. The overrides
are recorded in ``results.json`` (``size_overrides``) and in the checkpoints' configuration.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import pathlib
import time
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from bayeskd.checkpoint import SweepStore
from bayeskd.experiments.common import SIZE_NAMES, string_keys
from bayeskd.experiments.figures._base import Units
from bayeskd.io import check_out_dir, locked_output, save_figure, write_csv, write_json, write_text
from bayeskd.provenance import provenance
from bayeskd.training.memory import check_fits_memory, estimate_fit_bytes
from bayeskd.validate import check_choice, check_positive_int

FIGURES = (
    "hinton_kd",
    "label_smoothing_teacher",
    "self_distillation",
    "variance_reduction",
    "fidelity",
    "teacher_quality",
    "prior_table",
    "function_matching",
    "bayesian_dark_knowledge",
    "temperature_tempering",
    "ensemble_distribution_distillation",
    "kd_as_map",
    "privileged_information",
    "mode_seeking",
    "lm_distillation",
    "distilbert_init",
    "rag_privileged",
)

DEFAULT_ROOT = pathlib.Path("paper_figures")
TIMING_FILE = "reproduce_all_timing.json"
UNIT_FORMAT = 2  # bump when the figures' units change, so old checkpoints are not reused


def figure_module(name: str) -> ModuleType:
    """The module of figure ``name`` (``ValueError`` listing the known names otherwise)."""
    check_choice(name, FIGURES, name="figure")
    return importlib.import_module(f"bayeskd.experiments.figures.{name}")


def check_request(name: str, size: str, seeds: int | None,
                  overrides: Sequence[str] | dict | None = None) -> ModuleType:
    """Validate a request before any work; returns the figure's module."""
    return resolve_request(name, size, seeds, overrides)[0]


def resolve_request(name: str, size: str, seeds: int | None,
                    overrides: Sequence[str] | dict | None = None) -> tuple[ModuleType, Any, dict]:
    """Validate a request before any work: the figure's module, its size with ``overrides``
    applied (:func:`apply_overrides`) and checked by the module's ``check_size`` (if it has
    one), and the parsed overrides ``{field: value}``."""
    module = figure_module(name)
    check_choice(size, SIZE_NAMES, name="--size")
    check_seeds(seeds)
    chosen, parsed = apply_overrides(module.SIZES[size], overrides, figure=name)
    check = getattr(module, "check_size", None)
    if check is not None:
        check(chosen)
    return module, chosen, parsed


def apply_overrides(size_obj: Any, overrides: Sequence[str] | dict | None, *,
                    figure: str = "the figure") -> tuple[Any, dict]:
    """``dataclasses.replace`` of ``size_obj`` by ``FIELD=VALUE`` strings (or a ``{field: value}``
    dict); returns the new size and the parsed ``{field: value}``.

    Each value is read by the type of the field's current value: ``int``, ``float``, ``bool``
    (``true``/``false``), ``str``, or a tuple as a comma list of its first element's type (an
    empty string is the empty tuple).

    Example:
      >>> @dataclasses.dataclass(frozen=True)
      ... class S:
      ...     steps: int = 10
      ...     temps: tuple = (1.0, 2.0)
      >>> apply_overrides(S(), ["steps=5", "temps=0.5,4"])
      (S(steps=5, temps=(0.5, 4.0)), {'steps': 5, 'temps': (0.5, 4.0)})
    """
    if not overrides:
        return size_obj, {}
    fields = [f.name for f in dataclasses.fields(size_obj)]
    items = overrides.items() if isinstance(overrides, dict) else [_split_override(o)
                                                                   for o in overrides]
    parsed: dict = {}
    for field, value in items:
        if field not in fields:
            raise ValueError(f"--set: {figure}'s size has no field {field!r}; allowed: "
                             f"{', '.join(fields)}")
        current = getattr(size_obj, field)
        parsed[field] = _parse_like(current, value, field) if isinstance(value, str) else value
    return dataclasses.replace(size_obj, **parsed), parsed


def _split_override(item: str) -> tuple[str, str]:
    field, sep, value = str(item).partition("=")
    if not sep or not field.strip():
        raise ValueError(f"--set: must be FIELD=VALUE, got {item!r}")
    return field.strip(), value.strip()


def _parse_like(current: Any, value: str, field: str) -> Any:
    """``value`` read as the type of ``current`` (a tuple: a comma list of its elements' type)."""
    if isinstance(current, tuple):
        kind = type(current[0]) if current else str
        parts = [v.strip() for v in value.split(",")] if value.strip() else []
        return tuple(_parse_scalar(kind, v, field) for v in parts)
    return _parse_scalar(type(current), value, field)


def _parse_scalar(kind: type, value: str, field: str) -> Any:
    if kind is bool:
        low = value.lower()
        if low not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"--set: {field} must be true or false, got {value!r}")
        return low in ("true", "1", "yes")
    if kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            what = "an integer" if kind is int else "a number"
            raise ValueError(f"--set: {field} must be {what}, got {value!r}") from None
    return value


def check_seeds(seeds: int | None) -> None:
    """``--seeds`` must be an integer >= 1 that fits in memory: every figure trains at least
    ``seeds`` MNIST-1D MLP students in one program, so a count whose estimate for that alone
    exceeds the machine's memory is refused (:mod:`bayeskd.training.memory`)."""
    if seeds is None:
        return
    check_positive_int(seeds, name="--seeds")
    est = estimate_fit_bytes("mlp", (40,), 10, members=seeds, batch_size=100, num_inputs=5000)
    check_fits_memory(est, name="--seeds", what=f"{seeds} seeds (at least {seeds} MLP students "
                      "trained together)")


def reproduce(
    name: str,
    *,
    size: str = "quick",
    seeds: int | None = None,
    out: str | os.PathLike | None = None,
    progress: bool | None = None,
    log: Callable[[str], None] = print,
    table: bool | None = None,
    fresh: bool = False,
    overrides: Sequence[str] | dict | None = None,
) -> dict:
    """Run figure ``name`` at ``size`` and write its folder (default ``paper_figures/<name>``).

    Args:
      name: one of :data:`FIGURES`.
      size: ``smoke`` (seconds, the tests), ``quick`` (minutes) or ``full`` (the real figure).
      seeds: seeds per configuration (default: the size's, at least 3 at quick and 5 at full).
      out: output folder.
      progress: tqdm bars (``None``: only for runs longer than 3 s).
      log: where progress lines go.
      table: rebuild ``README_table.md`` in the parent folder afterwards (default: only when
        writing to the default ``paper_figures/<name>``, so a custom ``out`` gets nothing else).
      fresh: ignore the checkpoints of an earlier run in ``out`` and start over.
      overrides: ``FIELD=VALUE`` strings (or a dict) changing fields of the size
        (:func:`apply_overrides`), recorded in ``results.json`` as ``size_overrides``.

    Resumable: every part of the figure (see each figure's ``run``) is a unit of a
    :class:`bayeskd.checkpoint.SweepStore` in ``<out>/.checkpoints`` bound to the figure, size
    and seeds; the same call after a kill reloads the finished parts and writes the same
    ``results.json`` (timing apart).

    Returns:
      The dict written to ``results.json``.
    """
    module, size_obj, parsed = resolve_request(name, size, seeds, overrides)
    out_path = pathlib.Path(out) if out is not None else DEFAULT_ROOT / name
    check_out_dir(out_path)
    n_seeds = seeds if seeds is not None else size_obj.seeds
    t0 = time.perf_counter()
    with locked_output(out_path) as out_dir:
        log(f"[reproduce] {name} ({size}, {n_seeds} seeds): {module.INFO.title}")
        store = SweepStore.for_output(out_dir, fresh=fresh, log=log,
                                      config=checkpoint_config(module, size, n_seeds, size_obj))
        if store.active:
            log(f"[reproduce] {name}: {store.describe()}")
        report = module.run(size_obj, seeds=n_seeds, log=log, progress=progress,
                            units=Units(store))
        results = _write(out_dir, module.INFO, report, size=size, seeds=n_seeds,
                         runtime_s=time.perf_counter() - t0, overrides=parsed)
    log(f"[reproduce] {name}: {report.headline}")
    log(f"[reproduce] wrote {out_path}/ in {results['timing']['runtime_s']:.0f} s")
    if table if table is not None else out is None:
        write_readme_table(out_path.parent)
    return results


def checkpoint_config(module: ModuleType, size: str, seeds: int, size_obj: Any = None) -> dict:
    """What a figure run's checkpoints belong to: the figure, its size's settings (``size_obj``,
    the size after ``--set`` overrides; default the named size) and seeds."""
    settings = module.SIZES[size] if size_obj is None else size_obj
    return {"job": "reproduce", "units": UNIT_FORMAT, "figure": module.INFO.name, "size": size,
            "settings": dataclasses.asdict(settings), "seeds": seeds}


def reproduce_all(*, size: str = "quick", seeds: int | None = None,
                  out: str | os.PathLike | None = None, progress: bool | None = None,
                  log: Callable[[str], None] = print, fresh: bool = False) -> dict:
    """Every figure in turn into ``<out>/<name>``; writes the total time next to them.

    Each figure checkpoints in its own folder, so a killed ``--all`` rerun reloads the figures
    and parts that had finished (``fresh=True``: start every figure over)."""
    check_choice(size, SIZE_NAMES, name="--size")
    if seeds is not None:
        check_positive_int(seeds, name="--seeds")
    root = pathlib.Path(out) if out is not None else DEFAULT_ROOT
    check_out_dir(root)
    t0 = time.perf_counter()
    per_figure = {}
    for name in FIGURES:
        r = reproduce(name, size=size, seeds=seeds, out=root / name, progress=progress, log=log,
                      table=False, fresh=fresh)
        per_figure[name] = round(r["timing"]["runtime_s"], 1)
    total = time.perf_counter() - t0
    timing = {"size": size, "total_s": round(total, 1), "per_figure_s": per_figure,
              "cpu_count": os.cpu_count()}
    write_json(root / TIMING_FILE, timing)
    write_readme_table(root)
    log(f"[reproduce] all {len(FIGURES)} figures ({size}) in {total / 60:.1f} min")
    return timing


def _write(out_dir: pathlib.Path, info, report, *, size: str, seeds: int, runtime_s: float,
           overrides: dict | None = None) -> dict:
    import matplotlib.pyplot as plt

    results = {
        "figure": info.name,
        "title": info.title,
        "paper": info.paper,
        "mirrors": info.mirrors,
        "published_claim": info.claim,
        "size": size,
        "size_overrides": string_keys(dict(overrides or {})),
        "seeds": seeds,
        "headline": report.headline,
        "comparisons": [c.__dict__ for c in report.comparisons],
        "summary": string_keys(report.summary),
        "extra": string_keys(report.extra),
        "notes": report.notes,
        "tables": report.tables,
        "rows": report.rows,
        "figures": sorted(report.figures),
        "timing": {"runtime_s": runtime_s},
        "provenance": provenance(),
    }
    write_json(out_dir / "results.json", results)
    write_csv(out_dir / "results.csv", report.rows)
    for stem, fig in report.figures.items():
        save_figure(fig, out_dir / f"{stem}.png", dpi=100)
        save_figure(fig, out_dir / f"{stem}.pdf")
        plt.close(fig)
    write_text(out_dir / "summary.md", summary_markdown(results))
    return results


def _agree_mark(a) -> str:
    return {True: "yes", False: "**no**", None: "–"}[a]


def summary_markdown(results: dict) -> str:
    """``summary.md``: what the figure mirrors, then the published number and ours side by side."""
    sets = "".join(f" --set {k}={','.join(map(str, v)) if isinstance(v, list | tuple) else v}"
                   for k, v in results.get("size_overrides", {}).items())
    lines = [
        f"# `{results['figure']}` — {results['title']}",
        "",
        f"- Paper: {results['paper']}",
        f"- Mirrors: {results['mirrors']}",
        f"- Published claim: {results['published_claim']}",
        f"- Command: `bayeskd reproduce {results['figure']} --size {results['size']} "
        f"--seeds {results['seeds']}{sets}` ({results['size']} size; mean ± std over "
        f"{results['seeds']} seeds unless a row says otherwise; ran in "
        f"{results['timing']['runtime_s']:.0f} s)",
        "",
        "| claim | published | ours | same direction? |",
        "|---|---|---|---|",
    ]
    for c in results["comparisons"]:
        ours = c["ours"] + (f" ({c['note']})" if c["note"] else "")
        lines.append(f"| {c['claim']} | {c['published']} | {ours} | {_agree_mark(c['agrees'])} |")
    disagree = [c for c in results["comparisons"] if c["agrees"] is False]
    if results["notes"] or disagree:
        lines += ["", "## Notes", ""]
        lines += [f"- {n}" for n in results["notes"]]
    if results.get("tables"):
        lines += ["", "## Tables", ""]
        for t in results["tables"]:
            lines += [t, ""]
    lines += ["", "## Figures", ""]
    lines += [f"![{f}]({f}.png)" for f in results["figures"]]
    return "\n".join(lines) + "\n"


def write_readme_table(root: str | os.PathLike) -> pathlib.Path | None:
    """Rebuild ``<root>/README_table.md`` from ``<root>/<name>/results.json`` (figures found)."""
    root = pathlib.Path(root)
    found = []
    for name in FIGURES:
        path = root / name / "results.json"
        if path.is_file():
            try:
                found.append(json.loads(path.read_text()))
            except (OSError, ValueError):
                continue
    if not found:
        return None
    lines = [
        "| figure | command | published claim | bayeskd measured |",
        "|---|---|---|---|",
    ]
    for r in found:
        disagree = [c["claim"] for c in r["comparisons"] if c["agrees"] is False]
        ours = f"{r['headline']} ({r['size']}, {r['seeds']} seeds)"
        if disagree:
            ours += " — disagrees with the paper on: " + "; ".join(disagree)
        cmd = f"`bayeskd reproduce {r['figure']} --size {r['size']}`"
        lines.append(f"| [`{r['figure']}`]({r['figure']}/summary.md) | {cmd} | "
                     f"{r['published_claim']} | {ours} |")
    timing_path = root / TIMING_FILE
    if timing_path.is_file():
        t = json.loads(timing_path.read_text())
        lines += ["", f"`bayeskd reproduce --all --size {t['size']}` took "
                      f"{t['total_s'] / 60:.1f} min on {t['cpu_count']} CPU cores "
                      f"(per figure, s: " + ", ".join(f"{k} {v:.0f}" for k, v in
                                                        t["per_figure_s"].items()) + ")."]
    path = root / "README_table.md"
    write_text(path, "\n".join(lines) + "\n")
    return path


def list_figures() -> str:
    """The ``--list`` text: name, sizes with seeds and expected runtimes, and the paper."""
    lines = []
    for name in FIGURES:
        m = figure_module(name)
        sizes = ", ".join(f"{s} ({m.SIZES[s].seeds} seeds, {m.INFO.runtime[s]})"
                          for s in SIZE_NAMES)
        lines.append(f"{name:24s} {m.INFO.title}\n{'':24s} {m.INFO.paper}\n{'':24s} sizes: {sizes}")
    return "\n".join(lines)


def add_cli(sub) -> None:
    """Add the ``reproduce`` subcommand."""
    p = sub.add_parser(
        "reproduce", help="regenerate a paper figure (smoke | quick | full)",
        description="Regenerate the distillation papers' figures into paper_figures/NAME/.")
    p.add_argument("name", nargs="?", default=None, help=f"one of {', '.join(FIGURES)}")
    p.add_argument("--size", default="quick", help="smoke | quick | full (default quick)")
    p.add_argument("--seeds", type=int, default=None,
                   help="seeds per configuration (default: 3 at quick, 5 at full)")
    p.add_argument("--out", default=None,
                   help="output folder (default paper_figures/NAME; with --all the parent folder)")
    p.add_argument("--list", action="store_true", help="list the figures, sizes and runtimes")
    p.add_argument("--all", action="store_true", help="every figure in turn")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--set", action="append", default=[], dest="overrides",
                   metavar="FIELD=VALUE",
                   help="change one field of the size (repeatable; tuples as comma lists)")
    p.add_argument("--fresh", action="store_true",
                   help="ignore checkpoints of an earlier run in the output folder(s), start over")
    p.set_defaults(func=_run_reproduce)


def _run_reproduce(args) -> int:
    if args.list:
        if args.name is not None or args.all:
            raise ValueError("--list: give no figure name and no --all with --list")
        print(list_figures())
        return 0
    if args.all == (args.name is not None):
        raise ValueError(f"name: give one figure name or --all; known: {', '.join(FIGURES)}")
    progress = False if args.no_progress else None
    if args.all and args.overrides:
        raise ValueError("--set: give one figure name with --set (the sizes differ by figure)")
    if args.all:
        check_choice(args.size, SIZE_NAMES, name="--size")
        check_seeds(args.seeds)
        check_out_dir(args.out or DEFAULT_ROOT)
    else:
        check_request(args.name, args.size, args.seeds, args.overrides)
        check_out_dir(args.out or DEFAULT_ROOT / args.name)
    if args.all:
        reproduce_all(size=args.size, seeds=args.seeds, out=args.out, progress=progress,
                      fresh=args.fresh)
    else:
        reproduce(args.name, size=args.size, seeds=args.seeds, out=args.out, progress=progress,
                  fresh=args.fresh, overrides=args.overrides)
    return 0

"""The runner's subcommands: ``reproduce`` (the figures), one per job (``compare-priors``, ...),
and ``render``.

Commands::

    bayeskd reproduce --list
    bayeskd reproduce hinton_kd --size quick --set student_steps=3000
    bayeskd reproduce --all --size quick
    bayeskd compare-priors --temperature 2 --priors none,kd
    bayeskd render                  # summary.md files and README tables from results.json

A job's flags are generated from its configuration's top-level fields (name, type, help, allowed
values); ``--set section.field=VALUE`` reaches every field, nested ones too. Every request is
checked before any work (:func:`bayeskd.experiments.runner.resolve`).
"""

from __future__ import annotations

import json
import os
import pathlib
import time

from bayeskd.experiments.config import add_flags, flag_overrides
from bayeskd.experiments.registry import FIGURES, JOBS, get_spec
from bayeskd.experiments.runner import DEFAULT_ROOT, SIZE_NAMES, resolve, run
from bayeskd.io import check_out_dir, write_json
from bayeskd.provenance import repo_root
from bayeskd.validate import check_choice

__all__ = ["add_cli", "list_figures", "reproduce_all", "script_main"]

ALL_TIMING = "reproduce_all_timing.json"


def _common(p, *, out_help: str) -> None:
    p.add_argument("--size", default="quick", help=f"one of {', '.join(SIZE_NAMES)} (default quick)")
    p.add_argument("--set", action="append", default=[], dest="overrides", metavar="FIELD=VALUE",
                   help="change any field of the configuration (nested: section.field; "
                        "tuples as comma lists; repeatable)")
    p.add_argument("--out", default=None, help=out_help)
    p.add_argument("--fresh", action="store_true",
                   help="ignore earlier checkpoints and recompute every cached input (teachers too)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def add_cli(sub) -> None:
    """Add ``reproduce``, every job's subcommand and ``render``."""
    p = sub.add_parser("reproduce", help="regenerate a paper figure (smoke | quick | full)",
                       description="Regenerate a figure into paper_figures/NAME/.")
    p.add_argument("name", nargs="?", default=None, help=f"one of {', '.join(FIGURES)}")
    p.add_argument("--seeds", default=None, help="seeds per configuration (default: the size's)")
    p.add_argument("--list", action="store_true", help="list the figures and their sizes")
    p.add_argument("--all", action="store_true", help="every figure in turn")
    _common(p, out_help="output folder (default paper_figures/NAME; with --all the parent)")
    p.set_defaults(func=_run_reproduce)
    for name in JOBS:
        spec = get_spec(name)
        if spec.preset:  # a committed variant of a job: reached by its job's flags
            continue
        cls = type(spec.sizes["quick"])
        jp = sub.add_parser(spec.command, help=spec.title, description=spec.claim)
        add_flags(jp, cls)
        _common(jp, out_help=f"output folder (default paper_figures/{spec.folder})")
        jp.set_defaults(func=_run_job, spec_name=name, cfg_cls=cls)
    r = sub.add_parser("render", help="rewrite summary.md files and README tables from results")
    r.set_defaults(func=_run_render)


def _run_job(args) -> int:
    overrides = flag_overrides(args, args.cfg_cls)
    for item in args.overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set: must be FIELD=VALUE, got {item!r}")
        overrides[key.strip()] = value
    req = resolve(args.spec_name, size=args.size, overrides=overrides, out=args.out)
    run(req, fresh=args.fresh, progress=False if args.no_progress else None)
    return 0


def _run_reproduce(args) -> int:
    if args.list:
        if args.name is not None or args.all:
            raise ValueError("--list: give no figure name and no --all with --list")
        print(list_figures())
        return 0
    if args.all == (args.name is not None):
        raise ValueError(f"name: give one figure name or --all; known: {', '.join(FIGURES)}")
    if args.name is not None:
        check_choice(args.name, FIGURES, name="name")
    seeds = [f"seeds={args.seeds}"] if args.seeds is not None else []
    progress = False if args.no_progress else None
    if args.all:
        if args.overrides:
            raise ValueError("--set: give one figure name with --set (the sizes differ by figure)")
        reproduce_all(size=args.size, overrides=seeds, out=args.out, fresh=args.fresh,
                      progress=progress)
        return 0
    req = resolve(args.name, size=args.size, overrides=[*seeds, *args.overrides], out=args.out)
    run(req, fresh=args.fresh, progress=progress)
    return 0


def reproduce_all(*, size: str = "quick", overrides=(), out=None, fresh: bool = False,
                  progress=None, log=print) -> dict:
    """Every figure in turn into ``<out>/<name>`` (every request checked first); writes the total
    time next to them."""
    root = pathlib.Path(out) if out is not None else DEFAULT_ROOT
    check_out_dir(root)
    reqs = [resolve(n, size=size, overrides=list(overrides), out=root / get_spec(n).folder)
            for n in FIGURES]
    t0, per = time.perf_counter(), {}
    for req in reqs:
        t1 = time.perf_counter()
        run(req, fresh=fresh, progress=progress, log=log)
        per[req.spec.name] = round(time.perf_counter() - t1, 1)
    timing = {"size": size, "total_s": round(time.perf_counter() - t0, 1), "per_figure_s": per,
              "cores": os.cpu_count()}
    write_json(root / ALL_TIMING, timing)
    log(f"[reproduce] all {len(reqs)} figures ({size}) in {timing['total_s'] / 60:.1f} min")
    return timing


def list_figures() -> str:
    """The ``--list`` text: name, title, paper and the seeds of each size."""
    lines = []
    for name in FIGURES:
        spec = get_spec(name)
        seeds = ", ".join(f"{s} ({spec.sizes[s].seeds} seeds)" for s in SIZE_NAMES)
        lines.append(f"{name:34s} {spec.title}\n{'':34s} {spec.paper}\n{'':34s} sizes: {seeds}")
    return "\n".join(lines)


def _run_render(args) -> int:
    from bayeskd.experiments.render import render_readmes, rendered_summaries
    from bayeskd.io import write_text

    repo = repo_root()
    for path, text in rendered_summaries(repo / "paper_figures").items():
        if not path.is_file() or path.read_text() != text:
            write_text(path, text)
            print(f"rendered {path.relative_to(repo)}")
    for f in render_readmes(repo):
        print(f"rendered {f}")
    return 0


def load_results(name: str, root: pathlib.Path = DEFAULT_ROOT) -> dict:
    """The committed ``results.json`` of experiment ``name``."""
    return json.loads((root / get_spec(name).folder / "results.json").read_text())


def script_main(name: str, argv: list[str] | None = None) -> int:
    """``python experiments/NAME.py [ARGS]``: the same as ``bayeskd reproduce NAME [ARGS]`` (or
    the job's own subcommand), so a script and the installed command give the same numbers."""
    import sys

    from bayeskd.cli import main

    spec = get_spec(name)
    words = spec.command.split() if spec.command else ["reproduce", name]
    return main([*words, *(sys.argv[1:] if argv is None else argv)])

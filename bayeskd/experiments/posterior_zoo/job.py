"""``bayeskd posterior-zoo``: the job (units, evaluation, distillation, outputs) and its CLI."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from bayeskd.checkpoint import SweepStore
from bayeskd.data import grid_2d
from bayeskd.io import locked_output, save_figure, write_csv, write_json
from bayeskd.metrics import agreement, entropy, kl_divergence, summarize
from bayeskd.posteriors import (
    ParamSamples,
    distill,
    offline_predictive,
    predictive_diagnostics,
    predictive_metrics,
    reference_distances,
)
from bayeskd.provenance import provenance
from bayeskd.training import TrainConfig, init_members

from .fitters import FITTERS, STUDENT_FITS, FitFn, Problem, fits_for, mlp_fn, nuts_reference
from .report import checks, format_table, markdown_table, plane_figure
from .settings import DATASETS, METHODS, METRICS, PUBLISHED, PosteriorZooConfig, load_data

UNIT_FORMAT = 2  # bump when the units' contents change, so old checkpoints are not reused
STARTS = ("map", "ensemble")  # fits whose weights later fits start from (stored in their unit)


def _unit(store: SweepStore, name: str, compute) -> tuple[dict, bool]:
    """``(value, reloaded)`` of unit ``name``: the stored one, or ``compute()`` stored and read back
    (so a first run and a resumed run continue from the same bytes)."""
    value = store.get(name)
    if value is not None:
        return value, True
    store.put(name, compute())
    return store.get(name), False


def _restore(model_fn, leaves: list, name: str) -> ParamSamples:
    """Stored parameters (leaves of ``[M, ...]`` arrays) as a posterior again."""
    graphdef, like = init_members(model_fn, jax.random.split(jax.random.key(0), 1))
    params = jax.tree.unflatten(jax.tree.structure(like), [jnp.asarray(a) for a in leaves])
    return ParamSamples(graphdef, params, name=name)


def _evaluate(post, ds, grid, ref, key) -> tuple[dict, dict]:
    """A posterior's metric row and its predictive on the test set and plane maps."""
    test = offline_predictive(post, ds.x_test, key=key, keep_samples=True)
    row = predictive_metrics(test.probs, ds.y_test, sample_probs=test.sample_probs)
    chains = getattr(post, "chains", 1)
    if chains >= 2:
        row["chains"] = chains  # SGLD chains, NUTS chains, AIES/ESS walkers
    if chains >= 2 and test.sample_probs.shape[0] // chains >= 4:
        c_probs = test.sample_probs.reshape(chains, -1, *test.sample_probs.shape[1:])
        diag = predictive_diagnostics(c_probs)
        row |= {"rhat_max": diag["rhat_max"], "ess_min": diag["ess_min"]}
    maps = {}
    if ref is not None:
        row |= reference_distances(ref["test"], test.probs)
    else:
        row |= {"agreement_ref": None, "tv_ref": None, "kl_ref": None}
    if grid is not None:
        g = offline_predictive(post, grid, key=key).probs
        if ref is not None:
            row |= reference_distances(ref["grid"], g, suffix="_grid")
        maps = {"prob": g[:, -1], "entropy": np.asarray(entropy(g))}
    return row, {"test": test.probs} | maps


def _entries(posts: list, ds, grid, ref, x_transfer, key, *, table: bool = True) -> list[dict]:
    """Each member posterior's row, test predictive, plane maps (member 0) and (teachers) its
    log-predictive on the transfer inputs (the distillation table)."""
    entries = []
    for member, post in enumerate(posts):
        row, mp = _evaluate(post, ds, grid, ref, key)
        entry = {"row": row, "test": mp["test"]}
        if table:
            entry["table"] = np.log(np.maximum(offline_predictive(post, x_transfer, key=key).probs,
                                               1e-12))
        if member == 0 and "prob" in mp:
            entry["maps"] = {"prob": mp["prob"], "entropy": mp["entropy"]}
        entries.append(entry)
    return entries


def _fit_units(cfg, ds, x_transfer, grid, ref, seed, *, store, fitters, log):
    """Run every fit the active methods need, one unit ``seed<s>-teacher-<fit>`` (students:
    ``seed<s>-<fit>``) each; returns ``([(method, entries)] in table order, {fit: seconds},
    student entries)``."""
    s, methods = cfg.setup, cfg.active_methods
    key = jax.random.key(1000 * (seed + 1))
    pkey = jax.random.key(cfg.seed + 99)
    problem = Problem.make(ds, s)
    order, times, students = [], {}, []
    for i, name in enumerate(fits_for(methods)):
        student = name in STUDENT_FITS

        def compute(name=name, i=i, student=student):
            t0 = time.perf_counter()
            posts = fitters[name](problem, s, key=jax.random.fold_in(key, i))
            seconds = time.perf_counter() - t0
            value = {"seconds": seconds, "entries": {
                m: _entries(p, ds, grid, ref, x_transfer, pkey, table=not student)
                for m, p in posts.items() if m in methods}}
            if name in STARTS:
                value["params"] = jax.tree.leaves(posts[name][0].params)
            return value

        unit = f"seed{seed}-{name}" if student else f"seed{seed}-teacher-{name}"
        value, reloaded = _unit(store, unit, compute)
        times[name] = value["seconds"]
        log(f"[posterior-zoo] seed {seed}: {name} " + ("(checkpoint)" if reloaded else
                                                         f"fitted in {value['seconds']:.1f} s"))
        if name in STARTS:  # later fits start from the stored bytes, first run or resumed
            problem.start[name] = _restore(problem.model_fn, value["params"], name)
        if student:
            students += [_student_entry(m, k, seed, e["row"], e.get("maps", {})) for m, es in
                         value["entries"].items() for k, e in enumerate(es)]
        else:
            order.extend(value["entries"].items())
    map_test = None
    if "map" in problem.start:
        map_test = offline_predictive(problem.start["map"], ds.x_test, key=pkey).probs
    return order, times, students, map_test


def _run_seed(cfg, ds, x_transfer, grid, ref, seed: int, *, store, progress, log, fitters,
              distill_fn):
    """Fit, evaluate and distill every teacher of one seed: ``(rows, plane maps, timing)``."""
    s = cfg.setup
    pkey = jax.random.key(cfg.seed + 99)
    order, times, student_entries, map_test = _fit_units(
        cfg, ds, x_transfer, grid, ref, seed, store=store, fitters=fitters, log=log)
    if ref is not None:
        order = list(ref["entries"].items()) + order
        times = {"nuts": ref["seconds"], **times}
    entries = [(name, m, e) for name, members in order for m, e in enumerate(members)]
    rows, maps = [], {}
    for name, member, e in entries:
        row = {"method": name, "role": "teacher", "seed": seed, "member": member} | e["row"]
        if map_test is not None:  # how far the teacher moved from the MAP it may start from
            row["kl_map"] = max(float(kl_divergence(e["test"], map_test)), 0.0)
        rows.append(row)
        if member == 0:
            maps[(name, "teacher")] = e.get("maps", {})
    sfn = mlp_fn(ds, s.student.hidden)

    def students():
        t0 = time.perf_counter()
        student_cfg = TrainConfig(steps=s.student.steps, batch_size=200,
                                  learning_rate=s.student.learning_rate,
                                  eval_every=s.student.steps, schedule="cosine")
        res = distill_fn(sfn, x_transfer, np.stack([e["table"] for _, _, e in entries]),
                         config=student_cfg, key=jax.random.key(seed), progress=progress,
                         desc="students")
        out = []
        for i, (name, member, e) in enumerate(entries):
            st = ParamSamples(res.graphdef, jax.tree.map(lambda a, i=i: a[i : i + 1], res.params),
                              name=name)
            row, mp = _evaluate(st, ds, grid, ref, pkey)
            row["kl_teacher"] = max(float(kl_divergence(e["test"], mp["test"])), 0.0)
            row["agreement_teacher"] = float(agreement(e["test"], mp["test"]))
            out.append(_student_entry(name, member, seed, row, mp if member == 0 else {}))
        return {"seconds": time.perf_counter() - t0, "entries": out}

    value, reloaded = _unit(store, f"seed{seed}-students", students)
    times["students"] = value["seconds"]
    for e in list(value["entries"]) + student_entries:
        rows.append(e["row"])
        if e["row"]["member"] == 0:
            maps[(e["row"]["method"], "student")] = e.get("maps", {})
    log(f"[posterior-zoo] seed {seed}: {len(value['entries'])} students "
        + ("(checkpoint)" if reloaded else "distilled"))
    return rows, maps, times


def _student_entry(name: str, member: int, seed: int, row: dict, maps: dict) -> dict:
    """A student's row and (if given) its plane maps."""
    entry = {"row": {"method": name, "role": "student", "seed": seed, "member": member} | row}
    if "prob" in maps:
        entry["maps"] = {"prob": maps["prob"], "entropy": maps["entropy"]}
    return entry


def checkpoint_config(cfg: PosteriorZooConfig, plane: bool) -> dict:
    """What the checkpoints of a run belong to: the resolved config and every size setting."""
    return {"job": "posterior_zoo", "units": UNIT_FORMAT,
            "config": dataclasses.asdict(cfg) | {"seeds": cfg.num_seeds,
                                                 "active_methods": list(cfg.active_methods),
                                                 "plane": plane},
            "setup": dataclasses.asdict(cfg.setup)}


def _reference_unit(cfg, ds, x_transfer, grid, plane, log, reference_fn) -> dict:
    """Unit ``reference``: the NUTS predictive on the test set and grid, its diagnostics, and its
    evaluation as a teacher (the same for every seed: it is evaluated with the same key)."""
    s = cfg.setup
    pkey = jax.random.key(cfg.seed + 99)
    t0 = time.perf_counter()
    ref_post, run = reference_fn(ds, s, key=jax.random.key(cfg.seed + 1))
    seconds = time.perf_counter() - t0
    log(f"[posterior-zoo] NUTS reference: {run.num_chains} chains x {s.nuts.samples} draws after "
        f"{s.nuts.warmup} warm-up, {run.num_divergent} divergent transitions, {seconds:.1f} s")
    r_test = offline_predictive(ref_post, ds.x_test, key=pkey, keep_samples=True)
    ref = {"test": r_test.probs,
           "grid": offline_predictive(ref_post, grid, key=pkey).probs if plane else None}
    info = {"method": "nuts", "num_divergent": run.num_divergent,
            "num_transitions": run.num_transitions, "chains": run.num_chains,
            "warmup": s.nuts.warmup, "draws_per_chain": s.nuts.samples}
    info |= predictive_diagnostics(r_test.sample_probs.reshape(run.num_chains, -1,
                                                               *r_test.probs.shape))
    entries = _entries([ref_post], ds, grid, ref, x_transfer, pkey)
    return ref | {"seconds": seconds, "info": info, "entries": {"nuts": entries}}


def run(cfg: PosteriorZooConfig, *, out, progress: bool | None = None, log=print,
        fresh: bool = False, fitters: Mapping[str, FitFn] = FITTERS,
        reference_fn: Callable = nuts_reference, distill_fn: Callable = distill) -> dict:
    """Run the zoo and write ``results.json``, ``results.csv``, ``table.md`` (the README table, every
    number read from the results) and (2-D) ``posterior_zoo.png``.

    Args:
      fitters: the table of fitters (default :data:`FITTERS`); ``reference_fn`` fits the NUTS
        reference and ``distill_fn`` trains the students (default
        :func:`bayeskd.posteriors.distill`).

    Resumable: the NUTS reference (``reference``), every teacher fit of every seed
    (``seed<s>-teacher-<fit>`` for each fit of :data:`FITTERS`; ``swag`` also holds SWAG-Diagonal;
    ``map`` and ``ensemble`` hold their weights, from which SWAG, Laplace, dark knowledge and the
    SGLD chains start), the distilled students (``seed<s>-students``, one vmapped run) and dark
    knowledge (``seed<s>-bdk``) are units of a :class:`bayeskd.checkpoint.SweepStore` in
    ``out/.checkpoints``; the same call after a kill reloads the finished ones and writes the same
    ``results.json`` (timing apart). ``fresh=True`` ignores earlier checkpoints.
    """
    t_start = time.perf_counter()
    with locked_output(out) as out_dir:
        s = cfg.setup
        ds, x_transfer = load_data(cfg)
        plane = cfg.two_d if cfg.plane is None else cfg.plane
        store = SweepStore.for_output(out_dir, config=checkpoint_config(cfg, plane), fresh=fresh,
                                      log=log)
        if store.active:
            log(f"[posterior-zoo] {store.describe()}")
        log(f"[posterior-zoo] {cfg.dataset} ({cfg.size}): {ds.num_train} train / {ds.num_test} test,"
            f" {len(x_transfer)} transfer inputs, teacher {s.teacher_hidden}, student "
            f"{s.student.hidden}, prior N(0, {s.prior_std}^2), {cfg.num_seeds} seed(s)")
        grid, xx, yy = grid_2d(ds.x_train, resolution=s.grid[0], margin=s.grid[1]) if plane else (
            None, None, None)
        timing: dict[str, Any] = {}
        ref, ref_info = None, None
        if s.nuts is not None:
            ref, reloaded = _unit(store, "reference", lambda: _reference_unit(
                cfg, ds, x_transfer, grid, plane, log, reference_fn))
            if reloaded:
                log("[posterior-zoo] NUTS reference (checkpoint)")
            timing["nuts"] = ref["seconds"]
            ref_info = ref["info"]
        else:
            log(f"[posterior-zoo] {cfg.dataset}: NUTS (and the AIES/ESS ensemble samplers) are out "
                "of reach for a 17k-weight network at this size; no reference, test metrics only")
        rows, maps = [], {}
        for seed in range(cfg.num_seeds):
            seed_rows, seed_maps, timing[f"seed{seed}"] = _run_seed(
                cfg, ds, x_transfer, grid, ref, seed, store=store, progress=progress, log=log,
                fitters=fitters, distill_fn=distill_fn)
            rows += seed_rows
            if seed == 0:
                maps = seed_maps
        by_pair = summarize([{k: v for k, v in r.items() if v is not None} for r in rows],
                            group=("method", "role"), metrics=METRICS)
        summary: dict[str, dict] = {}  # {method: {role: {metric: mean/std/n}}}
        for (method, role), stats in by_pair.items():
            summary.setdefault(method, {})[role] = stats
        results = {
            "experiment": "posterior_zoo", "dataset": cfg.dataset, "size": cfg.size,
            "config": dataclasses.asdict(cfg) | {"seeds": cfg.num_seeds},
            "setup": dataclasses.asdict(s),
            "data": {"num_train": ds.num_train, "num_test": ds.num_test,
                     "num_transfer": len(x_transfer)},
            "reference": ref_info, "rows": rows, "summary": summary,
            "checks": checks(cfg, summary), "published": PUBLISHED if cfg.two_d else None,
        }
        write_csv(out_dir / "results.csv", rows, fields=["method", "role", "seed", "member", *METRICS,
                                                         "agreement_teacher"])
        if plane:
            fig = plane_figure(xx, yy, maps, ds, list(dict.fromkeys(m for m, _ in maps)))
            save_figure(fig, out_dir / "posterior_zoo.png")
            import matplotlib.pyplot as plt

            plt.close(fig)
        timing["total_s"] = time.perf_counter() - t_start
        results["timing"] = timing
        results["provenance"] = provenance()
        write_json(out_dir / "results.json", results)
        (out_dir / "table.md").write_text(markdown_table(results) + "\n")
        log(format_table(results))
        log(f"[posterior-zoo] wrote {out_dir}/results.json, results.csv, table.md"
            + (", posterior_zoo.png" if plane else "") + f" in {timing['total_s']:.0f} s")
        return results


def add_cli(sub, *, description: str = "") -> None:
    """Add the ``posterior-zoo`` subcommand."""
    p = sub.add_parser("posterior-zoo", help="posterior teachers vs a NUTS reference, distilled",
                       description=description)
    p.add_argument("--dataset", default="moons", help=f"one of {', '.join(DATASETS)}")
    p.add_argument("--size", default="quick", help="smoke | quick | full (default quick)")
    p.add_argument("--seeds", type=int, default=None, help="number of seeds (default: by size)")
    p.add_argument("--methods", default=",".join(METHODS),
                   help=f"comma-separated subset of {','.join(METHODS)}")
    p.add_argument("--plane", action="store_true", default=None,
                   help="draw the plane figure (2-D datasets; the default there)")
    p.add_argument("--out", default="paper_figures/posterior_zoo", help="output folder")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--fresh", action="store_true",
                   help="ignore checkpoints of an earlier run in --out and start over")
    p.set_defaults(func=_run_cli)


def _run_cli(args) -> int:
    from bayeskd.io import check_out_dir

    cfg = PosteriorZooConfig(
        dataset=args.dataset, size=args.size, seeds=args.seeds, plane=args.plane,
        methods=tuple(m.strip() for m in args.methods.split(",") if m.strip()))
    check_out_dir(args.out)
    run(cfg, out=args.out, progress=False if args.no_progress else None, fresh=args.fresh)
    return 0

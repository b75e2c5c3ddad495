r"""``bayeskd posterior-zoo``: every posterior approximation as a teacher, against a NUTS reference.

MISSION.md C8 made measurable: a teacher's output stands in for the posterior predictive
:math:`\mathbb E_{\theta\sim p(\theta\mid\mathcal D)}p(y\mid x,\theta)`. On a small problem the
job fits a NUTS reference of that predictive and every approximation of :mod:`bayeskd.posteriors`
(MAP, deep ensemble, SWAG and SWAG-Diagonal, MC dropout, last-layer Laplace, SGLD, cyclical SGLD,
SVI, the AIES and ESS ensemble samplers), distills each offline into the same small student (one
vmapped run for all of them), runs Bayesian dark knowledge (online SGLD -> student), and reports
for every teacher and student: accuracy, NLL, ECE, Brier, entropy, mutual information, and top-1
agreement, total variation and KL(reference || method) on the test set and on a grid over the
plane.

Setting (two moons, after Korattikara et al. 2015's toy problem): a few dozen training points, a
2-10-2 ReLU network with an ``N(0, 1)`` prior on every weight (weight decay ``1/N``, the same
posterior for every method), a 2-20-2 student, transfer inputs = the training inputs plus noisy
copies (Korattikara et al. perturb training inputs the same way). The ``map`` rows average over
the ensemble's members, each an independent MAP fit; SGLD chains (and the dark-knowledge chain)
start at MAP solutions. Korattikara et al. report
KL(HMC || .) = 0.246 for SGD, 0.007 for SGLD and 0.009-0.031 for distilled students; the job prints
ours next to theirs. On ``digits`` (17k weights) NUTS and the ensemble samplers are out of reach
at these sizes: the job says so and reports test-set metrics without a reference.

Command: ``bayeskd posterior-zoo`` (moons, quick: about 4-5 minutes and 4 CPU-minutes on 2 shared
cores; ``--dataset digits``: about 6 minutes; smoke: 1-3 minutes, mostly compilation). Outputs: ``results.json``, ``results.csv``, ``posterior_zoo.png`` (2-D data).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from bayeskd.checkpoint import SweepStore
from bayeskd.data import grid_2d
from bayeskd.experiments.posterior_zoo_report import checks, format_table, plane_figure
from bayeskd.experiments.posterior_zoo_setup import (  # noqa: F401 -- SETUPS, Setup: public here too
    DATASETS,
    METHODS,
    METRICS,
    PLANE_DATASETS,
    PUBLISHED,
    REFERENCE_ONLY,
    SETUPS,
    PosteriorZooConfig,
    Setup,
    load_data,
)
from bayeskd.io import locked_output, save_figure, write_csv, write_json
from bayeskd.metrics import agreement, entropy, kl_divergence, summarize
from bayeskd.models import MLP
from bayeskd.posteriors import (
    SWAG,
    BayesianNet,
    LastLayerLaplace,
    MCDropout,
    ParamSamples,
    SVIPosterior,
    bayesian_dark_knowledge,
    distill,
    fit_ensemble,
    fit_sgld,
    fit_swag,
    offline_predictive,
    predictive_diagnostics,
    predictive_metrics,
    reference_distances,
    run_ensemble_sampler,
    run_nuts,
    run_svi,
    weight_decay_from_prior_std,
)
from bayeskd.priors import GaussianPrior
from bayeskd.training import TrainConfig, fit, init_members


def _mlp(ds, hidden, dropout=0.0):
    d, k = int(np.prod(ds.input_shape)), ds.num_classes
    return lambda key: MLP(d, k, hidden=hidden, dropout=dropout, rngs=_rngs(key))


def _rngs(key):
    from flax import nnx

    return nnx.Rngs(params=key)


def _unit(store: SweepStore, name: str, compute) -> tuple[dict, bool]:
    """``(value, reloaded)`` of unit ``name``: the stored one, or ``compute()`` stored and read back
    (so a first run and a resumed run continue from the same bytes)."""
    value = store.get(name)
    if value is not None:
        return value, True
    store.put(name, compute())
    return store.get(name), False


def _teacher_entries(posts: list, ds, grid, ref, x_transfer, pkey) -> list[dict]:
    """Each member posterior's metric row, test predictive, plane maps (member 0) and its
    log-predictive on the transfer inputs (the distillation table)."""
    entries = []
    for member, post in enumerate(posts):
        row, mp = _evaluate(post, ds, grid, ref, pkey)
        entry = {"row": row, "test": mp["test"],
                 "table": np.log(np.maximum(offline_predictive(post, x_transfer, key=pkey).probs,
                                            1e-12))}
        if member == 0 and "prob" in mp:
            entry["maps"] = {"prob": mp["prob"], "entropy": mp["entropy"]}
        entries.append(entry)
    return entries


def _ensemble_posterior(tfn, leaves: list) -> ParamSamples:
    """The stored ensemble's parameters (leaves of ``[M, ...]`` arrays) as a posterior again."""
    graphdef, like = init_members(tfn, jax.random.split(jax.random.key(0), 1))
    params = jax.tree.unflatten(jax.tree.structure(like), [jnp.asarray(a) for a in leaves])
    return ParamSamples(graphdef, params, name="ensemble")


def _teacher_units(cfg, ds, x_transfer, grid, ref, seed: int, store, log) -> tuple[list, dict, Any]:
    """Fit and evaluate every active teacher of one seed, one unit per fit; returns
    ``([(method, entries)] in table order, {method: seconds}, MAP params)``."""
    s, methods = cfg.setup, cfg.active_methods
    key = jax.random.key(1000 * (seed + 1))
    k = lambda i: jax.random.fold_in(key, i)  # noqa: E731
    data = {"x": ds.x_train, "y": ds.y_train}
    prior = GaussianPrior(weight_decay=weight_decay_from_prior_std(s.prior_std, ds.num_train))
    tfn = _mlp(ds, s.teacher_hidden)
    pkey = jax.random.key(cfg.seed + 99)
    evaluate = lambda posts: _teacher_entries(posts, ds, grid, ref, x_transfer, pkey)  # noqa: E731
    order, times = [], {}

    def unit(group, fit_fn, names):
        """Unit ``seed<s>-teacher-<group>``: ``fit_fn() -> {method: [member posteriors]}``."""
        def compute():
            t0 = time.perf_counter()
            posts, extra = fit_fn()
            seconds = time.perf_counter() - t0
            return {"seconds": seconds,
                    "entries": {m: evaluate(posts[m]) for m in names if m in methods}} | extra
        value, reloaded = _unit(store, f"seed{seed}-teacher-{group}", compute)
        times[group] = value["seconds"]
        log(f"[posterior-zoo] seed {seed}: {group} " + ("(checkpoint)" if reloaded else
                                                          f"fitted in {value['seconds']:.1f} s"))
        order.extend(value["entries"].items())
        return value

    cfg_map = TrainConfig(steps=s.map_steps, batch_size=min(s.batch_size, ds.num_train),
                          learning_rate=s.map_lr, eval_every=s.map_steps)
    n_members = max(s.members, s.sgld_chains)

    def fit_ens():
        # every member is an independent MAP fit: the MAP rows average over all of them
        ens = fit_ensemble(tfn, data, prior=prior, config=cfg_map, key=k(0),
                           num_members=n_members, progress=False)
        return ({"ensemble": [_first(ens, s.members)], "map": [ens.member(m) for m in
                                                              range(s.members)]},
                {"params": jax.tree.leaves(ens.params)})

    stored = unit("ensemble", fit_ens, ("ensemble", "map"))
    times["map"] = times["ensemble"] / n_members
    ens = _ensemble_posterior(tfn, stored["params"])  # the stored bytes, first run or resumed
    map_params = jax.tree.map(lambda a: a[0], ens.params)
    chain_init = jax.tree.map(lambda a: a[: s.sgld_chains], ens.params)
    if "swag" in methods or "swag_diag" in methods:
        def fit_sw():
            sw = fit_swag(tfn, data, prior=prior, init_params=ens.member(0).params, key=k(1),
                          steps=s.swag_steps, learning_rate=s.swag_lr, batch_size=s.swag_batch,
                          collect_every=s.swag_every, num_samples=s.pred_samples, progress=False)
            return {"swag": [sw], "swag_diag": [SWAG(sw.graphdef, sw.state, diagonal=True,
                                                     num_samples=s.pred_samples)]}, {}
        unit("swag", fit_sw, ("swag", "swag_diag"))
    if "mc_dropout" in methods:
        def fit_mcd():
            res = fit(_mlp(ds, s.teacher_hidden, s.dropout), data, prior=prior, config=cfg_map,
                      key=k(2), progress=False)
            return {"mc_dropout": [MCDropout.from_fit(res, num_samples=s.pred_samples)]}, {}
        unit("mc_dropout", fit_mcd, ("mc_dropout",))
    if "laplace" in methods:
        unit("laplace", lambda: ({"laplace": [LastLayerLaplace(
            ens.graphdef, map_params, ds.x_train, ds.y_train, num_samples=s.pred_samples)]}, {}),
            ("laplace",))
    sg_kw = dict(prior=prior, batch_size=min(s.batch_size, ds.num_train),
                 num_chains=s.sgld_chains, init_params=chain_init, thin=s.sgld_thin,
                 num_steps=s.sgld_steps, progress=False)
    if "sgld" in methods:
        unit("sgld", lambda: ({"sgld": [fit_sgld(tfn, data, key=k(3), step_size=s.sgld_step,
                                                 burn_in=s.sgld_burn, **sg_kw)]}, {}), ("sgld",))
    if "csgld" in methods:
        unit("csgld", lambda: ({"csgld": [fit_sgld(tfn, data, key=k(4), step_size=s.csgld_step,
                                                   burn_in=0, num_cycles=s.csgld_cycles,
                                                   **sg_kw)]}, {}), ("csgld",))
    bnn = None
    if {"svi", "aies", "ess"} & set(methods):
        bnn = BayesianNet(tfn, key=k(5), prior_std=s.prior_std)
    xy = (np.asarray(ds.x_train), np.asarray(ds.y_train))
    if "svi" in methods:
        unit("svi", lambda: ({"svi": [SVIPosterior(bnn, run_svi(bnn.model, *xy, key=k(6),
                                                                num_steps=s.svi_steps),
                                                   num_samples=s.pred_samples)]}, {}), ("svi",))
    w, warm, n, thin = s.walkers
    w = max(w, 2 * bnn.num_params) if bnn is not None else w  # NumPyro advises at least twice the dimension
    for i, kind in enumerate(("aies", "ess")):
        if kind in methods:
            unit(kind, lambda kind=kind, i=i: ({kind: [bnn.posterior(run_ensemble_sampler(
                bnn.model, *xy, kind=kind, key=k(7 + i), num_walkers=w, num_warmup=warm,
                num_samples=n, thinning=thin), name=kind)]}, {}), (kind,))
    return order, times, map_params


def _first(ens: ParamSamples, members: int) -> ParamSamples:
    return ParamSamples(ens.graphdef, jax.tree.map(lambda a: a[:members], ens.params),
                        name="ensemble")


def _reference(cfg, ds, log):
    s = cfg.setup
    bnn = BayesianNet(_mlp(ds, s.teacher_hidden), key=jax.random.key(cfg.seed), prior_std=s.prior_std)
    warm, n, chains = s.nuts
    run = run_nuts(bnn.model, np.asarray(ds.x_train), np.asarray(ds.y_train),
                   key=jax.random.key(cfg.seed + 1), num_warmup=warm, num_samples=n,
                   num_chains=chains)
    log(f"[posterior-zoo] NUTS reference: {chains} chains x {n} draws after {warm} warm-up, "
        f"{run.num_divergent} divergent transitions, {run.runtime_s:.1f} s")
    return bnn.posterior(run, name="nuts"), run


def _evaluate(post, ds, grid, ref, key) -> tuple[dict, dict]:
    """A teacher's metric row and its plane maps (probability of class 1, entropy)."""
    test = offline_predictive(post, ds.x_test, key=key, keep_samples=True)
    row = predictive_metrics(test.probs, ds.y_test, sample_probs=test.sample_probs)
    chains = getattr(post, "chains", 1)
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


def _run_seed(cfg, ds, x_transfer, grid, ref, seed: int, *, store, progress, log):
    """Fit, evaluate and distill every teacher of one seed: ``(rows, plane maps, timing)``.

    Units: ``seed<s>-teacher-<fit>`` (one per teacher fit), ``seed<s>-students`` (the one
    vmapped distillation run of every teacher) and ``seed<s>-bdk``."""
    s = cfg.setup
    pkey = jax.random.key(cfg.seed + 99)
    order, times, map_params = _teacher_units(cfg, ds, x_transfer, grid, ref, seed, store, log)
    if ref is not None:
        order = list(ref["entries"].items()) + order
        times = {"nuts": ref["seconds"], **times}
    entries = [(name, m, e) for name, members in order for m, e in enumerate(members)]
    rows, maps = [], {}
    for name, member, e in entries:
        rows.append({"method": name, "role": "teacher", "seed": seed, "member": member} | e["row"])
        if member == 0:
            maps[(name, "teacher")] = e.get("maps", {})
    sfn = _mlp(ds, s.student_hidden)

    def students():
        t0 = time.perf_counter()
        student_cfg = TrainConfig(steps=s.student_steps, batch_size=200, learning_rate=s.student_lr,
                                  eval_every=s.student_steps, schedule="cosine")
        res = distill(sfn, x_transfer, np.stack([e["table"] for _, _, e in entries]),
                      config=student_cfg, key=jax.random.key(seed), progress=progress,
                      desc="students")
        out = []
        for i, (name, member, e) in enumerate(entries):
            st = ParamSamples(res.graphdef, jax.tree.map(lambda a, i=i: a[i : i + 1], res.params),
                              name=name)
            row, mp = _evaluate(st, ds, grid, ref, pkey)
            row["kl_teacher"] = max(float(kl_divergence(e["test"], mp["test"])), 0.0)
            row["agreement_teacher"] = float(agreement(e["test"], mp["test"]))
            out.append(_student_entry(name, member, seed, row, mp))
        return {"seconds": time.perf_counter() - t0, "entries": out}

    value, reloaded = _unit(store, f"seed{seed}-students", students)
    times["students"] = value["seconds"]
    student_entries = list(value["entries"])
    if "bdk" in cfg.methods:
        def bdk():
            t0 = time.perf_counter()
            dk = bayesian_dark_knowledge(
                _mlp(ds, s.teacher_hidden), sfn, {"x": ds.x_train, "y": ds.y_train},
                prior=GaussianPrior(weight_decay_from_prior_std(s.prior_std, ds.num_train)),
                key=jax.random.key(seed + 500), step_size=s.sgld_step, num_steps=s.sgld_steps,
                burn_in=s.sgld_burn, batch_size=min(s.batch_size, ds.num_train),
                input_noise=float(s.transfer[1] or 0.5), student_learning_rate=s.bdk_lr,
                init_params=map_params)  # the chain starts at MAP, like the SGLD teachers
            row, mp = _evaluate(dk.student, ds, grid, ref, pkey)
            return {"seconds": time.perf_counter() - t0,
                    "entries": [_student_entry("bdk", 0, seed, row, mp)]}

        value, bdk_reloaded = _unit(store, f"seed{seed}-bdk", bdk)
        times["bdk"] = value["seconds"]
        student_entries += value["entries"]
        reloaded = reloaded and bdk_reloaded
    for e in student_entries:
        rows.append(e["row"])
        if e["row"]["member"] == 0:
            maps[(e["row"]["method"], "student")] = e.get("maps", {})
    log(f"[posterior-zoo] seed {seed}: {len(student_entries)} students "
        + ("(checkpoint)" if reloaded else "distilled"))
    return rows, maps, times


def _student_entry(name: str, member: int, seed: int, row: dict, mp: dict) -> dict:
    entry = {"row": {"method": name, "role": "student", "seed": seed, "member": member} | row}
    if member == 0 and "prob" in mp:
        entry["maps"] = {"prob": mp["prob"], "entropy": mp["entropy"]}
    return entry


UNIT_FORMAT = 1  # bump when the units' contents change, so old checkpoints are not reused


def checkpoint_config(cfg: PosteriorZooConfig, plane: bool) -> dict:
    """What the checkpoints of a run belong to: the resolved config and every size setting."""
    return {"job": "posterior_zoo", "units": UNIT_FORMAT,
            "config": dataclasses.asdict(cfg) | {"seeds": cfg.num_seeds,
                                                 "active_methods": list(cfg.active_methods),
                                                 "plane": plane},
            "setup": dataclasses.asdict(cfg.setup)}


def _reference_unit(cfg, ds, x_transfer, grid, plane, log) -> dict:
    """Unit ``reference``: the NUTS predictive on the test set and grid, its diagnostics, and its
    evaluation as a teacher (the same for every seed: it is evaluated with the same key)."""
    s = cfg.setup
    pkey = jax.random.key(cfg.seed + 99)
    t0 = time.perf_counter()
    ref_post, nuts_run = _reference(cfg, ds, log)
    seconds = time.perf_counter() - t0
    r_test = offline_predictive(ref_post, ds.x_test, key=pkey, keep_samples=True)
    ref = {"test": r_test.probs,
           "grid": offline_predictive(ref_post, grid, key=pkey).probs if plane else None}
    info = {"method": "nuts", "num_divergent": nuts_run.num_divergent,
            "num_transitions": nuts_run.num_transitions, "chains": nuts_run.num_chains,
            "warmup": s.nuts[0], "draws_per_chain": s.nuts[1]}
    info |= predictive_diagnostics(
        r_test.sample_probs.reshape(nuts_run.num_chains, -1, *r_test.probs.shape))
    entries = _teacher_entries([ref_post], ds, grid, ref, x_transfer, pkey)
    return ref | {"seconds": seconds, "info": info, "entries": {"nuts": entries}}


def run(cfg: PosteriorZooConfig, *, out, progress: bool | None = None, log=print,
        fresh: bool = False) -> dict:
    """Run the zoo and write ``results.json``, ``results.csv`` and (2-D) ``posterior_zoo.png``.

    Resumable: the NUTS reference (``reference``), every teacher fit of every seed
    (``seed<s>-teacher-<fit>``: ``ensemble`` with the MAP members, ``swag`` with SWAG-Diagonal,
    ``mc_dropout``, ``laplace``, ``sgld``, ``csgld``, ``svi``, ``aies``, ``ess``), the distilled
    students (``seed<s>-students``, one vmapped run) and dark knowledge (``seed<s>-bdk``) are
    units of a :class:`bayeskd.checkpoint.SweepStore` in ``out/.checkpoints``; the same call
    after a kill reloads the finished ones and writes the same ``results.json`` (timing apart).
    ``fresh=True`` ignores earlier checkpoints.
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
            f"{s.student_hidden}, prior N(0, {s.prior_std}^2), {cfg.num_seeds} seed(s)")
        grid, xx, yy = grid_2d(ds.x_train, resolution=s.grid[0], margin=s.grid[1]) if plane else (
            None, None, None)
        timing: dict[str, Any] = {}
        ref, ref_info = None, None
        if cfg.two_d:
            ref, reloaded = _unit(store, "reference", lambda: _reference_unit(
                cfg, ds, x_transfer, grid, plane, log))
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
                cfg, ds, x_transfer, grid, ref, seed, store=store, progress=progress, log=log)
            rows += seed_rows
            if seed == 0:
                maps = seed_maps
        for r in rows:
            r["group"] = f"{r['method']}/{r['role']}"
        summary = summarize([{k: v for k, v in r.items() if v is not None} for r in rows],
                            group="group", metrics=METRICS)
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
        write_json(out_dir / "results.json", results)
        log(format_table(results))
        log(f"[posterior-zoo] wrote {out_dir}/results.json, results.csv"
            + (", posterior_zoo.png" if plane else "") + f" in {timing['total_s']:.0f} s")
        return results


def add_cli(sub) -> None:
    """Add the ``posterior-zoo`` subcommand."""
    mod = sys.modules[__name__]
    p = sub.add_parser("posterior-zoo", help="posterior teachers vs a NUTS reference, distilled",
                       description=mod.__doc__.split("\n\n")[0])
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

    mod = sys.modules[__name__]
    cfg = mod.PosteriorZooConfig(
        dataset=args.dataset, size=args.size, seeds=args.seeds, plane=args.plane,
        methods=tuple(m.strip() for m in args.methods.split(",") if m.strip()))
    check_out_dir(args.out)
    mod.run(cfg, out=args.out, progress=False if args.no_progress else None, fresh=args.fresh)
    return 0

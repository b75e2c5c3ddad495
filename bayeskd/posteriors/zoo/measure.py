r"""Measuring the zoo: each fitted posterior evaluated on the test set (and a grid of the plane)
against the reference, its distillation targets, the students distilled from every teacher in
one vmapped run, and the labelled rows.

Every fit is a unit of ``unit(name, compute)`` (the runner's resumable units): the NUTS
reference, ``seed<s>-teacher-<fit>`` per fit (students: ``seed<s>-<fit>``); the MAP and
ensemble units hold their weights, from which later fits start.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import jax
import numpy as np

from bayeskd.metrics import agreement, entropy, kl_divergence
from bayeskd.posteriors.base import ParamSamples, distill, offline_predictive, teacher_log_probs
from bayeskd.posteriors.reference import (
    converged,
    evaluate_posterior,
    predictive_diagnostics,
    reference_distances,
)
from bayeskd.posteriors.zoo.fitters import (
    FITTERS,
    STARTS_FROM,
    STUDENT_FITS,
    Problem,
    fits_for,
    mlp_fn,
    nuts_reference,
)
from bayeskd.posteriors.zoo.setups import Setup
from bayeskd.training import TrainConfig


def _keep(unit: Callable | None) -> Callable:
    return unit or (lambda name, compute: compute())


def evaluate_members(posts: list, ds, *, key, grid=None, ref: Mapping | None = None,
                     x_transfer=None) -> list[dict]:
    """Each member posterior's entry: ``row`` (:func:`~bayeskd.posteriors.evaluate_posterior` on
    the test set; with ``grid``, the reference distances there, suffix ``_grid``), ``test``
    (its predictive), ``maps`` (member 0 on the grid: ``prob`` of the last class and
    ``entropy``) and, with ``x_transfer``, ``table`` (its log-predictive there: distillation
    targets). ``ref``: the reference predictive, ``{"test", "grid"}``."""
    out = []
    for member, post in enumerate(posts):
        row, test = evaluate_posterior(post, ds.x_test, ds.y_test, key=key,
                                       ref_probs=None if ref is None else ref["test"])
        e = {"row": row, "test": test}
        if grid is not None:
            g = offline_predictive(post, grid, key=key).probs
            if ref is not None:
                row |= reference_distances(ref["grid"], g, suffix="_grid")
            if member == 0:
                e["maps"] = {"prob": g[:, -1], "entropy": np.asarray(entropy(g))}
        if x_transfer is not None:
            e["table"] = teacher_log_probs(post, x_transfer, key=key)
        out.append(e)
    return out


def reference(ds, setup: Setup, *, key, eval_key, grid=None, x_transfer=None,
              reference_fn: Callable = None) -> dict:
    """The NUTS reference: its predictive (``test``, ``grid``), its run's counts and predictive
    R-hat/ESS (``info``) and its entry as a teacher (``entries``)."""
    post, run = (reference_fn or nuts_reference)(ds, setup, key=key)
    r = offline_predictive(post, ds.x_test, key=eval_key, keep_samples=True)
    ref = {"test": r.probs,
           "grid": None if grid is None else offline_predictive(post, grid, key=eval_key).probs}
    info = {"num_divergent": run.num_divergent, "num_transitions": run.num_transitions,
            "chains": run.num_chains, "warmup": setup.nuts.warmup,
            "draws_per_chain": setup.nuts.samples}
    info |= predictive_diagnostics(r.sample_probs.reshape(run.num_chains, -1, *r.probs.shape))
    info["converged"] = converged(info)
    return ref | {"info": info, "entries": evaluate_members(
        [post], ds, key=eval_key, grid=grid, ref=ref, x_transfer=x_transfer)}


def fit_seed(ds, setup: Setup, methods, *, seed: int, eval_key, x_transfer, grid=None,
             ref: Mapping | None = None, unit: Callable | None = None,
             fitters: Mapping[str, Callable] = FITTERS) -> tuple[list, list, np.ndarray | None]:
    """Every fit ``methods`` need for one seed, each a unit ``seed<s>-teacher-<fit>`` (students:
    ``seed<s>-<fit>``) of ``unit(name, compute)``; the MAP and ensemble units hold their weights,
    from which later fits start (the stored bytes, first run or resumed).

    Returns ``(teachers, students, map_test)``: ``[(method, entries)]`` in fit order, the
    students' ``[(method, entries)]`` and the MAP's test predictive (``None`` without a MAP)."""
    key, unit = jax.random.key(1000 * (seed + 1)), _keep(unit)
    problem = Problem.make(ds, setup)
    teachers, students = [], []
    for i, name in enumerate(fits_for(methods)):
        student = name in STUDENT_FITS

        def compute(name=name, i=i, student=student):
            posts = fitters[name](problem, setup, key=jax.random.fold_in(key, i))
            value = {"entries": {m: evaluate_members(
                p, ds, key=eval_key, grid=grid, ref=ref, x_transfer=None if student else x_transfer)
                for m, p in posts.items() if m in methods}}
            if name in STARTS_FROM.values():
                value["params"] = jax.tree.leaves(posts[name][0].params)
            return value

        value = unit(f"seed{seed}-{name}" if student else f"seed{seed}-teacher-{name}", compute)
        if name in STARTS_FROM.values():
            problem.start[name] = problem.restore(value["params"], name)
        (students if student else teachers).extend(value["entries"].items())
    map_test = None
    if "map" in problem.start:
        map_test = offline_predictive(problem.start["map"], ds.x_test, key=eval_key).probs
    return teachers, students, map_test


def distill_students(teachers: list, ds, setup: Setup, x_transfer, *, seed: int, eval_key,
                     grid=None, ref: Mapping | None = None, progress=None,
                     distill_fn: Callable = distill) -> list:
    """Every teacher entry of ``teachers`` (``[(method, entries)]``, each with a ``table``)
    distilled into the same student in one vmapped run (KL to the teacher's predictive on
    ``x_transfer``, no labels); returns ``[(method, entries)]`` of the students, each evaluated
    like its teacher plus ``kl_teacher`` (KL(teacher || student), test) and
    ``agreement_teacher``."""
    s = setup.student
    cfg = TrainConfig(steps=s.steps, batch_size=200, learning_rate=s.learning_rate,
                      eval_every=s.steps, schedule="cosine")
    flat = [e for _, es in teachers for e in es]
    res = distill_fn(mlp_fn(ds, s.hidden), x_transfer, np.stack([e["table"] for e in flat]),
                     config=cfg, key=jax.random.key(seed), progress=progress, desc="students")
    out, i = [], 0
    for method, es in teachers:
        students = []
        for e in es:
            st = ParamSamples(res.graphdef, jax.tree.map(lambda a, i=i: a[i : i + 1], res.params))
            (se,) = evaluate_members([st], ds, key=eval_key, grid=grid, ref=ref)
            se["row"]["kl_teacher"] = max(float(kl_divergence(e["test"], se["test"])), 0.0)
            se["row"]["agreement_teacher"] = float(agreement(e["test"], se["test"]))
            students.append(se)
            i += 1
        out.append((method, students))
    return out


def labelled_rows(groups: Mapping[str, list], *, seed: int,
                  map_test: np.ndarray | None = None) -> tuple[list[dict], dict]:
    """``(rows, maps)`` of ``{role: [(method, entries)]}``: each entry's row under its keys
    ``method, role, seed, member`` (teachers also ``kl_map``: KL(teacher || MAP) on the test
    set, how far it moved from the MAP it may start from) and member 0's plane maps
    ``{(method, role): maps}``."""
    rows, maps = [], {}
    for role, group in groups.items():
        for method, entries in group:
            for member, e in enumerate(entries):
                row = {"method": method, "role": role, "seed": seed, "member": member} | e["row"]
                if role == "teacher" and map_test is not None:
                    row["kl_map"] = max(float(kl_divergence(e["test"], map_test)), 0.0)
                rows.append(row)
                if member == 0 and "maps" in e:
                    maps[(method, role)] = e["maps"]
    return rows, maps

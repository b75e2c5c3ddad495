r"""``train_kd``: bayeskd's compiled trainer against a PyTorch eager loop and a per-step jit loop.

One KD student (MLP 40-100-100-10) on MNIST-1D, Adam, batch 100, 6,000 steps, loss
:math:`(1-\alpha)\,\mathrm{CE}(y) + \alpha T^2 \mathrm{KL}(p_t^{(T)} \| p_s^{(T)})` against the
cached teacher's log-probabilities (:math:`\alpha = 0.9`, :math:`T = 4`). Three ways to train it:

``bayeskd``
    :func:`bayeskd.training.fit` with ``eval_every = steps``: all 6,000 steps in one compiled
    ``lax.scan`` (one chunk, so one compilation and one dispatch).
``torch_eager``
    the same training as a plain PyTorch loop (CPU build): per step ``torch.randint`` indices,
    forward, loss, ``backward()``, ``Adam.step()``. It runs with one intra-op thread
    (``torch_threads=1``): a 100-wide layer at batch 100 gains nothing from more, and on a
    machine shared with other jobs PyTorch's default OpenMP threads spin and wait, which made
    the loop more than ten times slower in our runs, a handicap we do not want to measure.
``nnx_jit_step``
    the Flax tutorial loop: ``nnx.Optimizer`` and an ``@nnx.jit`` ``train_step(model,
    optimizer, batch)`` called 6,000 times from Python with NumPy-sampled batches.

All three start from the same initial weights (one NNX initialisation, copied into the PyTorch
module, so the same init scale), draw i.i.d. minibatch indices with replacement, and use Adam
with the same learning rate and epsilon. Each repetition's wall time runs from building the
model to the trained weights: it includes every compilation (JAX's caches are cleared before
each JAX run, as in a fresh process) and excludes evaluation; test accuracy is checked
afterwards. For the JAX loops the number of XLA compilations and their seconds are recorded
(:func:`~bayeskd.bench._common.compile_stats`), which is where the time of short runs goes.

The targets compare cold runs, compilation included, measured in the same rounds:
``torch_eager_ratio`` (PyTorch eager time over bayeskd's, target >= 3) and
``nnx_jit_loop_ratio`` (the per-step ``nnx.jit`` loop's time over bayeskd's, target >= 4.5).
``cold_cache_s`` is bayeskd's cold time and ``warm_cache_s`` the time of the same ``fit`` in a
fresh process whose compiled programs come from a warm persistent compilation cache
(``bayeskd_cached``, :func:`bayeskd.enable_compile_cache`; measured unless the cache is switched
off). ``bayeskd_jit_init`` (fit's chunk program after a jitted member initialisation) runs in the
same rounds for information.
"""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from bayeskd.bench._common import (
    CompiledRun,
    KDProblem,
    alternate,
    check_size,
    compile_stats,
    kd_prior,
    kd_problem,
    load_average,
    median,
    target,
)
from bayeskd.losses import softmax_cross_entropy
from bayeskd.priors import objective
from bayeskd.training import TrainConfig, fit, predict_logits, split_params

COMPETITORS = ("bayeskd", "torch_eager", "nnx_jit_step")
INFORMATIONAL = ("bayeskd_jit_init", "bayeskd_cached")  # measured alongside, not part of the targets


@dataclasses.dataclass(frozen=True)
class TrainKDSettings:
    steps: int = 6000
    batch_size: int = 100
    learning_rate: float = 1e-2
    alpha: float = 0.9
    temperature: float = 4.0
    repeats: int = 5
    warmup: bool = True
    torch_threads: int | None = 1  # None: PyTorch's default (one per core)
    informational: bool = True  # also time bayeskd_jit_init
    compile_cache: bool = True  # also time fit with a warm persistent cache (warm_cache_s)
    fresh_caches: bool = True  # clear JAX's caches before every JAX run (compilation included)


SETTINGS = {"full": TrainKDSettings(),
            "smoke": TrainKDSettings(steps=40, batch_size=16, repeats=1, warmup=False,
                                     fresh_caches=False, informational=False,
                                     compile_cache=False)}
TORCH_TARGET = 3.0  # torch_eager_ratio >= 3: PyTorch eager time / bayeskd time, cold
NNX_TARGET = 4.5  # nnx_jit_loop_ratio >= 4.5: per-step nnx.jit loop time / bayeskd time, cold


def initial_params(problem: KDProblem, seed: int = 0):
    """``(graphdef, params)`` of one NNX initialisation that every competitor starts from."""
    return split_params(problem.model_fn(jax.random.key(seed)))


# ------------------------------------------------------------------------------------------
# bayeskd
# ------------------------------------------------------------------------------------------


def run_bayeskd(problem: KDProblem, s: TrainKDSettings, *, seed: int = 0) -> dict[str, Any]:
    """:func:`fit` from the shared initial weights; wall time of the ``fit`` call."""
    _, params = initial_params(problem, seed)
    config = TrainConfig(steps=s.steps, batch_size=s.batch_size, learning_rate=s.learning_rate,
                         eval_every=s.steps)
    stacked = jax.tree.map(lambda a: a[None], params)
    if s.fresh_caches:
        jax.clear_caches()
    with compile_stats() as cs:
        t0, c0 = time.perf_counter(), time.process_time()
        res = fit(problem.model_fn, problem.fit_data,
                  prior=kd_prior(problem, alpha=s.alpha, temperature=s.temperature), config=config,
                  key=jax.random.key(seed), init_params=stacked, progress=False)
        jax.block_until_ready(res.params)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
    logits = predict_logits(res.graphdef, jax.tree.map(lambda a: a[0], res.params),
                            problem.ds.x_test)
    return {"_time_s": dt, "_cpu_s": dc, "accuracy": _accuracy(logits, problem.ds.y_test)} | cs


def run_bayeskd_jit_init(problem: KDProblem, s: TrainKDSettings, *,
                         seed: int = 0) -> dict[str, Any]:
    """Informational: ``fit``'s compiled chunk with the member initialisation under one ``jit``.

    ``fit`` initialises members eagerly (every ``truncated_normal`` of every layer shape is its
    own XLA compilation, once batched and once more for the dropout check); this variant runs
    the same chunk program (:class:`~bayeskd.bench._common.CompiledRun`) after a jitted init,
    to measure what that change to the trainer would save.
    """
    if s.fresh_caches:
        jax.clear_caches()
    with compile_stats() as cs:
        t0, c0 = time.perf_counter(), time.process_time()
        prog = CompiledRun(problem, kd_prior(problem, alpha=s.alpha, temperature=s.temperature),
                           members=1, steps=s.steps, batch_size=s.batch_size,
                           learning_rate=s.learning_rate)
        state = prog.init_state(jax.random.key(seed))
        prog.compile(state)
        final, _ = prog(state)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
    logits = predict_logits(prog.graphdef, jax.tree.map(lambda a: a[0], final.params),
                            problem.ds.x_test)
    return {"_time_s": dt, "_cpu_s": dc, "accuracy": _accuracy(logits, problem.ds.y_test)} | cs


# Child process for the persistent-cache variant: fit in a fresh process whose compiled
# programs come from (or go to) JAX's on-disk compilation cache.
_CACHE_CHILD = """
import dataclasses, json, sys
from bayeskd.cache import enable_compile_cache
enable_compile_cache(sys.argv[1])
from bayeskd.bench import _common, train_kd
size, overrides = json.loads(sys.argv[2])
s = dataclasses.replace(train_kd.SETTINGS[size], **overrides)
problem = _common.kd_problem(size=size, log=lambda *a: None)
r = train_kd.run_bayeskd(problem, s)
print(json.dumps({k: v for k, v in r.items() if isinstance(v, int | float)}))
"""


def persistent_cache_competitor(size: str, s: TrainKDSettings, cache_dir: str):
    """Informational: ``fit`` in a fresh process with JAX's persistent compilation cache.

    The first call (the warm-up round) fills ``cache_dir``; later calls load every compiled
    program from disk, as a second ``python train.py`` would. Timed inside the child, over the
    same span as :func:`run_bayeskd` (interpreter start-up and imports excluded).
    """
    import json
    import os
    import pathlib
    import subprocess
    import sys

    repo = str(pathlib.Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [repo, env.get("PYTHONPATH")]))
    overrides = {k: v for k, v in dataclasses.asdict(s).items()
                 if v != getattr(SETTINGS[size], k)} | {"fresh_caches": False}

    def go() -> dict[str, Any]:
        out = subprocess.run([sys.executable, "-c", _CACHE_CHILD, cache_dir,
                              json.dumps([size, overrides])],
                             env=env, capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        return {"_time_s": r["_time_s"], "_cpu_s": r["_cpu_s"], "accuracy": r["accuracy"],
                "compiles": r.get("compiles", 0), "compile_s": r.get("compile_s", 0.0)}

    return go


# ------------------------------------------------------------------------------------------
# Flax tutorial loop: nnx.Optimizer + @nnx.jit train_step, one Python call per step
# ------------------------------------------------------------------------------------------


def nnx_step_fn(prior):
    """The tutorial's ``train_step(model, optimizer, batch) -> loss``, jitted with ``nnx.jit``."""

    @nnx.jit
    def train_step(model, optimizer, batch):
        def loss_fn(model):
            logits = model(batch["x"])
            nll = softmax_cross_entropy(logits, batch["y"])
            return objective(nll, prior, None, logits, batch)

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        optimizer.update(model, grads)
        return loss

    return train_step


def run_nnx_jit_step(problem: KDProblem, s: TrainKDSettings, *, seed: int = 0) -> dict[str, Any]:
    if s.fresh_caches:
        jax.clear_caches()
    with compile_stats() as cs:
        t0, c0 = time.perf_counter(), time.process_time()
        model = problem.model_fn(jax.random.key(seed))  # the same weights as initial_params
        optimizer = nnx.Optimizer(model, optax.adam(s.learning_rate), wrt=nnx.Param)
        train_step = nnx_step_fn(kd_prior(problem, alpha=s.alpha, temperature=s.temperature))
        rng = np.random.default_rng(seed + 1)
        n = len(problem.data["y"])
        arrays = problem.fit_data | {"index": np.arange(n, dtype=np.int32)}
        loss = None
        for _ in range(s.steps):
            idx = rng.integers(0, n, s.batch_size)
            loss = train_step(model, optimizer, {k: v[idx] for k, v in arrays.items()})
        jax.block_until_ready((loss, nnx.state(model)))
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
    return {"_time_s": dt, "_cpu_s": dc, "accuracy": _accuracy(model(jnp.asarray(problem.ds.x_test)),
                                                 problem.ds.y_test)} | cs


# ------------------------------------------------------------------------------------------
# PyTorch eager loop
# ------------------------------------------------------------------------------------------


def torch_model(problem: KDProblem, params):
    """A ``torch.nn.Sequential`` MLP holding the NNX parameters ``params`` (kernels transposed)."""
    import torch

    hidden = params["hidden"]
    layers = [*(hidden[i] for i in sorted(hidden.keys())), params["head"]]
    mods: list = []
    for i, layer in enumerate(layers):
        kernel = np.asarray(layer["kernel"][...])
        lin = torch.nn.Linear(kernel.shape[0], kernel.shape[1])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(kernel.T.copy()))
            lin.bias.copy_(torch.from_numpy(np.asarray(layer["bias"][...]).copy()))
        mods.append(lin)
        if i < len(layers) - 1:
            mods.append(torch.nn.ReLU())
    return torch.nn.Sequential(*mods)


def torch_kd_loss(logits, y, teacher_logp, *, alpha: float, temperature: float):
    """``(1-alpha) CE(y) + alpha T^2 KL(p_t^T || p_s^T)``, batch means, in PyTorch."""
    import torch.nn.functional as F

    ce = F.cross_entropy(logits, y)
    t_logp = F.log_softmax(teacher_logp / temperature, dim=-1)
    s_logp = F.log_softmax(logits / temperature, dim=-1)
    kl = (t_logp.exp() * (t_logp - s_logp)).sum(-1).mean()
    return (1.0 - alpha) * ce + alpha * temperature**2 * kl


def run_torch_eager(problem: KDProblem, s: TrainKDSettings, *, seed: int = 0) -> dict[str, Any]:
    import torch

    _, params = initial_params(problem, seed)
    x = torch.from_numpy(problem.data["x"])
    y = torch.from_numpy(problem.data["y"].astype(np.int64))
    t = torch.from_numpy(problem.data["teacher_logp"])
    threads = torch.get_num_threads()
    if s.torch_threads is not None:
        torch.set_num_threads(s.torch_threads)
    t0, c0 = time.perf_counter(), time.process_time()
    model = torch_model(problem, params)
    opt = torch.optim.Adam(model.parameters(), lr=s.learning_rate, eps=1e-8)
    gen = torch.Generator().manual_seed(seed + 1)
    n = x.shape[0]
    for _ in range(s.steps):
        idx = torch.randint(0, n, (s.batch_size,), generator=gen)
        loss = torch_kd_loss(model(x[idx]), y[idx], t[idx], alpha=s.alpha,
                             temperature=s.temperature)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    torch.set_num_threads(threads)
    with torch.no_grad():
        logits = model(torch.from_numpy(np.asarray(problem.ds.x_test, np.float32))).numpy()
    return {"_time_s": dt, "_cpu_s": dc, "accuracy": _accuracy(logits, problem.ds.y_test)}


def _accuracy(logits, y) -> float:
    return float(np.mean(np.argmax(np.asarray(logits), -1) == np.asarray(y)))


def initial_losses(problem: KDProblem, s: TrainKDSettings, *, seed: int = 0,
                   batch_size: int = 64) -> dict[str, float]:
    """The loss of the shared initial weights on one batch, computed by each implementation.

    Equal values show that the three competitors optimise the same objective from the same start.
    """
    graphdef, params = initial_params(problem, seed)
    batch = {k: v[:batch_size] for k, v in problem.data.items()}
    batch["index"] = np.arange(batch_size, dtype=np.int32)
    prior = kd_prior(problem, alpha=s.alpha, temperature=s.temperature)
    model = nnx.merge(graphdef, params)
    logits = model(jnp.asarray(batch["x"]))
    out = {"nnx": float(objective(softmax_cross_entropy(logits, batch["y"]), prior, None, logits,
                                  {k: jnp.asarray(v) for k, v in batch.items()}))}
    try:
        import torch
    except ImportError:
        return out
    tm = torch_model(problem, params)
    with torch.no_grad():
        out["torch"] = float(torch_kd_loss(
            tm(torch.from_numpy(batch["x"])), torch.from_numpy(batch["y"].astype(np.int64)),
            torch.from_numpy(batch["teacher_logp"]), alpha=s.alpha, temperature=s.temperature))
    return out


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def named_times(rows: dict[str, dict]) -> dict[str, float | None]:
    """The headline numbers under fixed names (``None`` where the side was not measured).

    ``torch_eager_ratio`` and ``nnx_jit_loop_ratio`` are the other loop's median time over
    bayeskd's (both cold, compilation included, from the same rounds); ``cold_cache_s`` is
    bayeskd's median time, ``warm_cache_s`` that of ``fit`` loading its programs from a warm
    persistent compilation cache.
    """
    def time_of(name):
        return rows[name]["time_s"] if name in rows else None

    base = time_of("bayeskd")
    torch, nnx_loop = time_of("torch_eager"), time_of("nnx_jit_step")
    return {"torch_eager_ratio": None if torch is None else torch / base,
            "nnx_jit_loop_ratio": None if nnx_loop is None else nnx_loop / base,
            "cold_cache_s": base, "warm_cache_s": time_of("bayeskd_cached")}


def run(*, size: str = "full", repeats: int | None = None, problem: KDProblem | None = None,
        log=print, **overrides) -> dict[str, Any]:
    """Run the benchmark; returns settings, per-competitor times and accuracies, and targets."""
    check_size(size)
    s = dataclasses.replace(SETTINGS[size], **overrides)
    if repeats is not None:
        s = dataclasses.replace(s, repeats=repeats)
    problem = problem or kd_problem(size=size, log=log)
    load_before = load_average()
    competitors = {"bayeskd": lambda: run_bayeskd(problem, s),
                   "nnx_jit_step": lambda: run_nnx_jit_step(problem, s)}
    if torch_available():
        competitors["torch_eager"] = lambda: run_torch_eager(problem, s)
    else:
        log("[bench] train_kd: torch is not installed (pip install 'bayeskd[bench]'); "
            "skipping the PyTorch loop")
    with contextlib.ExitStack() as stack:
        if s.informational:
            competitors["bayeskd_jit_init"] = lambda: run_bayeskd_jit_init(problem, s)
        if s.compile_cache and problem.teacher != "bayes":  # a cached problem a child rebuilds
            cache_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="jaxcache-"))
            competitors["bayeskd_cached"] = persistent_cache_competitor(size, s, cache_dir)
        times, last, cpu = alternate(competitors, repeats=s.repeats, warmup=s.warmup)
    rows = {}
    for name in competitors:
        t = median(times[name])
        rows[name] = {"time_s": t, "times_s": times[name], "steps_per_s": s.steps / t,
                      "cpu_s": median(cpu[name]), "accuracy": last[name]["accuracy"]}
        for k in ("compiles", "compile_s", "trace_s", "lower_s"):  # JAX loops, last round
            if k in last[name]:
                rows[name][k] = last[name][k]
        comp = (f"  {rows[name]['compiles']} XLA compilations, {rows[name]['compile_s']:.1f} s"
                if "compiles" in rows[name] else "")
        log(f"[bench] train_kd {name:16s} {t:8.2f} s  {s.steps / t:9.0f} steps/s  "
            f"accuracy {last[name]['accuracy']:.4f}{comp}")
    ratios, cpu_ratios = {}, {}
    for ref in ("bayeskd", *INFORMATIONAL):
        for name in rows:
            if ref in rows and name not in ("bayeskd", *INFORMATIONAL):
                ratios[f"{name}_over_{ref}"] = rows[name]["time_s"] / rows[ref]["time_s"]
                cpu_ratios[f"{name}_over_{ref}"] = rows[name]["cpu_s"] / rows[ref]["cpu_s"]
    accs = [r["accuracy"] for n, r in rows.items() if n not in INFORMATIONAL]
    targets = [
        target("torch eager / bayeskd time", ratios.get("torch_eager_over_bayeskd"), TORCH_TARGET,
               op=">=", unit="x", note="torch_eager_ratio: cold, compilation included"),
        target("nnx.jit per-step / bayeskd time", ratios["nnx_jit_step_over_bayeskd"], NNX_TARGET,
               op=">=", unit="x", note="nnx_jit_loop_ratio: cold, compilation included"),
        target("accuracy spread (max - min)", max(accs) - min(accs), 0.03,
               note="all competitors reach similar test accuracy"),
        target("torch eager / bayeskd, CPU seconds", cpu_ratios.get("torch_eager_over_bayeskd"),
               TORCH_TARGET, op=">=", unit="x",
               note="informational: CPU time moves less with load"),
        target("nnx.jit per-step / bayeskd, CPU seconds",
               cpu_ratios["nnx_jit_step_over_bayeskd"], NNX_TARGET, op=">=", unit="x",
               note="informational"),
    ]
    if "bayeskd_cached" in rows:
        targets += [
            target("torch eager / bayeskd_cached time",
                   ratios.get("torch_eager_over_bayeskd_cached"), TORCH_TARGET, op=">=",
                   unit="x", note="informational: fit with a warm persistent compilation cache"),
            target("nnx.jit per-step / bayeskd_cached time",
                   ratios["nnx_jit_step_over_bayeskd_cached"], NNX_TARGET, op=">=", unit="x",
                   note="informational"),
        ]
    if "bayeskd_jit_init" in rows:
        targets += [
            target("torch eager / bayeskd_jit_init time",
                   ratios.get("torch_eager_over_bayeskd_jit_init"), TORCH_TARGET, op=">=",
                   unit="x", note="informational: fit with a jitted member init"),
            target("nnx.jit per-step / bayeskd_jit_init time",
                   ratios["nnx_jit_step_over_bayeskd_jit_init"], NNX_TARGET, op=">=", unit="x",
                   note="informational"),
        ]
    return {
        "benchmark": "train_kd",
        "size": size,
        "settings": dataclasses.asdict(s) | {"eval_every": s.steps, "model": problem.layer_sizes,
                                             "teacher": problem.teacher,
                                             "teacher_accuracy": problem.teacher_accuracy,
                                             "num_train": len(problem.data["y"])},
        "initial_loss": initial_losses(problem, s),
        "results": rows,
        **named_times(rows),
        "ratios": ratios,
        "cpu_ratios": cpu_ratios,
        "targets": targets,
        "load_before": load_before,
        "load_after": load_average(),
    }

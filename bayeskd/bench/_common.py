"""What every benchmark shares: machine details, load, alternating timing, the KD problem.

Timing protocol: the competitors of one benchmark run in the same process, one
warm-up round first, then ``repeats`` rounds in which every competitor runs once, in an order
that rotates from round to round so slow phases of a shared machine hit each of them; the
median over rounds is reported. The 1-minute load average is recorded before and after.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import platform
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from bayeskd import training
from bayeskd.data import Dataset
from bayeskd.experiments import load_job_dataset, train_teacher
from bayeskd.models import ModelFactory
from bayeskd.priors import TeacherPrior
from bayeskd.provenance import cpu_model
from bayeskd.training import TrainConfig, TrainState

BENCH_SIZES = ("smoke", "full")


@dataclasses.dataclass(frozen=True)
class RunSettings:
    """What every compiled-training benchmark sets: run length, optimiser, timing rounds."""

    steps: int = 2000
    batch_size: int = 100
    learning_rate: float = 1e-2
    repeats: int = 5
    warmup: bool = True
    fresh_caches: bool = True  # clear JAX's caches before compiling


def check_size(size: str) -> None:
    if size not in BENCH_SIZES:
        raise ValueError(f"size: unknown {size!r}; choose one of: {', '.join(BENCH_SIZES)}")


def load_average() -> list[float]:
    """The 1, 5 and 15-minute load averages (``os.getloadavg``), rounded."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover - not on Linux/macOS
        return []


def machine_info() -> dict[str, Any]:
    """The machine and software the numbers come from."""
    import flax
    import jaxlib
    import optax

    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "flax": flax.__version__,
        "optax": optax.__version__,
        "backend": jax.default_backend(),
        "device": str(jax.devices()[0].device_kind),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        info["torch"] = None
    try:
        with open("/proc/meminfo") as f:
            info["memory_gib"] = round(int(f.readline().split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    return info


def alternate(
    competitors: Mapping[str, Callable[[], Any]], *, repeats: int, warmup: bool = True
) -> tuple[dict[str, list[float]], dict[str, Any], dict[str, list[float]]]:
    """Time each competitor ``repeats`` times, alternating, after one warm-up round.

    Each callable runs one complete measured unit and returns either a value (its wall time is
    measured here) or a dict with ``"_time_s"`` and ``"_cpu_s"`` (it timed itself, e.g. to leave
    evaluation out). Round ``r`` starts with competitor ``r mod n`` so no one always goes first.
    Besides wall time, the process CPU time (all threads) is kept: on a machine shared with
    other jobs it moves much less than wall time.

    Returns:
      ``(times, last, cpu)``: wall seconds per competitor, each one's last return value, and
      process CPU seconds per competitor.
    """
    names = list(competitors)
    times: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    last: dict[str, Any] = {}
    rounds = ([-1] if warmup else []) + list(range(repeats))
    for r in rounds:
        order = names[r % len(names):] + names[: r % len(names)] if r >= 0 else names
        for name in order:
            t0, c0 = time.perf_counter(), time.process_time()
            out = competitors[name]()
            dt, dc = time.perf_counter() - t0, time.process_time() - c0
            if isinstance(out, dict) and "_time_s" in out:
                dt, dc = out["_time_s"], out.get("_cpu_s", dc)
            last[name] = out
            if r >= 0:
                times[name].append(dt)
                cpu[name].append(dc)
    return times, last, cpu


@contextlib.contextmanager
def compile_stats():
    """Count XLA compilations and their seconds (and tracing / lowering seconds) in a block.

    Uses :mod:`jax.monitoring`'s duration events, so every compilation counts: whole-program
    ``jit`` calls and the small programs of eagerly dispatched operations alike.
    """
    stats = {"compiles": 0, "compile_s": 0.0, "trace_s": 0.0, "lower_s": 0.0}

    def listener(event: str, duration: float, **_: Any) -> None:
        if event.endswith("/backend_compile_duration"):
            stats["compiles"] += 1
            stats["compile_s"] += duration
        elif event.endswith("/jaxpr_trace_duration"):
            stats["trace_s"] += duration
        elif event.endswith("/jaxpr_to_mlir_module_duration"):
            stats["lower_s"] += duration

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield stats
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


def median(xs: Sequence[float]) -> float:
    return float(statistics.median(xs))


def target(name: str, value: float | None, bound: float, *, op: str = "<=", unit: str = "",
           note: str = "") -> dict[str, Any]:
    """One target check: ``value op bound``; ``met`` is ``None`` when the value is missing."""
    if value is None or not np.isfinite(value):
        met = None
    else:
        met = bool(value <= bound) if op == "<=" else bool(value >= bound)
    return {"target": name, "value": value, "bound": bound, "op": op, "unit": unit, "met": met,
            "note": note}


def matmul_rate(n: int = 2048, *, repeats: int = 5) -> dict[str, float]:
    """The machine's dense float32 matmul rate: ``2 n^3 / t`` for a jitted ``[n,n] @ [n,n]``."""
    k1, k2 = jax.random.split(jax.random.key(0))
    a = jax.random.normal(k1, (n, n), jnp.float32)
    b = jax.random.normal(k2, (n, n), jnp.float32)
    f = jax.jit(jnp.matmul)
    jax.block_until_ready(f(a, b))
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(f(a, b))
        ts.append(time.perf_counter() - t0)
    t = median(ts)
    return {"n": n, "time_s": t, "flops_per_s": 2.0 * n**3 / t, "best_flops_per_s": 2.0 * n**3 / min(ts)}


# --------------------------------------------------------------------------------------------
# The KD problem: MNIST-1D, a cached teacher's log-probabilities, the 40-100-100-10 student.
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class KDProblem:
    """Training arrays (numpy) with teacher log-probabilities, the test split, and the student."""

    ds: Dataset
    data: dict[str, np.ndarray]  # x [N, D], y [N], label_mask [N], teacher_logp [N, K]
    hidden: tuple[int, ...]
    teacher: str
    teacher_accuracy: float

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        return (int(self.ds.x_train.shape[1]), *self.hidden, int(self.ds.num_classes))

    @property
    def model_fn(self) -> ModelFactory:
        """``key -> module``: the student MLP with hidden sizes ``hidden``."""
        return ModelFactory("mlp", tuple(self.ds.x_train.shape[1:]), self.ds.num_classes,
                            (("hidden", tuple(self.hidden)),))

    @property
    def fit_data(self) -> dict[str, np.ndarray]:
        """The training arrays ``fit`` takes (the teacher lives in the prior's table)."""
        return {k: self.data[k] for k in ("x", "y", "label_mask")}

    def matmul_flops_per_step(self, batch_size: int) -> float:
        """Dense matmul FLOPs of one training step of one member (forward + backward).

        Forward ``2 B sum_l in_l out_l``; backward the same again for the weight gradients and for
        the input gradients of every layer but the first (the data needs no gradient).
        """
        sizes = self.layer_sizes
        macs = [a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
        return 2.0 * batch_size * (2 * sum(macs) + sum(macs[1:]))


def kd_problem(*, size: str, hidden: tuple[int, ...] = (100, 100), log=print) -> KDProblem:
    """MNIST-1D with a teacher trained once and cached on disk (not part of any timing).

    ``full``: the default 4,000 / 1,000 split and the 1-D CNN teacher with the MNIST-1D recipe
    (Adam 1e-2, batch 100, 6,000 steps); ``smoke``: 300 training examples and a 30-unit MLP
    teacher trained for 50 steps.
    """
    check_size(size)
    ds = load_job_dataset("mnist1d")
    if size == "smoke":
        ds = ds.take(num_train=300, num_test=200)
        teacher, steps = "mlp-small", 50
    else:
        teacher, steps = "cnn", 6000
    t0 = time.perf_counter()
    trained: list[str] = []
    out = train_teacher(ds, model=teacher, steps=steps, progress=False, log=trained.append)
    acc = float(np.mean(np.argmax(out.logp_test[0], -1) == ds.y_test))
    log(f"[bench] teacher {teacher}: test accuracy {acc:.4f} "
        f"({f'trained in {time.perf_counter() - t0:.0f} s' if trained else 'cached'})")
    n = len(ds.x_train)
    data = {
        "x": np.asarray(ds.x_train, np.float32),
        "y": np.asarray(ds.y_train, np.int32),
        "label_mask": np.ones((n,), np.float32),
        "teacher_logp": np.asarray(out.logp_train[0], np.float32),
    }
    return KDProblem(ds, data, tuple(hidden), teacher, acc)


def toy_problem(*, num_train: int = 256, num_test: int = 256, dim: int = 8, classes: int = 3,
                hidden: tuple[int, ...] = (16,), seed: int = 0) -> KDProblem:
    """A small Gaussian-class problem whose teacher is the exact Bayes posterior (for tests).

    Class means are drawn once; inputs are ``mean_y + N(0, I)``; with equal, isotropic class
    covariances the posterior log-probabilities are ``x . mu_k - |mu_k|^2 / 2`` up to a constant.
    """
    rng = np.random.default_rng(seed)
    means = rng.normal(0.0, 1.5, (classes, dim))

    def draw(n):
        y = rng.integers(0, classes, n)
        return (means[y] + rng.standard_normal((n, dim))).astype(np.float32), y.astype(np.int32)

    x, y = draw(num_train)
    xt, yt = draw(num_test)

    def logp(a):
        from scipy.special import log_softmax

        return log_softmax(a @ means.T - 0.5 * np.sum(means**2, axis=1), axis=1).astype(np.float32)

    ds = Dataset("toy", x, y, xt, yt, classes)
    acc = float(np.mean(np.argmax(logp(xt), -1) == yt))
    data = {"x": x, "y": y, "label_mask": np.ones((num_train,), np.float32), "teacher_logp": logp(x)}
    return KDProblem(ds, data, tuple(hidden), "bayes", acc)


class CompiledRun(training.CompiledRun):
    """:func:`bayeskd.training.fit`'s own programs on a KD problem, compiled ahead of time.

    ``M`` members train in one ``vmap``-ed ``lax.scan`` of ``steps`` steps: exactly the program
    ``fit`` runs with ``eval_every = steps`` (:class:`bayeskd.training.CompiledRun`), so
    compilation and execution are timed apart. With ``prior_axis=0`` the prior's leaves are
    stacked ``[M]`` and member ``m`` trains under prior ``m``; the prior is an argument of the
    program, so one compilation serves every hyperparameter value of the same shape.
    """

    def __init__(self, problem: KDProblem, prior, *, members: int, steps: int, batch_size: int,
                 learning_rate: float, prior_axis: int | None = None):
        config = TrainConfig(steps=steps, batch_size=batch_size, learning_rate=learning_rate,
                             eval_every=steps)
        super().__init__(problem.model_fn, problem.fit_data, prior=prior, config=config,
                         num_members=members, prior_axis=prior_axis)
        self.problem, self.members, self.steps = problem, members, steps
        self.compiled = None

    def init_state(self, key: jax.Array) -> TrainState:
        """Fresh parameters and optimiser state for the ``M`` members, in one jitted call."""
        return jax.block_until_ready(super().init_state(key))

    def compile(self, state: TrainState) -> dict[str, float]:
        """Trace, lower and compile; returns the seconds of each phase."""
        t0 = time.perf_counter()
        lowered = self.lower(state, self.steps)
        t1 = time.perf_counter()
        self.compiled = lowered.compile()
        t2 = time.perf_counter()
        return {"lower_s": t1 - t0, "compile_s": t2 - t1}

    def __call__(self, state: TrainState, prior=None) -> tuple[TrainState, jax.Array]:
        """Run the ``steps`` steps; returns the final state and the losses ``[M, steps]``."""
        return jax.block_until_ready(
            self.compiled(state, self.data, self.prior if prior is None else prior))


def member_slice(state: TrainState, m: int) -> TrainState:
    """Member ``m`` of a stacked state, keeping a member axis of length 1."""
    return jax.tree.map(lambda a: a[m : m + 1], state)


def timed(fn, *args):
    """``(result, seconds)`` of ``fn(*args)`` (results are blocked on)."""
    out, dt, _ = timed_cpu(fn, *args)
    return out, dt


def timed_cpu(fn, *args):
    """``(result, wall seconds, process CPU seconds)`` of ``fn(*args)`` (blocked on)."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = jax.block_until_ready(fn(*args))
    return out, time.perf_counter() - t0, time.process_time() - c0


def kd_prior(problem: KDProblem, *, alpha: float = 0.9, temperature: float = 4.0) -> TeacherPrior:
    """KD from the problem's teacher table."""
    return TeacherPrior(alpha=alpha, temperature=temperature, table=problem.data["teacher_logp"])

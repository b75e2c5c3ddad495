"""Fused vs naive distillation kernel: XLA temp memory, wall time and peak RSS.

Run ``python -m bayeskd.losses._kernel_bench`` for the default sizes (N=2048, H=256,
V in {8192, 65536}); it prints the report as JSON. On a 2-core CPU it takes a few minutes.
"""

from __future__ import annotations

import json
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np

from bayeskd.losses import fused
from bayeskd.losses.fused import fused_linear_distillation, naive_linear_distillation

__all__ = ["bench_kd_kernel"]

# Child process for peak RSS. It loads fused.py by path (not the bayeskd package, whose
# import pulls in flax and numpyro) and the inputs from an .npz file, reads the peak as the
# baseline (imports + inputs), runs one jitted forward+backward step and reads it again.
# The peak is the kernel's high-water mark VmHWM from /proc/self/status, which starts
# afresh at exec. Not getrusage's ru_maxrss: Linux carries that across fork and exec, so a
# child would report at least the parent's resident size. ru_maxrss is only the fallback
# where /proc is missing.
_RSS_CHILD = """
import importlib.util, json, resource, sys
import jax
import numpy as np

def peak_bytes():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

fused_path, inputs_path, chunk_size, divergence, variant = json.loads(sys.argv[1])
spec = importlib.util.spec_from_file_location("_kd_fused", fused_path)
fused = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fused)
with np.load(inputs_path) as f:
    args = jax.block_until_ready([jax.device_put(f[k]) for k in ("h_s", "w_s", "h_t", "w_t")])
base = peak_bytes()
fn = getattr(fused, variant + "_linear_distillation")
step = jax.jit(jax.value_and_grad(
    lambda *a: fn(*a, divergence=divergence, chunk_size=chunk_size), argnums=(0, 1)))
jax.block_until_ready(step(*args))
print(json.dumps([base, peak_bytes()]))
"""


def _inputs(n: int, hidden: int, vocab: int, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Student and teacher hidden states and heads (float32), scaled so logits are O(1)."""
    rng = np.random.default_rng(seed)
    scale = np.float32(1.0 / np.sqrt(hidden))
    return (
        rng.standard_normal((n, hidden), np.float32),
        rng.standard_normal((hidden, vocab), np.float32) * scale,
        rng.standard_normal((n, hidden), np.float32),
        rng.standard_normal((hidden, vocab), np.float32) * scale,
    )


def _step(variant: str, divergence: str, chunk_size: int):
    """Jitted loss and gradients w.r.t. (h_student, w_student)."""
    fn = fused_linear_distillation if variant == "fused" else naive_linear_distillation
    return jax.jit(
        jax.value_and_grad(
            lambda *a: fn(*a, divergence=divergence, chunk_size=chunk_size), argnums=(0, 1)
        )
    )


def _peak_rss(inputs_path, chunk_size, divergence, variant) -> tuple[int, int]:
    """(baseline, peak) RSS bytes of a fresh process running one ``variant`` step."""
    fused_path = str(pathlib.Path(fused.__file__).resolve())
    cfg = json.dumps([fused_path, str(inputs_path), chunk_size, divergence, variant])
    out = subprocess.run(
        [sys.executable, "-c", _RSS_CHILD, cfg], capture_output=True, text=True, check=True
    )
    base, peak = json.loads(out.stdout.strip().splitlines()[-1])
    return base, peak


def bench_kd_kernel(
    *,
    n: int = 2048,
    hidden: int = 256,
    vocab_sizes: tuple[int, ...] = (8192, 65536),
    repeats: int = 5,
    chunk_size: int = 256,
    divergence: str = "forward_kl",
    measure_rss: bool = True,
) -> dict:
    """Compare :func:`fused_linear_distillation` with :func:`naive_linear_distillation`.

    For each vocabulary size, both variants run one jitted forward+backward step
    (gradients w.r.t. ``h_student`` and ``w_student``; teacher hidden size = ``hidden``):

    * ``*_temp``: XLA temporary buffer bytes from ``compiled.memory_analysis()``.
    * ``*_time``: median wall seconds over ``repeats`` calls after one warm-up call, the
      two variants alternating (and alternating who goes first) to share machine noise.
    * ``*_rss``: peak resident set size (VmHWM) in bytes of a fresh child process that
      imports JAX and ``fused.py``, loads the same inputs and runs one step (compilation
      included); ``baseline_rss`` is the children's peak just before the step (the
      smaller of the two). ``None`` when ``measure_rss=False``.
    * ``*_ratio``: fused / naive for each of the above; ``rss_delta_ratio`` compares the
      peaks above the baseline.
    * ``loss_fused``, ``loss_naive``, ``grad_rel_err`` (relative L2 error of the
      ``w_student`` gradient): a check that the two compute the same thing.

    Returns:
      ``{"n", "hidden", "chunk_size", "divergence", "repeats", "device", "results"}``
      with ``results`` a list of per-vocabulary dicts as above.
    """
    results = []
    for vocab in vocab_sizes:
        arrays = _inputs(n, hidden, vocab)
        args = tuple(jnp.asarray(x) for x in arrays)
        steps = {v: _step(v, divergence, chunk_size) for v in ("fused", "naive")}
        row: dict = {"vocab": vocab}
        outs = {}
        for name, step in steps.items():
            compiled = step.lower(*args).compile()
            row[f"{name}_temp"] = compiled.memory_analysis().temp_size_in_bytes
            outs[name] = jax.block_until_ready(step(*args))  # warm-up
        times: dict[str, list[float]] = {"fused": [], "naive": []}
        for r in range(repeats):
            for name in ("fused", "naive") if r % 2 == 0 else ("naive", "fused"):
                t0 = time.perf_counter()
                jax.block_until_ready(steps[name](*args))
                times[name].append(time.perf_counter() - t0)
        for name in ("fused", "naive"):
            row[f"{name}_time"] = statistics.median(times[name])
        (loss_f, grads_f), (loss_n, grads_n) = outs["fused"], outs["naive"]
        row["loss_fused"], row["loss_naive"] = float(loss_f), float(loss_n)
        gf, gn = np.asarray(grads_f[1], np.float64), np.asarray(grads_n[1], np.float64)
        row["grad_rel_err"] = float(np.linalg.norm(gf - gn) / np.linalg.norm(gn))
        del args, steps, outs, grads_f, grads_n  # free before the children run
        if measure_rss:
            with tempfile.TemporaryDirectory() as tmp:
                path = pathlib.Path(tmp) / "inputs.npz"
                np.savez(path, **dict(zip(("h_s", "w_s", "h_t", "w_t"), arrays, strict=True)))
                bases = []
                for name in ("fused", "naive"):
                    base, row[f"{name}_rss"] = _peak_rss(path, chunk_size, divergence, name)
                    bases.append(base)
            row["baseline_rss"] = min(bases)
        else:
            row["baseline_rss"] = row["fused_rss"] = row["naive_rss"] = None
        for key in ("temp", "time", "rss"):
            f, nv = row[f"fused_{key}"], row[f"naive_{key}"]
            row[f"{key}_ratio"] = None if f is None else f / nv
        if measure_rss:
            base = row["baseline_rss"]
            row["rss_delta_ratio"] = (row["fused_rss"] - base) / max(row["naive_rss"] - base, 1)
        else:
            row["rss_delta_ratio"] = None
        results.append(row)
    return {
        "n": n,
        "hidden": hidden,
        "chunk_size": chunk_size,
        "divergence": divergence,
        "repeats": repeats,
        "device": jax.devices()[0].device_kind,
        "results": results,
    }


if __name__ == "__main__":
    print(json.dumps(bench_kd_kernel(), indent=2))

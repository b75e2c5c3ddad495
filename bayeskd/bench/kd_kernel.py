r"""``kd_kernel``: the chunked fused distillation loss against the naive one.

Forward + backward of :func:`bayeskd.losses.fused.fused_linear_distillation` with
``implementation="chunked"`` and ``"naive"`` (forward KL by default, gradients with respect to
the student's hidden states and head) at ``N = 2048`` tokens, hidden size 256, vocabularies
8,192 and 65,536. :func:`bench_kd_kernel` measures (XLA temporary memory from
``compile().memory_analysis()``, the peak RSS of a fresh process, the median wall time of
alternating runs, and the relative error of the head gradient); :func:`run` adds the targets and
the achieved rates:

* matmul FLOPs :math:`8NHV` (teacher and student logits, and the two gradient products) per
  second;
* bytes per second under a traffic model of the chunked kernel: each of the :math:`N/c` chunks
  reads both heads and reads and writes the head-gradient accumulator,
  :math:`(N/c)\cdot 4HV` floats, plus the hidden states and their gradient, :math:`3NH` floats;
  on a GPU whose peak bandwidth is known (table below) also as a fraction of it.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import subprocess
import sys
import tempfile
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from bayeskd.bench._common import alternate, check_size, load_average, median, target
from bayeskd.losses import fused
from bayeskd.losses.fused import fused_linear_distillation

# Peak memory bandwidth in bytes/s from NVIDIA's data sheets, matched on the device kind.
CARD_BANDWIDTH = (
    ("H200", 4.8e12),
    ("H100 PCIe", 2.0e12),
    ("H100", 3.35e12),  # SXM5 80 GB HBM3
    ("A100-SXM4-80GB", 2.039e12),
    ("A100-PCIE-80GB", 1.935e12),
    ("A100", 1.555e12),  # 40 GB
    ("L4", 0.3e12),
)

GRAD_TOLERANCE = 1e-5  # relative L2 error of the head gradient, as in tests/losses


# The report's names for the two implementations of fused_linear_distillation.
VARIANTS = {"fused": "chunked", "naive": "naive"}


@dataclasses.dataclass(frozen=True)
class KernelSettings:
    n: int = 2048
    hidden: int = 256
    vocab_sizes: tuple[int, ...] = (8192, 65536)
    chunk_size: int = 256
    repeats: int = 5
    measure_rss: bool = True
    divergence: str = "forward_kl"


SETTINGS = {
    "full": KernelSettings(),
    "smoke": KernelSettings(n=64, hidden=16, vocab_sizes=(512,), chunk_size=16, repeats=1,
                            measure_rss=False),
}


# Child process for peak RSS. It imports bayeskd.losses.fused with empty stand-ins for the
# ``bayeskd`` and ``bayeskd.losses`` packages, so their __init__ (which pulls in flax and
# numpyro) does not run and the child holds only JAX, the kernel and the divergence table. It
# loads the inputs from an .npz file, reads the peak as the baseline (imports + inputs), runs
# one jitted forward+backward step and reads it again. The peak is the kernel's high-water mark
# VmHWM from /proc/self/status, which starts afresh at exec. Not getrusage's ru_maxrss: Linux
# carries that across fork and exec, so a child would report at least the parent's resident
# size. ru_maxrss is only the fallback where /proc is missing.
_RSS_CHILD = """
import importlib, json, resource, sys, types
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

package_dir, inputs_path, chunk_size, divergence, implementation = json.loads(sys.argv[1])
for name, path in (("bayeskd", package_dir), ("bayeskd.losses", package_dir + "/losses")):
    stub = types.ModuleType(name)
    stub.__path__ = [path]
    sys.modules[name] = stub
fused = importlib.import_module("bayeskd.losses.fused")
with np.load(inputs_path) as f:
    args = jax.block_until_ready([jax.device_put(f[k]) for k in ("h_s", "w_s", "h_t", "w_t")])
base = peak_bytes()
step = jax.jit(jax.value_and_grad(lambda *a: fused.fused_linear_distillation(
    *a, divergence=divergence, chunk_size=chunk_size, implementation=implementation),
    argnums=(0, 1)))
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


def _step(implementation: str, divergence: str, chunk_size: int):
    """Jitted loss and gradients w.r.t. (h_student, w_student)."""
    return jax.jit(jax.value_and_grad(
        lambda *a: fused_linear_distillation(*a, divergence=divergence, chunk_size=chunk_size,
                                             implementation=implementation),
        argnums=(0, 1)))


def _peak_rss(inputs_path, chunk_size, divergence, implementation) -> tuple[int, int]:
    """(baseline, peak) RSS bytes of a fresh process running one step of ``implementation``."""
    package_dir = str(pathlib.Path(fused.__file__).resolve().parents[1])
    cfg = json.dumps([package_dir, str(inputs_path), chunk_size, divergence, implementation])
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
    """The chunked :func:`~bayeskd.losses.fused.fused_linear_distillation` against the naive one.

    For each vocabulary size, both implementations (``"fused"`` = chunked and ``"naive"`` in
    the report) run one jitted forward+backward step (gradients w.r.t. ``h_student`` and
    ``w_student``; teacher hidden size = ``hidden``):

    * ``*_temp``: XLA temporary buffer bytes from ``compiled.memory_analysis()``.
    * ``*_time``: median wall seconds over ``repeats`` calls after one warm-up call, the
      two alternating (and alternating who goes first) to share machine noise.
    * ``*_rss``: peak resident set size (VmHWM) in bytes of a fresh child process that
      imports JAX and the kernel, loads the same inputs and runs one step (compilation
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
        steps = {name: _step(impl, divergence, chunk_size) for name, impl in VARIANTS.items()}
        row: dict = {"vocab": vocab}
        for name, step in steps.items():
            compiled = step.lower(*args).compile()
            row[f"{name}_temp"] = compiled.memory_analysis().temp_size_in_bytes
        times, outs, _ = alternate(
            {name: (lambda s=step, a=args: jax.block_until_ready(s(*a)))
             for name, step in steps.items()},
            repeats=repeats,
        )
        for name in VARIANTS:
            row[f"{name}_time"] = median(times[name])
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
                for name, impl in VARIANTS.items():
                    base, row[f"{name}_rss"] = _peak_rss(path, chunk_size, divergence, impl)
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


def card_bandwidth(device_kind: str) -> float | None:
    """Peak bandwidth (bytes/s) of a known GPU, else ``None``."""
    for name, bw in CARD_BANDWIDTH:
        if name.lower() in device_kind.lower():
            return bw
    return None


def traffic_bytes(n: int, hidden: int, vocab: int, chunk_size: int) -> float:
    """Bytes the chunked kernel moves under the model in the module docstring (float32)."""
    chunks = -(-n // chunk_size)
    return 4.0 * (chunks * 4 * hidden * vocab + 3 * n * hidden)


def run(*, size: str = "full", repeats: int | None = None, log=print, **overrides) -> dict[str, Any]:
    check_size(size)
    s = dataclasses.replace(SETTINGS[size], **overrides)
    if repeats is not None:
        s = dataclasses.replace(s, repeats=repeats)
    load_before = load_average()
    rep = bench_kd_kernel(n=s.n, hidden=s.hidden, vocab_sizes=s.vocab_sizes, repeats=s.repeats,
                          chunk_size=s.chunk_size, divergence=s.divergence,
                          measure_rss=s.measure_rss)
    device = str(rep.get("device", jax.devices()[0].device_kind))
    peak_bw = card_bandwidth(device) if jax.default_backend() == "gpu" else None
    for row in rep["results"]:
        v = row["vocab"]
        flops = 8.0 * s.n * s.hidden * v
        row["fused_flops_per_s"] = flops / row["fused_time"]
        row["naive_flops_per_s"] = flops / row["naive_time"]
        row["fused_bytes_per_s"] = traffic_bytes(s.n, s.hidden, v, s.chunk_size) / row["fused_time"]
        row["fused_bandwidth_fraction"] = None if peak_bw is None else row["fused_bytes_per_s"] / peak_bw
        rss = "" if row.get("fused_rss") is None else (
            f", peak RSS {row['fused_rss'] / 2**20:.0f} vs {row['naive_rss'] / 2**20:.0f} MiB")
        log(f"[bench] kd_kernel V={v}: temp {row['fused_temp'] / 2**20:.1f} vs "
            f"{row['naive_temp'] / 2**20:.1f} MiB ({100 * row['temp_ratio']:.1f}%), time "
            f"{row['fused_time'] * 1e3:.1f} vs {row['naive_time'] * 1e3:.1f} ms "
            f"(x{row['time_ratio']:.2f}){rss}, grad rel err {row['grad_rel_err']:.1e}")
    big = max(rep["results"], key=lambda r: r["vocab"])
    targets = [
        target(f"temp memory fused/naive at V={big['vocab']}", big["temp_ratio"], 0.15),
        target(f"wall time fused/naive at V={big['vocab']}", big["time_ratio"], 1.2, unit="x"),
        target("head-gradient relative error (all V)",
               max(r["grad_rel_err"] for r in rep["results"]), GRAD_TOLERANCE),
    ]
    return {
        "benchmark": "kd_kernel",
        "size": size,
        "settings": dataclasses.asdict(s),
        "device": device,
        "card_peak_bandwidth": peak_bw,
        "results": rep["results"],
        "raw": {k: v for k, v in rep.items() if k != "results"},
        "targets": targets,
        "load_before": load_before,
        "load_after": load_average(),
    }

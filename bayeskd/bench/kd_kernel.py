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
  on a GPU whose peak bandwidth is known (table below) also as a fraction of it;
* where the time goes (:func:`profile_kd_kernel`, at the largest vocabulary and each of
  ``profile_chunks``): the whole step, its four products alone and its loss and logit gradient
  alone, each against the machine's dense matmul rate, and the fusions of the optimised HLO.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import re
import subprocess
import sys
import tempfile
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from bayeskd.bench._common import alternate, check_size, load_average, matmul_rate, median, target
from bayeskd.losses import fused
from bayeskd.losses.divergences import divergence_value_and_grad
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
    profile_chunks: tuple[int, ...] = (64, 128, 256, 512)  # the breakdown, at the largest V


SETTINGS = {
    "full": KernelSettings(),
    "smoke": KernelSettings(n=64, hidden=16, vocab_sizes=(512,), chunk_size=16, repeats=1,
                            measure_rss=False, profile_chunks=(8, 16)),
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


def _products_only(n: int, hidden: int, chunk: int, w_t):
    """The kernel's four products in the kernel's scan, the loss replaced by ``dz = zs - zt``:
    the time the products alone take at this chunk size (an ablation, not a loss)."""
    dot = fused._dot_f32

    def run(h_s, w_s, h_t):
        def body(dw_HV, x):
            hs_CH, ht_CH = x
            dz_CV = dot(hs_CH, w_s, (1, 0)) - dot(ht_CH, w_t, (1, 0))
            return dw_HV + dot(hs_CH, dz_CV, (0, 0)), dot(dz_CV, w_s, (1, 1))

        split = lambda h: h.reshape(n // chunk, chunk, hidden)  # noqa: E731
        return lax.scan(body, jnp.zeros(w_s.shape, jnp.float32), (split(h_s), split(h_t)))

    return jax.jit(run)


def _loss_only(n: int, chunk: int, divergence: str):
    """The kernel's per-chunk loss and logit gradient (the divergence table's closed form) on
    ``[chunk, V]`` logits, ``n / chunk`` times in a scan, without the products (an ablation)."""

    def run(zs_CV, zt_CV):
        def body(acc, i):
            value_C, grad_CV = divergence_value_and_grad(zt_CV + i, zs_CV - i, name=divergence)
            return acc + jnp.sum(value_C) + jnp.sum(grad_CV[:, 0]), None

        return lax.scan(body, jnp.zeros((), jnp.float32), jnp.arange(n // chunk, dtype=jnp.float32))[0]

    return jax.jit(run)


def fusion_counts(hlo_text: str) -> dict[str, int]:
    """Fusions by kind, and the fused computations that hold each costly elementwise op, in an
    optimised (after-fusion) HLO module's text."""
    kinds = re.findall(r"\bfusion\([^\n]*kind=(k\w+)", hlo_text)
    out = {f"fusions_{k}": kinds.count(k) for k in sorted(set(kinds))}
    for op in ("exponential", "log", "dot", "reduce"):
        out[f"ops_{op}"] = len(re.findall(rf"= \S+ {op}\(", hlo_text))
    return out


def profile_kd_kernel(*, n: int, hidden: int, vocab: int, chunk_sizes: tuple[int, ...],
                      repeats: int, divergence: str, hlo_chunk: int) -> dict[str, Any]:
    r"""Where the chunked kernel's time goes, at each chunk size in ``chunk_sizes``.

    For each chunk size ``c`` (dividing ``n``): the whole value-and-gradient step
    (``kernel_time``), the same scan with only its four products (``products_time``,
    :func:`_products_only`) and the same scan with only the loss and logit gradient on
    ``[c, V]`` logits (``loss_time``, :func:`_loss_only`); each as a fraction of the machine's
    dense matmul rate (:func:`bayeskd.bench._common.matmul_rate`, ``2048^3``) at the kernel's
    :math:`8NHV` FLOPs; the kernel's XLA temporary bytes; and at chunk size ``hlo_chunk`` the
    fusions of the optimised HLO (:func:`fusion_counts`). ``kernel_time ~ products_time +
    loss_time`` says the two do not overlap; ``products_time`` alone bounds the rate the kernel
    can reach at that chunk size.
    """
    arrays = tuple(jnp.asarray(x) for x in _inputs(n, hidden, vocab))
    h_s, w_s, h_t, w_t = arrays
    rate = matmul_rate(repeats=repeats)["flops_per_s"]
    flops = 8.0 * n * hidden * vocab
    rng = np.random.default_rng(1)
    rows = []
    for chunk in chunk_sizes:
        if n % chunk:
            raise ValueError(f"profile_chunks: {chunk} must divide n = {n}")
        step = _step("chunked", divergence, chunk)
        compiled = step.lower(*arrays).compile()
        if chunk == hlo_chunk:
            hlo = compiled.as_text()
        zs, zt = (jnp.asarray(rng.standard_normal((chunk, vocab), np.float32)) for _ in range(2))
        runs = {"kernel": (step, arrays), "products": (_products_only(n, hidden, chunk, w_t),
                                                       (h_s, w_s, h_t)),
                "loss": (_loss_only(n, chunk, divergence), (zs, zt))}
        times, _, _ = alternate({k: (lambda f=f, a=a: jax.block_until_ready(f(*a)))
                                 for k, (f, a) in runs.items()}, repeats=repeats)
        row = {"chunk_size": chunk, "temp_bytes": compiled.memory_analysis().temp_size_in_bytes}
        for k in runs:
            row[f"{k}_time"] = median(times[k])
        row["kernel_matmul_fraction"] = flops / row["kernel_time"] / rate
        row["products_matmul_fraction"] = flops / row["products_time"] / rate
        rows.append(row)
        del runs, zs, zt
    if hlo_chunk not in chunk_sizes:
        hlo = _step("chunked", divergence, hlo_chunk).lower(*arrays).compile().as_text()
    return {"n": n, "hidden": hidden, "vocab": vocab, "divergence": divergence,
            "matmul_flops_per_s": rate, "kernel_flops": flops, "rows": rows,
            "hlo_chunk_size": hlo_chunk, "hlo": fusion_counts(hlo)}


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
    prof = profile_kd_kernel(n=s.n, hidden=s.hidden, vocab=big["vocab"],
                             chunk_sizes=s.profile_chunks, repeats=s.repeats,
                             divergence=s.divergence, hlo_chunk=s.chunk_size)
    for r in prof["rows"]:
        log(f"[bench] kd_kernel V={big['vocab']} chunk {r['chunk_size']}: kernel "
            f"{r['kernel_time']:.3f} s ({100 * r['kernel_matmul_fraction']:.0f}% of the matmul "
            f"rate), products alone {r['products_time']:.3f} s "
            f"({100 * r['products_matmul_fraction']:.0f}%), loss alone {r['loss_time']:.3f} s, "
            f"temp {r['temp_bytes'] / 2**20:.0f} MiB")
    naive_temp = big["naive_temp"]
    fits = [r for r in prof["rows"] if r["temp_bytes"] <= 0.15 * naive_temp]
    best = max(fits or prof["rows"], key=lambda r: r["kernel_matmul_fraction"])
    own = next((r for r in prof["rows"] if r["chunk_size"] == s.chunk_size), None)
    targets = [
        target(f"temp memory fused/naive at V={big['vocab']}", big["temp_ratio"], 0.15),
        target(f"wall time fused/naive at V={big['vocab']}", big["time_ratio"], 1.2, unit="x"),
        target("head-gradient relative error (all V)",
               max(r["grad_rel_err"] for r in rep["results"]), GRAD_TOLERANCE),
        target(f"kernel rate / matmul rate, chunk {s.chunk_size}",
               None if own is None else own["kernel_matmul_fraction"], 0.5, op=">="),
        target(f"kernel rate / matmul rate, best chunk ({best['chunk_size']}) with temp <= 15% "
               "of naive", best["kernel_matmul_fraction"], 0.5, op=">="),
    ]
    return {
        "benchmark": "kd_kernel",
        "size": size,
        "settings": dataclasses.asdict(s),
        "device": device,
        "card_peak_bandwidth": peak_bw,
        "results": rep["results"],
        "raw": {k: v for k, v in rep.items() if k != "results"},
        "profile": prof,
        "targets": targets,
        "load_before": load_before,
        "load_after": load_average(),
    }

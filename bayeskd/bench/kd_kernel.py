r"""``kd_kernel``: the chunked fused distillation loss against the naive one.

Forward + backward of :func:`bayeskd.losses.fused.fused_linear_distillation` and
:func:`~bayeskd.losses.fused.naive_linear_distillation` (forward KL, gradients with respect to
the student's hidden states and head) at ``N = 2048`` tokens, hidden size 256, vocabularies
8,192 and 65,536. The measurements come from
:func:`bayeskd.losses._kernel_bench.bench_kd_kernel` (XLA temporary memory from
``compile().memory_analysis()``, the peak RSS of a fresh process, the median wall time of
alternating runs, and the relative error of the head gradient); this module adds the targets and
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
from typing import Any

import jax

from bayeskd.bench._common import check_size, load_average, target

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


@dataclasses.dataclass(frozen=True)
class KernelSettings:
    n: int = 2048
    hidden: int = 256
    vocab_sizes: tuple[int, ...] = (8192, 65536)
    chunk_size: int = 256
    repeats: int = 5
    measure_rss: bool = True


SETTINGS = {
    "full": KernelSettings(),
    "smoke": KernelSettings(n=64, hidden=16, vocab_sizes=(512,), chunk_size=16, repeats=1,
                            measure_rss=False),
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
    try:
        from bayeskd.losses._kernel_bench import bench_kd_kernel
    except ImportError as e:
        log(f"[bench] kd_kernel: not available ({e})")
        return {"benchmark": "kd_kernel", "size": size, "status": f"not available: {e}",
                "targets": []}
    load_before = load_average()
    rep = bench_kd_kernel(n=s.n, hidden=s.hidden, vocab_sizes=s.vocab_sizes, repeats=s.repeats,
                          chunk_size=s.chunk_size, measure_rss=s.measure_rss)
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

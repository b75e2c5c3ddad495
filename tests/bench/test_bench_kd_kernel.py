"""kd_kernel at a toy size: targets and achieved rates computed from the kernel report."""

import pytest

from bayeskd.bench import kd_kernel


def test_card_bandwidth_table():
    assert kd_kernel.card_bandwidth("NVIDIA H100 80GB HBM3") == 3.35e12
    assert kd_kernel.card_bandwidth("NVIDIA H100 PCIe") == 2.0e12
    assert kd_kernel.card_bandwidth("NVIDIA H200") == 4.8e12
    assert kd_kernel.card_bandwidth("cpu") is None


def test_traffic_model():
    # 2 chunks, each reading both heads and reading + writing the gradient accumulator.
    assert kd_kernel.traffic_bytes(64, 8, 100, 32) == 4 * (2 * 4 * 8 * 100 + 3 * 64 * 8)


def test_smoke_run_compares_fused_with_naive():
    res = kd_kernel.run(size="smoke", log=lambda *a: None)
    (row,) = res["results"]
    assert row["grad_rel_err"] < kd_kernel.GRAD_TOLERANCE
    # Chunking keeps fewer [N, V] temporaries alive than the plain version.
    assert row["temp_ratio"] < 1.0
    assert row["temp_ratio"] == pytest.approx(row["fused_temp"] / row["naive_temp"])
    s = res["settings"]
    assert row["fused_flops_per_s"] == pytest.approx(
        8 * s["n"] * s["hidden"] * row["vocab"] / row["fused_time"])
    assert res["card_peak_bandwidth"] is None and row["fused_bandwidth_fraction"] is None
    names = [t["target"] for t in res["targets"]]
    assert any("temp memory" in n for n in names) and any("wall time" in n for n in names)


def test_bench_kd_kernel_tiny_with_peak_rss():
    """Both implementations agree, and the peak-RSS children (which import only the kernel) run."""
    report = kd_kernel.bench_kd_kernel(n=24, hidden=8, vocab_sizes=(40,), repeats=2, chunk_size=8,
                                       divergence="skew_kl")
    assert (report["n"], report["hidden"], report["chunk_size"]) == (24, 8, 8)
    assert report["divergence"] == "skew_kl"
    (r,) = report["results"]
    assert r["vocab"] == 40
    assert r["loss_fused"] == pytest.approx(r["loss_naive"], rel=1e-5)
    assert r["grad_rel_err"] < kd_kernel.GRAD_TOLERANCE
    for key in ("temp", "time", "rss"):
        f, nv = r[f"fused_{key}"], r[f"naive_{key}"]
        assert f > 0 and nv > 0
        assert r[f"{key}_ratio"] == pytest.approx(f / nv)
    assert 0 < r["baseline_rss"] <= min(r["fused_rss"], r["naive_rss"])
    assert r["rss_delta_ratio"] >= 0

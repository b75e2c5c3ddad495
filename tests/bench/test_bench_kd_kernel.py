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


@pytest.fixture(scope="module")
def smoke():
    return kd_kernel.run(size="smoke", log=lambda *a: None)


def test_smoke_run_compares_fused_with_naive(smoke):
    res = smoke
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


def test_smoke_run_profiles_where_the_time_goes(smoke):
    res = smoke
    prof, s = res["profile"], res["settings"]
    assert [r["chunk_size"] for r in prof["rows"]] == list(s["profile_chunks"])
    flops = 8 * s["n"] * s["hidden"] * prof["vocab"]
    assert prof["kernel_flops"] == flops
    for r in prof["rows"]:
        assert r["kernel_time"] > 0 and r["products_time"] > 0 and r["loss_time"] > 0
        assert r["kernel_matmul_fraction"] == pytest.approx(
            flops / r["kernel_time"] / prof["matmul_flops_per_s"])
    assert prof["hlo"]["ops_dot"] >= 4  # the kernel's four products survive fusion
    rate = [t for t in res["targets"] if t["target"].startswith("kernel rate")]
    assert len(rate) == 2 and all(t["op"] == ">=" and t["bound"] == 0.5 for t in rate)


def test_fusion_counts_read_an_optimised_module():
    hlo = """
  %fused_exp = f32[4,8]{1,0} fusion(f32[4,8]{1,0} %p), kind=kLoop, calls=%fc.1
  %e = f32[4,8]{1,0} exponential(f32[4,8]{1,0} %x)
  %l.2 = f32[4,8]{1,0} log(f32[4,8]{1,0} %e)
  %dot.3 = f32[4,4]{1,0} dot(f32[4,8]{1,0} %a, f32[8,4]{1,0} %b), lhs_contracting_dims={1}
  %r = f32[4]{0} reduce(f32[4,8]{1,0} %e, f32[] %z), dimensions={1}, to_apply=%add
  %fused_out = f32[4]{0} fusion(f32[4,8]{1,0} %q), kind=kInput, calls=%fc.2
  %fused_loop = f32[4]{0} fusion(f32[4,8]{1,0} %q), kind=kLoop, calls=%fc.3
"""
    assert kd_kernel.fusion_counts(hlo) == {
        "fusions_kInput": 1, "fusions_kLoop": 2, "ops_exponential": 1, "ops_log": 1,
        "ops_dot": 1, "ops_reduce": 1}

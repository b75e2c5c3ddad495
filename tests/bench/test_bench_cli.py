"""``bayeskd bench``: bad input exits 2 before any work; reproduce_quick records its status."""

import json
import sys

import pytest

from bayeskd.bench import parse_only, reproduce_quick
from bayeskd.cli import main


@pytest.mark.parametrize("extra, needle", [
    (["--only", "nope"], "--only"),
    (["--only", ","], "--only"),
    (["--size", "huge"], "size"),
    (["--repeats", "0"], "--repeats"),
    (["--repeats", "many"], "--repeats"),
])
def test_bad_input_exits_2(extra, needle, capsys):
    assert main(["bench", *extra]) == 2
    lines = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("bayeskd: error:") and needle in lines[0]


def test_json_in_missing_folder_exits_2(tmp_path, capsys):
    target = tmp_path / "missing" / "out.json"
    assert main(["bench", "--only", "kd_kernel", "--json", str(target)]) == 2
    assert "--json" in capsys.readouterr().err
    assert not target.parent.exists()


def test_parse_only_keeps_order_and_drops_duplicates():
    assert parse_only("sweep, train_kd,sweep") == ["sweep", "train_kd"]
    assert parse_only(None)[0] == "train_kd"


def test_reproduce_not_available(monkeypatch):
    monkeypatch.setattr(reproduce_quick, "available", lambda: False)
    res = reproduce_quick.run(size="smoke", log=lambda *a: None)
    assert res["status"] == "not available" and res["targets"] == []


def test_reproduce_times_a_command_once():
    ok = reproduce_quick.run(cmd=[sys.executable, "-c", "pass"], log=lambda *a: None)
    assert ok["status"] == "ok" and ok["wall_s"] > 0
    bad = reproduce_quick.run(cmd=[sys.executable, "-c", "raise SystemExit(3)"], log=lambda *a: None)
    assert bad["status"] == "failed (exit status 3)" and bad["exit_status"] == 3


def test_smoke_run_writes_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--size", "smoke", "--only", "kd_kernel", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert set(res["benchmarks"]) == {"kd_kernel"}
    for key in ("cpu", "cores", "jax", "jaxlib"):
        assert res["machine"][key]
    assert "kd_kernel" in capsys.readouterr().out


def test_out_folder_and_bare_json_write_benchmarks_json(tmp_path, monkeypatch):
    out = tmp_path / "results"
    assert main(["bench", "--size", "smoke", "--only", "kd_kernel", "--out", str(out)]) == 0
    assert set(json.loads((out / "benchmarks.json").read_text())["benchmarks"]) == {"kd_kernel"}
    monkeypatch.chdir(tmp_path)
    assert main(["bench", "--size", "smoke", "--only", "kd_kernel", "--json"]) == 0
    default = tmp_path / "paper_figures" / "bench" / "benchmarks.json"
    assert set(json.loads(default.read_text())["benchmarks"]) == {"kd_kernel"}


def test_json_file_and_out_folder_together_exit_2(tmp_path, capsys):
    assert main(["bench", "--only", "kd_kernel", "--json", str(tmp_path / "a.json"),
                 "--out", str(tmp_path)]) == 2
    assert "--out" in capsys.readouterr().err

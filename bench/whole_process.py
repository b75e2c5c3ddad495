"""Whole processes in turn: bayeskd cold, bayeskd warm and PyTorch eager, each under ``/usr/bin/time -v``.

One pair is three processes on the problem of ``prepare_kd_data.py``:

* ``train_kd_bayeskd.py`` in a fresh ``BAYESKD_CACHE`` (an empty compilation cache: cold),
* ``train_kd_bayeskd.py`` again in the same folder (every program read back from disk: warm),
* ``train_kd_torch.py`` (PyTorch eager, one intra-op thread; the process never loads JAX).

The order of bayeskd and PyTorch alternates from pair to pair so that both share the machine's
drift. For every run the wall time, CPU seconds (user + system), peak RSS (``/usr/bin/time``),
the script's own seconds from its first line to trained weights and its test accuracy are kept.
The ratios PyTorch / bayeskd are taken pair by pair (wall time), and their medians are held to
the targets: at least 2x cold and 3x warm.

    python bench/whole_process.py /tmp/kd_problem.npz --pairs 5 --json paper_figures/bench/benchmarks.json

``--json FILE`` writes the results under the key ``"whole_process"`` of FILE (the rest of the
file, e.g. ``bayeskd bench``'s results, is kept); without it they are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time

# Only this driver loads bayeskd; the processes it times start afresh.
from bayeskd.bench._common import load_average
from bayeskd.io import write_json
from bayeskd.provenance import cpu_model

HERE = pathlib.Path(__file__).resolve().parent
SCRIPTS = {"bayeskd": HERE / "train_kd_bayeskd.py", "torch": HERE / "train_kd_torch.py"}
TARGETS = {"cold": 2.0, "warm": 3.0}  # PyTorch eager wall / bayeskd wall, from process start

# /usr/bin/time -v lines (GNU time)
_TIME_FIELDS = {
    "wall_s": r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)",
    "user_s": r"User time \(seconds\): (\S+)",
    "sys_s": r"System time \(seconds\): (\S+)",
    "rss_kib": r"Maximum resident set size \(kbytes\): (\d+)",
}
_SCRIPT_LINE = re.compile(r"test accuracy ([0-9.]+); ([0-9.]+) s from start to trained weights")


def _clock(text: str) -> float:
    """``h:mm:ss`` or ``m:ss.ss`` -> seconds."""
    out = 0.0
    for part in text.split(":"):
        out = 60.0 * out + float(part)
    return out


def parse_time(stderr: str, stdout: str) -> dict:
    """The measured fields of one ``/usr/bin/time -v python script`` run."""
    row = {}
    for key, pattern in _TIME_FIELDS.items():
        m = re.search(pattern, stderr)
        if m is None:
            raise RuntimeError(f"/usr/bin/time printed no {key!r}; stderr ends {stderr[-500:]!r}")
        row[key] = _clock(m.group(1)) if key == "wall_s" else float(m.group(1))
    row["cpu_s"] = row.pop("user_s") + row.pop("sys_s")
    row["rss_mib"] = row.pop("rss_kib") / 1024.0
    m = _SCRIPT_LINE.search(stdout)
    if m is None:
        raise RuntimeError(f"the script printed no accuracy line; stdout: {stdout[-500:]!r}")
    row["accuracy"], row["to_weights_s"] = float(m.group(1)), float(m.group(2))
    return row


def timed(script: pathlib.Path, problem: str, env: dict) -> dict:
    proc = subprocess.run(["/usr/bin/time", "-v", sys.executable, str(script), problem],
                          capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{script.name} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return parse_time(proc.stderr, proc.stdout)


def run_pairs(problem: str, pairs: int, log=print) -> dict:
    """``pairs`` rounds of (bayeskd cold, bayeskd warm, PyTorch), the order alternating."""
    base = {k: v for k, v in os.environ.items() if k != "BAYESKD_COMPILE_CACHE"}
    rounds = []
    load_before = load_average()
    for i in range(pairs):
        with tempfile.TemporaryDirectory() as cache:
            env = base | {"BAYESKD_CACHE": cache}
            row = {}
            order = ("bayeskd", "torch") if i % 2 == 0 else ("torch", "bayeskd")
            for who in order:
                if who == "torch":
                    row["torch"] = timed(SCRIPTS["torch"], problem, base)
                else:
                    row["bayeskd_cold"] = timed(SCRIPTS["bayeskd"], problem, env)
                    row["bayeskd_warm"] = timed(SCRIPTS["bayeskd"], problem, env)
        row["order"] = list(order)
        row["cold_ratio"] = row["torch"]["wall_s"] / row["bayeskd_cold"]["wall_s"]
        row["warm_ratio"] = row["torch"]["wall_s"] / row["bayeskd_warm"]["wall_s"]
        log(f"[whole_process] pair {i + 1}/{pairs}: bayeskd cold {row['bayeskd_cold']['wall_s']:.2f} s, "
            f"warm {row['bayeskd_warm']['wall_s']:.2f} s, torch {row['torch']['wall_s']:.2f} s "
            f"(ratios {row['cold_ratio']:.2f}x cold, {row['warm_ratio']:.2f}x warm)")
        rounds.append(row)
    runs = ("bayeskd_cold", "bayeskd_warm", "torch")
    medians = {run: {k: statistics.median(r[run][k] for r in rounds) for k in rounds[0][run]}
               for run in runs}
    ratios = {kind: statistics.median(r[f"{kind}_ratio"] for r in rounds) for kind in TARGETS}
    targets = [{"target": f"whole process, PyTorch eager / bayeskd wall time, {kind} cache",
                "value": ratios[kind], "op": ">=", "bound": bound, "unit": "x",
                "met": ratios[kind] >= bound} for kind, bound in TARGETS.items()]
    return {"pairs": rounds, "medians": medians, "ratios": ratios, "targets": targets,
            "load_before": load_before, "load_after": load_average()}


def versions() -> dict:
    """The packages both sides run on, read from their metadata (no import of JAX or torch)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("jax", "jaxlib", "flax", "optax", "torch", "numpy"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("problem", help="the .npz file written by bench/prepare_kd_data.py")
    p.add_argument("--pairs", type=int, default=5, help="rounds of cold, warm and PyTorch (default 5)")
    p.add_argument("--json", help="write the results under 'whole_process' of this JSON file")
    args = p.parse_args(argv)
    if args.pairs < 1:
        p.error(f"--pairs: must be an integer >= 1, got {args.pairs}")
    if not pathlib.Path(args.problem).is_file():
        p.error(f"problem: no file {args.problem!r}; run bench/prepare_kd_data.py first")
    if not pathlib.Path("/usr/bin/time").is_file():
        p.error("/usr/bin/time (GNU time) is needed: apt-get install time")
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    t0 = time.perf_counter()
    result = run_pairs(args.problem, args.pairs)
    result |= {"started": started, "wall_s": time.perf_counter() - t0,
               "command": " ".join(["python", "bench/whole_process.py", *(argv or sys.argv[1:])]),
               "machine": {"cpu": cpu_model(), "cores": os.cpu_count()}, "versions": versions()}
    for t in result["targets"]:
        print(f"[whole_process] {t['target']}: {t['value']:.2f}x (target >= {t['bound']:g}x): "
              f"{'met' if t['met'] else 'NOT met'}")
    if args.json:
        path = pathlib.Path(args.json)
        data = json.loads(path.read_text()) if path.is_file() else {}
        data["whole_process"] = result
        write_json(path, data)
        print(f"[whole_process] wrote {path} (key 'whole_process')")
    else:
        print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

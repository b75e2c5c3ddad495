"""``reproduce_quick``: wall time of ``bayeskd reproduce --all --size quick`` (once, not repeated).

Runs the command in a fresh process inside a temporary folder (so relative output folders never
touch the working tree) with an empty temporary cache (``BAYESKD_CACHE``), so the time includes
everything a first-time user waits for: data generation, teachers, students, figures. When the
``reproduce`` command is not part of this installation (no ``bayeskd.experiments.registry``), the
result says "not available" instead of failing.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

from bayeskd.bench._common import check_size, load_average

REGISTRY = "bayeskd.experiments.registry"


def command(size: str) -> list[str]:
    """The command timed: ``quick`` for the real benchmark, ``smoke`` for a short check."""
    return [sys.executable, "-m", "bayeskd.cli", "reproduce", "--all", "--size",
            "quick" if size == "full" else "smoke"]


def available() -> bool:
    try:
        return importlib.util.find_spec(REGISTRY) is not None
    except ModuleNotFoundError:
        return False


def run(*, size: str = "full", log=print, cmd: Sequence[str] | None = None,
        timeout_s: float | None = None) -> dict[str, Any]:
    """Time the command once (a whole reproduction is not repeated in rounds)."""
    check_size(size)
    cmd = list(cmd) if cmd is not None else command(size)
    base = {"benchmark": "reproduce_quick", "size": size, "command": " ".join(cmd[1:]),
            "targets": []}
    if cmd[1:3] == ["-m", "bayeskd.cli"] and not available():
        log(f"[bench] reproduce_quick: not available ({REGISTRY} is not installed)")
        return base | {"status": "not available"}
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="bayeskd-bench-") as tmp:
        env = dict(os.environ, BAYESKD_CACHE=os.path.join(tmp, "cache"))
        repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [repo, env.get("PYTHONPATH")]))
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True,
                                  timeout=timeout_s)
            rc, tail = proc.returncode, (proc.stdout + proc.stderr)[-2000:]
        except subprocess.TimeoutExpired:
            rc, tail = None, f"timed out after {timeout_s} s"
        wall = time.perf_counter() - t0
    status = "ok" if rc == 0 else f"failed (exit status {rc})"
    log(f"[bench] reproduce_quick: {status} in {wall:.0f} s")
    out = base | {"status": status, "wall_s": wall, "exit_status": rc,
                  "load_before": load_before, "load_after": load_average()}
    if rc != 0:
        out["output_tail"] = tail
    return out

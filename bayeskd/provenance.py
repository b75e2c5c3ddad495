"""Where a result came from: the code, the command, the software and the machine.

Every ``results.json`` that a bayeskd job writes carries a ``"provenance"`` section
(:func:`provenance`): the bayeskd version, the git commit of the code that ran (when the package
runs from a git checkout) and whether its code differed from that commit (``git_dirty``), a
SHA-256 of every bayeskd module the job had loaded (``modules``: the code that actually ran), the
command, the JAX, jaxlib and Python versions, and the machine. Only the code decides
``git_dirty``: the package folder and ``pyproject.toml``, not the results being written.

:func:`check_results` answers "did these committed results come from the code I have now?": a
result is *current* when every module it ran is byte-identical in the working tree (a change to a
module the job never loaded, such as a new figure, leaves it current); without module digests,
when the package's code is unchanged between its commit and the working tree
(``bayeskd check-results``).
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import platform
import shlex
import subprocess
import sys
from typing import Any

#: The paths whose content is "the code" for provenance (relative to the repository root).
CODE_PATHS = ("bayeskd", "pyproject.toml")

_COMMAND: list[str] | None = None


def record_command(argv: list[str]) -> None:
    """Remember the command line of this process's job (the CLI calls this)."""
    global _COMMAND
    _COMMAND = ["bayeskd", *argv]


def repo_root() -> pathlib.Path:
    """The folder above the ``bayeskd`` package (a git checkout's root when installed editable)."""
    return pathlib.Path(__file__).resolve().parents[1]


def _git(*args: str, root: pathlib.Path) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                              timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None


def git_state(root: pathlib.Path | None = None) -> tuple[str | None, bool | None]:
    """``(commit, dirty)`` of the code at ``root`` (``(None, None)`` outside a git checkout)."""
    root = repo_root() if root is None else root
    head = _git("rev-parse", "HEAD", root=root)
    if head is None or head.returncode != 0:
        return None, None
    status = _git("status", "--porcelain", "--untracked-files=no", "--", *CODE_PATHS, root=root)
    dirty = None if status is None or status.returncode != 0 else bool(status.stdout.strip())
    return head.stdout.strip(), dirty


def cpu_model() -> str:
    """The CPU model name from ``/proc/cpuinfo`` (Linux), else ``platform.processor()``."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def module_digests() -> dict[str, str]:
    """``{path relative to the repository: sha256[:16]}`` of every loaded bayeskd module."""
    root = repo_root()
    out = {}
    for name, mod in sorted(sys.modules.items()):
        f = getattr(mod, "__file__", None)
        if not f or not (name == "bayeskd" or name.startswith("bayeskd.")):
            continue
        path = pathlib.Path(f).resolve()
        try:
            out[path.relative_to(root).as_posix()] = _file_digest(path)
        except (OSError, ValueError):
            continue
    return out


def _file_digest(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def code_digests(modules) -> dict[str, str]:
    """``{path relative to the repository: sha256[:16]}`` of the source of ``modules`` (dotted
    names under ``bayeskd``; a package stands for every ``.py`` file below it), whether or not
    they are loaded. This is the fingerprint of the code that fills a cache entry.

    Example:
      >>> d = code_digests(["bayeskd.provenance"])
      >>> list(d), len(d["bayeskd/provenance.py"])
      (['bayeskd/provenance.py'], 16)
    """
    root = repo_root()
    out = {}
    for name in modules:
        parts = name.split(".")
        if parts[0] != "bayeskd":
            raise ValueError(f"modules: {name!r} is not a bayeskd module")
        base = root.joinpath(*parts)
        files = sorted(base.rglob("*.py")) if base.is_dir() else [base.with_suffix(".py")]
        if not files or not files[0].is_file():
            raise ValueError(f"modules: no source for {name!r}")
        for f in files:
            out[f.relative_to(root).as_posix()] = _file_digest(f)
    return dict(sorted(out.items()))


NUMERICS_OPTIONS = ("jax_disable_most_optimizations", "jax_optimization_level",
                    "jax_exec_time_optimization_effort", "jax_enable_x64",
                    "jax_default_matmul_precision")


def jax_numerics() -> dict[str, Any]:
    """What decides the bits JAX computes besides the code: the JAX and jaxlib versions, the
    backend and device, the host CPU (XLA compiles for its instruction set), ``XLA_FLAGS`` and the
    configuration options that change compiled programs (``NUMERICS_OPTIONS``)."""
    import jax
    import jaxlib

    options = {name: str(jax.config.values.get(name)) for name in NUMERICS_OPTIONS}
    return {"jax": jax.__version__, "jaxlib": jaxlib.__version__,
            "backend": jax.default_backend(), "device": jax.devices()[0].device_kind,
            "cpu": cpu_model(), "xla_flags": os.environ.get("XLA_FLAGS", "")} | options


def provenance(command: list[str] | None = None) -> dict[str, Any]:
    """The provenance section of a ``results.json`` (plain JSON values)."""
    import jax
    import jaxlib

    from bayeskd import __version__

    cmd = command if command is not None else _COMMAND
    if cmd is None:
        cmd = [pathlib.Path(sys.argv[0]).name, *sys.argv[1:]] if sys.argv and sys.argv[0] else []
    commit, dirty = git_state()
    return {
        "bayeskd": __version__,
        "git_commit": commit,
        "git_dirty": dirty,
        "command": shlex.join(str(c) for c in cmd),
        "modules": module_digests(),
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "python": platform.python_version(),
        "machine": {"platform": platform.platform(), "cpu": cpu_model(),
                    "cores": os.cpu_count(), "backend": jax.default_backend()},
    }


def stale_inputs(results: dict, *, root: pathlib.Path | None = None) -> list[str]:
    """The cached inputs of a ``results.json`` (``inputs``: teachers, datasets, transfer sets)
    whose filling code differs from the working tree's, as ``"<kind>: <changed file>"``."""
    root = repo_root() if root is None else root
    out = []
    for entry in results.get("inputs") or []:
        changed = [m for m, d in sorted(entry.get("code", {}).items())
                   if not (root / m).is_file() or _file_digest(root / m) != d]
        if changed:
            out.append(f"{entry.get('kind', 'cache')}: {changed[0]}")
    return out


def check_results(paths: list[pathlib.Path], *, root: pathlib.Path | None = None) -> list[dict]:
    """One verdict per ``results.json`` under ``paths``: ``current``, ``stale`` or ``unknown``.

    ``current``: every module it ran is unchanged in the working tree, and so is the code that
    filled every cached input it used (``inputs``, :func:`stale_inputs`); without module digests,
    the file names a commit whose code (:data:`CODE_PATHS`) equals the working tree's and was not
    dirty when it ran. ``stale``: the code, or a cached input's code, changed since (the changed
    files are named), or it ran from uncommitted code; ``unknown``: no provenance, or no git here.
    """
    root = repo_root() if root is None else root
    files: list[pathlib.Path] = []
    for p in paths:
        p = pathlib.Path(p)
        files += sorted(p.rglob("results.json")) if p.is_dir() else [p]
    out = []
    for f in files:
        try:
            data = json.loads(f.read_text())
            prov = data.get("provenance") or {}
        except (OSError, ValueError) as e:
            out.append({"file": str(f), "verdict": "unknown", "why": f"unreadable: {e}"})
            continue
        commit = prov.get("git_commit")
        inputs = stale_inputs(data, root=root)
        if inputs:
            out.append({"file": str(f), "verdict": "stale", "commit": commit,
                        "why": f"{len(inputs)} cached input(s) came from other code, e.g. "
                               f"{inputs[0]}"})
            continue
        modules = prov.get("modules")
        if modules:
            changed = [m for m, d in sorted(modules.items())
                       if not (root / m).is_file() or _file_digest(root / m) != d]
            verdict = "stale" if changed else "current"
            why = (f"{len(changed)} of the {len(modules)} modules it ran changed since, e.g. "
                   f"{changed[0]}" if changed else f"the {len(modules)} modules it ran are unchanged")
            out.append({"file": str(f), "verdict": verdict, "commit": commit, "why": why})
            continue
        if not commit:
            out.append({"file": str(f), "verdict": "unknown", "why": "no git commit recorded"})
            continue
        if prov.get("git_dirty"):
            out.append({"file": str(f), "verdict": "stale", "commit": commit,
                        "why": "it ran from code with uncommitted changes"})
            continue
        diff = _git("diff", "--name-only", commit, "--", *CODE_PATHS, root=root)
        if diff is None or diff.returncode != 0:
            out.append({"file": str(f), "verdict": "unknown", "commit": commit,
                        "why": "the commit is not in this checkout"})
            continue
        changed = diff.stdout.split()
        verdict = "stale" if changed else "current"
        why = (f"{len(changed)} code file(s) changed since, e.g. {changed[0]}" if changed
               else "the code is unchanged since")
        out.append({"file": str(f), "verdict": verdict, "commit": commit, "why": why})
    return out


def add_cli(sub) -> None:
    p = sub.add_parser("check-results", help="did committed results come from the current code?",
                       description="For every results.json under the given folders, compare "
                                   "the commit it records with the code here.")
    p.add_argument("paths", nargs="*", default=["paper_figures"],
                   help="results.json files or folders (default: paper_figures)")
    p.set_defaults(func=_run_check)


def _run_check(args) -> int:
    paths = [pathlib.Path(p) for p in args.paths]
    for p in paths:
        if not p.exists():
            raise FileNotFoundError(f"paths: {p} does not exist")
    verdicts = check_results(paths)
    if not verdicts:
        raise ValueError(f"paths: no results.json under {', '.join(map(str, paths))}")
    for v in verdicts:
        print(f"{v['verdict']:8s} {v['file']}  ({v['why']})")
    current = sum(v["verdict"] == "current" for v in verdicts)
    print(f"{current} of {len(verdicts)} results come from the current code")
    return 0 if current == len(verdicts) else 1

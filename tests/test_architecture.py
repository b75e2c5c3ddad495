"""The shape of the package: no import circles (lazy imports included), and the harness kept
smaller than the core it exercises."""

import ast
import collections
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
PKG = REPO / "bayeskd"
#: The core: what the harness exercises (the losses, priors, training, posteriors, models,
#: metrics and data); the harness: the runner and its specs, the benchmarks, the notebooks and
#: the user scripts.
CORE = ("data", "losses", "metrics", "models", "posteriors", "priors", "training")
HARNESS = (PKG / "experiments", PKG / "bench", REPO / "notebooks", REPO / "experiments")


def _lines(path: pathlib.Path) -> int:
    files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return sum(len(f.read_text().splitlines()) for f in files)


def import_edges() -> dict[tuple[str, str], str]:
    """``{(unit A, unit B): "file:line"}`` for every import of a bayeskd module, at module level
    or inside a function, between two units (a subpackage ``bayeskd.X`` or a top-level module)."""
    def unit(name: str) -> str:
        return ".".join(name.split(".")[:2])

    edges = {}
    for f in sorted(PKG.rglob("*.py")):
        mod = ".".join(f.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets = [node.module]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for t in targets:
                if t.startswith("bayeskd.") and unit(t) != unit(mod):
                    edges.setdefault((unit(mod), unit(t)), f"{f.relative_to(REPO)}:{node.lineno}")
    return edges


def find_cycle(edges) -> list[str] | None:
    graph = collections.defaultdict(set)
    for a, b in edges:
        graph[a].add(b)
    state: dict[str, int] = {}

    def visit(n, path):
        state[n] = 1
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                return path[path.index(m):] + [m]
            if m not in state and (found := visit(m, path + [m])):
                return found
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (found := visit(n, [n])):
            return found
    return None


def test_no_import_circles_even_through_lazy_imports():
    edges = import_edges()
    cycle = find_cycle(edges)
    assert cycle is None, " -> ".join(cycle) + ": " + ", ".join(
        edges[(a, b)] for a, b in zip(cycle, cycle[1:], strict=False))


def test_the_cycle_finder_finds_a_circle():
    assert find_cycle({("a", "b"): "", ("b", "c"): "", ("c", "a"): ""}) == ["a", "b", "c", "a"]
    assert find_cycle({("a", "b"): "", ("b", "c"): ""}) is None


def test_every_figure_spec_is_small():
    from bayeskd.experiments.registry import FIGURES, SPECS

    for name in FIGURES:
        path = REPO / (SPECS[name].split(":")[0].replace(".", "/") + ".py")
        assert _lines(path) <= 125, f"{path.name}: {_lines(path)} lines"


@pytest.mark.parametrize(("path", "limit"), [(PKG / "experiments", 5000)])
def test_harness_budget(path, limit):
    assert _lines(path) <= limit, f"{path}: {_lines(path)} lines"


def test_harness_smaller_than_core():
    core = sum(_lines(PKG / c) for c in CORE)
    harness = sum(_lines(p) for p in HARNESS)
    assert harness < 1.1 * core, f"harness {harness} lines vs core {core}"


#: Libraries only some features use: ``import bayeskd`` leaves them unloaded (the cold start of a
#: job that needs none of them pays nothing for them).
ON_FIRST_USE = ("numpyro", "scipy", "sklearn", "arviz", "tokenizers", "orbax", "matplotlib")


def test_import_bayeskd_loads_no_feature_library():
    import subprocess
    import sys

    code = (f"import sys, bayeskd; print(sorted(m for m in {ON_FIRST_USE!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=REPO).stdout
    assert out.strip() == "[]", f"import bayeskd loads {out.strip()}"
    # ... and each loads when its feature is first used
    code = ("import sys, numpy as np, bayeskd\n"
            "from bayeskd.posteriors import run_nuts\n"
            "bayeskd.metrics.auroc(np.array([0.1]), np.array([0.2]))\n"
            "print(sorted(m for m in ('numpyro', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=REPO).stdout
    assert out.strip() == "['numpyro', 'sklearn']"

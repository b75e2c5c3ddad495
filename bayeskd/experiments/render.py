"""Everything a reader sees is rendered from ``results.json``: ``summary.md`` and the READMEs'
result tables.

:func:`summary_markdown` renders one experiment's ``summary.md`` from its ``results.json`` and its
spec's expectations; :func:`render_readme` replaces every block between
``<!-- bayeskd:begin NAME -->`` and ``<!-- bayeskd:end NAME -->`` in a README with the table
rendered from the committed results (``NAME`` is a job's spec name, or ``figures`` for the table of
every figure). ``bayeskd render`` rewrites them; a test renders every table from the committed
results and fails when a README or a ``summary.md`` differs. The verdict column is computed by
each expectation's rule, never typed.

Values print by their expectation's format; a value ``X`` with a companion ``X_std`` prints as
``mean ± std``.
"""

from __future__ import annotations

import json
import math
import pathlib
import re

from bayeskd.experiments.registry import SPECS, get_spec
from bayeskd.experiments.spec import Expectation, Spec

__all__ = ["fmt", "render_readme", "render_readmes", "summary_markdown", "values_of"]

_BLOCK = re.compile(r"(<!-- bayeskd:begin (\S+) -->\n)(.*?)(<!-- bayeskd:end \2 -->)", re.S)
VERDICT = {True: "holds", False: "**does not hold**", None: "–"}


def values_of(spec: Spec, summary: dict, measured, cfg) -> dict:
    """The spec's derived values as plain floats (``None`` or non-finite: ``None``), checked to
    hold every name an expectation reads."""
    raw = spec.derive(summary, measured, cfg) if spec.derive is not None else {}
    out = {}
    for k, v in raw.items():
        f = math.nan if v is None else float(v)
        out[k] = f if math.isfinite(f) else None
    for e in spec.expectations:
        missing = [n for n in e.names() if n not in out]
        if missing:
            raise KeyError(f"{spec.name}: derive() returned no value {missing[0]!r} "
                           f"(expectation {e.claim!r})")
    return out


def fmt(values: dict, name: str, spec: str = ".3g") -> str:
    """Value ``name`` formatted (``"%"``: a fraction as a percentage, one decimal), with its
    ``name_std`` as ``± std`` when present."""
    v = values.get(name)
    if v is None:
        return "–"
    sd = values.get(f"{name}_std")

    def one(x: float) -> str:
        return f"{100 * x:.1f}" if spec == "%" else format(x, spec)

    text = one(v) + (f" ± {one(sd)}" if sd is not None else "")
    return text + ("%" if spec == "%" else "")


def ours_cell(e: Expectation, values: dict) -> str:
    text = fmt(values, e.ours, e.fmt)
    if e.show:
        text += " (" + "; ".join(f"{n}: {fmt(values, n, e.fmt)}" for n in e.show) + ")"
    return text


def expectation_rows(spec: Spec, results: dict, *, link: bool = False) -> list[str]:
    values = results["values"]
    rows = []
    for i, e in enumerate(spec.expectations):
        first = f"[`{spec.name}`]({spec.folder}/summary.md)" if link else ""
        name = (first + " | ") if link else ""
        if link and i:
            name = " | "
        rows.append(f"| {name}{e.claim} | {e.published} ({e.source}) | {ours_cell(e, values)} | "
                    f"`{e.rule.text(e.ours)}` | {VERDICT[e.verdict(values)]} |")
    return rows


def report_tables(spec: Spec, results: dict) -> list[str]:
    """The spec's ``report`` tables: one row per summary group, ``mean ± std`` per column."""
    lines: list[str] = []
    for table, cols in spec.report.items():
        summary = results["summary"][table]
        lines += [f"| {table} | " + " | ".join(c[1] for c in cols) + " |",
                  "|---" * (len(cols) + 1) + "|"]
        for group, stats in summary.items():
            cells = []
            for metric, _, scale, digits in cols:
                s = stats.get(metric)
                if not isinstance(s, dict) or s.get("mean") is None:
                    cells.append("–")
                    continue
                cell = f"{scale * s['mean']:.{digits}f}"
                if s.get("std") is not None and s.get("n", 2) > 1:
                    cell += f" ± {scale * s['std']:.{digits}f}"
                cells.append(cell)
            lines.append(f"| {group} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def summary_markdown(spec: Spec, results: dict) -> str:
    """``summary.md``: what the experiment mirrors, the published claims beside ours with the
    computed verdicts, the report tables and the figures."""
    cfg = results["config"]
    lines = [f"# `{spec.name}` — {spec.title}", ""]
    if spec.paper:
        lines += [f"- Paper: {spec.paper}", f"- Mirrors: {spec.mirrors}"]
    lines += [f"- Claim: {spec.claim}",
              f"- Command: `{results['command']}` ({results['size']} size, {cfg['seeds']} seeds;"
              " mean ± std over seeds)", ""]
    if spec.expectations:
        lines += ["| claim | published | ours | rule | verdict |", "|---|---|---|---|---|",
                  *expectation_rows(spec, results), ""]
    lines += report_tables(spec, results)
    if results.get("figures"):
        lines += ["## Figures", ""] + [f"![{f}]({f}.png)" for f in results["figures"]]
    return "\n".join(lines).rstrip() + "\n"


def _load(root: pathlib.Path, spec: Spec) -> dict | None:
    path = root / spec.folder / "results.json"
    return json.loads(path.read_text()) if path.is_file() else None


def timing_block(root: pathlib.Path) -> str:
    """The wall time of the last ``reproduce --all`` (``reproduce_all_timing.json``)."""
    path = root / "reproduce_all_timing.json"
    if not path.is_file():
        return "`bayeskd reproduce --all` has not been timed.\n"
    t = json.loads(path.read_text())
    per = ", ".join(f"{k} {v:.0f}" for k, v in t["per_figure_s"].items())
    return (f"`bayeskd reproduce --all --size {t['size']}` took {t['total_s'] / 60:.1f} min on "
            f"{t.get('cores', 2)} CPU cores (seconds per figure: {per}).\n")


def block(name: str, root: pathlib.Path) -> str:
    """The README block ``name``: ``figures`` (every figure's expectations), ``timing`` (the last
    ``reproduce --all``) or a job's tables."""
    if name == "timing":
        return timing_block(root)
    if name == "figures":
        lines = ["| figure | claim | published | ours (quick size) | rule | verdict |",
                 "|---|---|---|---|---|---|"]
        for spec_name in SPECS:
            spec = get_spec(spec_name)
            if spec.command is not None:
                continue
            results = _load(root, spec)
            if results is None:
                lines.append(f"| `{spec.name}` | not run | | | | |")
                continue
            rows = expectation_rows(spec, results, link=True)
            lines += [r.replace(f"]({spec.folder}/", f"](paper_figures/{spec.folder}/") for r in rows]
        return "\n".join(lines) + "\n"
    spec = get_spec(name)
    results = _load(root, spec)
    if results is None:
        return f"`{spec.name}` has not been run.\n"
    lines = [f"`{results['command']}` ({results['size']} size, {results['config']['seeds']} "
             f"seeds, mean ± std over seeds):", "", *report_tables(spec, results)]
    if spec.expectations:
        lines += ["| claim | published | ours | rule | verdict |", "|---|---|---|---|---|",
                  *expectation_rows(spec, results)]
    return "\n".join(lines).rstrip() + "\n"


def render_readme(text: str, root: pathlib.Path) -> str:
    """``text`` with every ``bayeskd:begin/end`` block rendered from the results under ``root``."""
    return _BLOCK.sub(lambda m: m.group(1) + block(m.group(2), root) + m.group(4), text)


def render_readmes(repo: pathlib.Path, *, files: tuple[str, ...] = ("README.md", "README.ja.md"),
                   write: bool = True) -> list[str]:
    """Render the READMEs of ``repo`` from ``repo/paper_figures``; returns the files that changed
    (written when ``write``)."""
    changed = []
    for f in files:
        path = repo / f
        if not path.is_file():
            continue
        old = path.read_text()
        new = render_readme(old, repo / "paper_figures")
        if new != old:
            changed.append(f)
            if write:
                path.write_text(new)
    return changed


def rendered_summaries(root: pathlib.Path) -> dict[pathlib.Path, str]:
    """``{summary.md path: text rendered from its results.json}`` of every committed result."""
    out = {}
    for spec_name in SPECS:
        spec = get_spec(spec_name)
        results = _load(root, spec)
        if results is not None:
            out[root / spec.folder / "summary.md"] = summary_markdown(spec, results)
    return out

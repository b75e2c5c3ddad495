"""Reporting for ``posterior-zoo``: the measured checks, the plane figure, the text and markdown
tables (every number read from the results)."""

from __future__ import annotations

from typing import Any

import numpy as np


def _mean(summary, method, role, metric):
    """The seed mean of ``metric`` for ``method``'s ``role`` (``summary[method][role]``), or None."""
    v = summary.get(method, {}).get(role, {}).get(metric)
    return None if v is None else v["mean"]


def checks(cfg, summary) -> dict:
    """The measured targets, computed from the seed means: MAP's grid KL over the best student's
    (> 5), NLL of SWAG, the ensemble and SGLD below MAP's, students within 15% of their teacher's
    NLL."""
    out: dict[str, Any] = {}
    if cfg.two_d:
        kl_map = _mean(summary, "map", "teacher", "kl_ref_grid")
        students = {m: _mean(summary, m, "student", "kl_ref_grid") for m in summary}
        students = {k: v for k, v in students.items() if v is not None}
        if kl_map is not None and students:
            best = min(students, key=students.get)
            out["kl_grid_map"] = kl_map
            out["kl_grid_best_student"] = {"method": best, "kl": students[best]}
            out["map_over_best_student"] = kl_map / max(students[best], 1e-12)
            out["map_over_best_student_gt_5"] = bool(kl_map > 5 * students[best])
    nll_map = _mean(summary, "map", "teacher", "nll")
    for m in ("swag", "ensemble", "sgld"):
        v = _mean(summary, m, "teacher", "nll")
        if v is not None and nll_map is not None:
            out[f"{m}_nll_below_map"] = bool(v < nll_map)
    ratios = {}
    for m in summary:
        t, st = _mean(summary, m, "teacher", "nll"), _mean(summary, m, "student", "nll")
        if t is not None and st is not None:
            ratios[m] = st / t
    if ratios:
        out["student_over_teacher_nll"] = ratios
        out["students_within_15pct"] = bool(all(r <= 1.15 for r in ratios.values()))
    return out


def plane_figure(xx, yy, maps: dict, ds, methods: list):
    """Columns: methods; rows: teacher p(y=1), student p(y=1), teacher entropy, student entropy."""
    import matplotlib.pyplot as plt

    rows = [("teacher", "prob"), ("student", "prob"), ("teacher", "entropy"), ("student", "entropy")]
    fig, axes = plt.subplots(4, len(methods), figsize=(1.9 * len(methods), 7.4), squeeze=False)
    hmax = float(np.log(ds.num_classes))
    for j, m in enumerate(methods):
        for i, (role, what) in enumerate(rows):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if (m, role) not in maps:
                ax.axis("off")
                continue
            v = maps[(m, role)][what].reshape(xx.shape)
            lim = (0.0, 1.0) if what == "prob" else (0.0, hmax)
            ax.contourf(xx, yy, v, levels=np.linspace(*lim, 21), cmap="RdBu_r" if what == "prob"
                        else "viridis", extend="both")
            ax.scatter(ds.x_train[:, 0], ds.x_train[:, 1], c=ds.y_train, s=4, cmap="coolwarm",
                       edgecolors="k", linewidths=0.2)
            if i == 0 or (i == 1 and (m, "teacher") not in maps):
                ax.set_title(m, fontsize=9)
            if j == 0:
                ax.set_ylabel(f"{role}\n{'p(y=last)' if what == 'prob' else 'entropy'}", fontsize=8)
    fig.suptitle("posterior predictive over the plane: teacher above its distilled student",
                 fontsize=10)
    fig.tight_layout()
    return fig


def format_table(results: dict) -> str:
    """Mean over seeds of the main columns, teachers then students."""
    cols = [("accuracy", 100, "acc%"), ("nll", 1, "NLL"), ("ece", 100, "ECE%"),
            ("mutual_information", 1, "MI"), ("kl_ref", 1, "KLref"), ("kl_ref_grid", 1, "KLgrid"),
            ("tv_ref_grid", 1, "TVgrid"), ("agreement_ref_grid", 100, "agr%"),
            ("kl_teacher", 1, "KL(t||s)"), ("rhat_max", 1, "Rhat")]
    head = f"{'method':12s}{'role':9s}" + "".join(f"{c[2]:>10s}" for c in cols)
    lines = [head, "-" * len(head)]
    for m, roles in results["summary"].items():
        for role, s in roles.items():
            cells = "".join(f"{s[k]['mean'] * sc:>10.4f}" if k in s else f"{'-':>10s}"
                            for k, sc, _ in cols)
            lines.append(f"{m:12s}{role:9s}{cells}")
    if results.get("published"):
        p = results["published"]
        lines.append(f"published ({p['source']}): SGD {p['sgd']}, SGLD {p['sgld']}, distilled "
                     f"{p['distilled_students'][0]}-{p['distilled_students'][1]}")
    lines.append("checks: " + ", ".join(f"{k}={v}" for k, v in results["checks"].items()
                                        if not isinstance(v, dict)))
    return "\n".join(lines)


_NAMES = {"nuts": "NUTS itself", "map": "MAP (weight decay = prior)", "ensemble": "deep ensemble",
          "swag": "SWAG", "swag_diag": "SWAG-Diagonal", "mc_dropout": "MC dropout",
          "laplace": "last-layer Laplace", "sgld": "SGLD", "csgld": "cyclical SGLD",
          "svi": "SVI (AutoNormal)", "aies": "AIES", "ess": "ESS",
          "bdk": "Bayesian dark knowledge (online)"}


def markdown_table(results: dict) -> str:
    """The README table of one run: per method, the teacher's and its student's test NLL and ECE,
    KL(teacher || MAP) on the test set, and (with a reference) KL(reference || .) on the grid.
    Means over seeds; chains / walkers as run."""
    summary = results["summary"]
    ref = results.get("reference") is not None
    present = set(summary)
    methods = [m for m in _NAMES if m in present] + sorted(present - set(_NAMES))
    chains = {r["method"]: r["chains"] for r in results["rows"] if r.get("chains")}

    def cell(method, role, metric, scale=1.0, digits=4):
        v = _mean(summary, method, role, metric)
        return "-" if v is None else f"{scale * v:.{digits}f}"

    head = ["method", "test NLL teacher / student", "ECE % teacher / student",
            "KL(teacher ‖ MAP), test"]
    if ref:
        head += ["KL(ref ‖ teacher), grid", "KL(ref ‖ student), grid"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m in methods:
        name = _NAMES.get(m, m) + (f" ({chains[m]} chains / walkers)" if m in chains else "")
        cells = [name, f"{cell(m, 'teacher', 'nll')} / {cell(m, 'student', 'nll')}",
                 f"{cell(m, 'teacher', 'ece', 100, 2)} / {cell(m, 'student', 'ece', 100, 2)}",
                 cell(m, "teacher", "kl_map")]
        if ref:
            cells += [cell(m, "teacher", "kl_ref_grid"), cell(m, "student", "kl_ref_grid")]
        lines.append("| " + " | ".join(cells) + " |")
    timing = results.get("timing", {})
    seed0 = timing.get("seed0", {})
    lines += ["", f"{results['dataset']} ({results['size']}): {results['data']['num_train']} train / "
              f"{results['data']['num_test']} test, {results['data']['num_transfer']} transfer "
              f"inputs; fit seconds (seed 0): " + ", ".join(f"{k} {v:.1f}" for k, v in
                                                           sorted(seed0.items())),
              "checks: " + ", ".join(f"{k}={v}" for k, v in sorted(results["checks"].items())
                                     if not isinstance(v, dict))]
    return "\n".join(lines)

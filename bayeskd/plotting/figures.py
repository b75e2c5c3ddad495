"""Figures used by the jobs; each returns a ``matplotlib.figure.Figure`` and never shows it."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from bayeskd.metrics import ReliabilityBins


def metric_bars(
    summary: dict[str, dict[str, dict]],
    *,
    metrics: Sequence[tuple[str, str]],
    title: str = "",
    reference: dict[str, float] | None = None,
):
    """One panel per metric, one bar per group with a ±1 std error bar.

    Args:
      summary: ``{group: {metric: {"mean", "std"}}}``.
      metrics: ``(key, label)`` pairs, one panel each.
      reference: optional ``{metric: value}`` drawn as a dashed line (e.g. the teacher).
    """
    groups = list(summary)
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 3.2), squeeze=False)
    colors = plt.cm.tab10(np.arange(len(groups)) % 10)
    for ax, (key, label) in zip(axes[0], metrics, strict=True):
        means = [summary[g].get(key, {}).get("mean", np.nan) for g in groups]
        stds = [summary[g].get(key, {}).get("std", 0.0) for g in groups]
        ax.bar(range(len(groups)), means, yerr=stds, color=colors, capsize=3)
        ax.set_xticks(range(len(groups)), groups, rotation=45, ha="right", fontsize=8)
        ax.set_title(label, fontsize=10)
        finite = [m for m in means if np.isfinite(m)]
        if key in ("accuracy", "noise_accuracy", "agreement") and finite:
            if reference and key in reference:
                finite.append(reference[key])
            pad = 2 * max(stds + [0.01])
            ax.set_ylim(max(0.0, min(finite) - pad), min(1.0, max(finite) + pad))
        if reference and key in reference:
            ax.axhline(reference[key], color="k", ls="--", lw=1, label="teacher")
            ax.legend(fontsize=7)
        ax.grid(axis="y", alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def reliability_diagram(ax, bins: ReliabilityBins, *, title: str = "", ece: float | None = None):
    """Accuracy against confidence per bin on ``ax`` (bar width = bin, gap in red)."""
    edges = np.asarray(bins.bin_edges)
    acc, conf, count = (np.asarray(a) for a in (bins.accuracy, bins.confidence, bins.count))
    width = np.diff(edges)
    centers = edges[:-1] + width / 2
    nonempty = count > 0
    ax.bar(centers[nonempty], acc[nonempty], width=width[nonempty], edgecolor="k", lw=0.5,
           color="tab:blue", label="accuracy")
    ax.bar(centers[nonempty], (conf - acc)[nonempty], bottom=acc[nonempty], width=width[nonempty],
           color="tab:red", alpha=0.35, label="gap")
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence", fontsize=8)
    ax.set_ylabel("accuracy", fontsize=8)
    label = title + (f"\nECE {ece:.3f}" if ece is not None else "")
    ax.set_title(label, fontsize=9)


def reliability_grid(panels: Sequence[tuple[str, ReliabilityBins, float]], *, ncols: int = 4):
    """A grid of reliability diagrams, one per ``(title, bins, ece)``."""
    n = len(panels)
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.8 * ncols, 2.8 * nrows), squeeze=False)
    for ax, (title, bins, e) in zip(axes.flat, panels, strict=False):
        reliability_diagram(ax, bins, title=title, ece=e)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def plane_panels(
    xx: np.ndarray,
    yy: np.ndarray,
    rows: Sequence[Sequence[tuple[str, np.ndarray]]],
    *,
    x_train: np.ndarray | None = None,
    y_train: np.ndarray | None = None,
    cmap: str = "RdBu_r",
    vmin: float = 0.0,
    vmax: float = 1.0,
    title: str | None = None,
):
    """A grid of filled contour maps over a 2-D plane, one colour scale ``[vmin, vmax]``.

    Args:
      xx, yy: ``[R, R]`` grid coordinates.
      rows: rows of ``(title, values [R*R])`` panels.
      x_train, y_train: optional points drawn on every panel.
      title: the figure's title.
    """
    nrows, ncols = len(rows), max(len(r) for r in rows)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.4 * ncols, 2.3 * nrows), squeeze=False)
    for i, row in enumerate(rows):
        for j in range(ncols):
            ax = axes[i, j]
            if j >= len(row):
                ax.axis("off")
                continue
            name, values = row[j]
            cs = ax.contourf(xx, yy, np.asarray(values).reshape(xx.shape), levels=20, cmap=cmap,
                             vmin=vmin, vmax=vmax)
            if x_train is not None:
                ax.scatter(x_train[:, 0], x_train[:, 1], c=y_train, s=6, cmap="coolwarm",
                           edgecolors="k", linewidths=0.3)
            ax.set_title(name, fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.colorbar(cs, ax=axes.ravel().tolist(), shrink=0.8)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig

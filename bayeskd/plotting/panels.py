"""Shared panels for the experiment figures: one look for every curve, bar and reference line.

A spec's ``plot`` lays out :func:`grid`, fills each axis with :func:`curve`, :func:`bars` and
:func:`hline` from summary statistics (``{"mean", "std"}`` dicts, :func:`bayeskd.metrics.summarize`)
and closes with :func:`style` per axis and :func:`finish` for the figure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["bars", "curve", "finish", "grid", "hline", "lines", "style"]

FONT = {"title": 10, "legend": 7, "suptitle": 11}


def grid(n: int, *, ncols: int | None = None, width: float = 4.3, height: float = 3.6):
    """``(figure, flat list of n axes)``, ``ncols`` per row (default: all in one row)."""
    ncols = ncols or n
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False)
    flat = list(axes.flat)
    for ax in flat[n:]:
        ax.axis("off")
    return fig, flat[:n]


def _ms(stats: Sequence[Mapping], scale: float) -> tuple[np.ndarray, np.ndarray]:
    mean = np.array([scale * s["mean"] for s in stats], float)
    std = np.array([scale * (s.get("std") or 0.0) for s in stats], float)
    return mean, std


def curve(ax, x: Sequence[float], stats: Sequence[Mapping], *, label: str, scale: float = 1.0,
          color=None, marker: str = "o", ls: str = "-") -> None:
    """Mean ± std (error bars) of ``stats`` against ``x``."""
    mean, std = _ms(stats, scale)
    ax.errorbar(np.asarray(x, float), mean, yerr=std, marker=marker, ls=ls, color=color,
                capsize=3, label=label)


def lines(ax, x: Sequence[float], series: Mapping[str, Sequence[Mapping]], *,
          scale: float = 1.0, refs: Mapping[str, float] | None = None,
          colors: Sequence | None = None, **style_kw) -> None:
    """One :func:`curve` per series, one dashed :func:`hline` per reference (times ``scale``),
    then :func:`style` (``logx=True`` puts a tick at every ``x``)."""
    for i, (label, stats) in enumerate(series.items()):
        curve(ax, x, stats, label=label, scale=scale,
              color=None if colors is None else colors[i % len(colors)])
    paired = refs is not None and len(refs) == len(series) > 1  # ref i belongs to series i
    for i, (label, y) in enumerate((refs or {}).items()):
        color = (f"C{i}" if colors is None else colors[i % len(colors)]) if paired else "gray"
        hline(ax, scale * y, label, color=color, ls=":" if paired else "--")
    if style_kw.get("logx") and "xticks" not in style_kw:
        style_kw["xticks"] = sorted(set(x))
    style(ax, **style_kw)


def bars(ax, labels: Sequence[str], series: Mapping[str, Sequence[Mapping]], *,
         scale: float = 1.0, colors: Sequence | None = None, rotate: bool = False,
         refs: Mapping[str, float] | None = None, **style_kw) -> None:
    """Grouped bars: one group per label, one bar per series, ± std error bars; then
    :func:`style` when a ``title`` is given."""
    x = np.arange(len(labels))
    width = 0.8 / max(len(series), 1)
    for i, (name, stats) in enumerate(series.items()):
        mean, std = _ms(stats, scale)
        ax.bar(x + (i - (len(series) - 1) / 2) * width, mean, width, yerr=std, capsize=3,
               label=name if len(series) > 1 else None,
               color=None if colors is None else colors[i % len(colors)])
    ax.set_xticks(x, labels, rotation=30 if rotate else 0, ha="right" if rotate else "center",
                  fontsize=8)
    for label, y in (refs or {}).items():
        hline(ax, scale * y, label)
    if "title" in style_kw:
        style(ax, **style_kw)


def hline(ax, y: float, label: str, *, color: str = "gray", ls: str = "--") -> None:
    """A horizontal reference line (a teacher, a published number, the Bayes optimum)."""
    ax.axhline(y, color=color, ls=ls, lw=1, label=label)


def style(ax, *, title: str, xlabel: str = "", ylabel: str = "", logx: bool = False,
          xticks: Sequence[float] | None = None, legend: bool = True) -> None:
    """Title, labels, an optional log x axis with plain tick labels, and the legend."""
    if logx:
        ax.set_xscale("log")
    if xticks is not None:
        ax.set_xticks(list(xticks), [f"{t:g}" for t in xticks])
        ax.minorticks_off()
    ax.set_title(title, fontsize=FONT["title"])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=FONT["legend"])


def finish(fig, title: str):
    """The figure's title and layout; returns the figure."""
    fig.suptitle(title, fontsize=FONT["suptitle"])
    fig.tight_layout()
    return fig

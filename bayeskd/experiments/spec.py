r"""An experiment as a declarative spec: what it reproduces, its sizes, how it measures, its plot
and its expectations.

A spec holds no loops over seeds, writes no files and types no number in prose. The runner
(:mod:`bayeskd.experiments.runner`) calls ``measure(cfg, ctx)``, summarises the rows it returns
with the spec's :class:`Table`\ s, calls ``derive`` for the named numbers the expectations read,
computes each verdict with the expectation's rule, writes ``results.json`` and renders the rest
from it.

An :class:`Expectation` holds a published number once, with its citation, names the value that
is ours, and carries the rule that decides whether the published direction *holds*:

  >>> e = Expectation("best T, small student", published="T ≈ 2.5–4",
  ...                 source="Hinton et al. 2015, §3", ours="best_t_small", rule=Between(2, 4))
  >>> e.verdict({"best_t_small": 8.0}), e.rule.text(e.ours)
  (False, 'best_t_small in [2, 4]')
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["Above", "All", "Below", "Between", "Describe", "Expectation", "Measured", "Spec",
           "Table", "WithinOf", "cells", "mean_std", "sizes"]


# --------------------------------------------------------------------------- rules


def _value(values: Mapping[str, Any], ref: str | float) -> float:
    if isinstance(ref, str):
        if ref not in values:
            raise KeyError(f"expectation refers to value {ref!r}, which derive() did not return; "
                           f"it has {', '.join(sorted(values))}")
        return float(values[ref])
    return float(ref)


def _name(ref: str | float) -> str:
    return ref if isinstance(ref, str) else f"{ref:g}"


@dataclasses.dataclass(frozen=True)
class Above:
    """Holds when ``ours > other + margin`` (``other``: a value name or a number); ``sd`` names a
    value whose multiple ``k`` is added to the margin (a difference beyond ``k`` std)."""

    other: str | float
    margin: float = 0.0
    sd: str | None = None
    k: float = 2.0

    def holds(self, values, ours: str) -> bool:
        extra = self.k * _value(values, self.sd) if self.sd else 0.0
        return _value(values, ours) > _value(values, self.other) + self.margin + extra

    def text(self, ours: str) -> str:
        m = f" + {self.margin:g}" if self.margin else ""
        s = f" + {self.k:g}·{self.sd}" if self.sd else ""
        return f"{ours} > {_name(self.other)}{m}{s}"


@dataclasses.dataclass(frozen=True)
class Below:
    """Holds when ``ours < other - margin`` (and beyond ``k`` times value ``sd``)."""

    other: str | float
    margin: float = 0.0
    sd: str | None = None
    k: float = 2.0

    def holds(self, values, ours: str) -> bool:
        extra = self.k * _value(values, self.sd) if self.sd else 0.0
        return _value(values, ours) < _value(values, self.other) - self.margin - extra

    def text(self, ours: str) -> str:
        m = f" - {self.margin:g}" if self.margin else ""
        s = f" - {self.k:g}·{self.sd}" if self.sd else ""
        return f"{ours} < {_name(self.other)}{m}{s}"


@dataclasses.dataclass(frozen=True)
class Between:
    """Holds when ``lo <= ours <= hi``."""

    lo: float
    hi: float

    def holds(self, values, ours: str) -> bool:
        return self.lo <= _value(values, ours) <= self.hi

    def text(self, ours: str) -> str:
        return f"{ours} in [{self.lo:g}, {self.hi:g}]"


@dataclasses.dataclass(frozen=True)
class WithinOf:
    """Holds when ``|ours - other| <= tol`` (``tol`` a number or a value name)."""

    other: str | float
    tol: str | float

    def holds(self, values, ours: str) -> bool:
        return abs(_value(values, ours) - _value(values, self.other)) <= _value(values, self.tol)

    def text(self, ours: str) -> str:
        return f"|{ours} - {_name(self.other)}| <= {_name(self.tol)}"


@dataclasses.dataclass(frozen=True)
class All:
    """Holds when every ``(value name, rule)`` pair holds."""

    parts: tuple[tuple[str, Any], ...]

    def holds(self, values, ours: str) -> bool:
        return all(rule.holds(values, name) for name, rule in self.parts)

    def text(self, ours: str) -> str:
        return " and ".join(rule.text(name) for name, rule in self.parts)


@dataclasses.dataclass(frozen=True)
class Describe:
    """No direction to compare: the number is reported, no verdict."""

    def holds(self, values, ours: str) -> None:
        return None

    def text(self, ours: str) -> str:
        return "descriptive"


# --------------------------------------------------------------------------- expectations


@dataclasses.dataclass(frozen=True)
class Expectation:
    """A published claim, once, beside the value of ours that tests it.

    Attributes:
      claim: what is compared, in a few words.
      published: the published number or direction, as the paper states it.
      source: the citation (paper and table/figure/section).
      ours: the name of the value (from the spec's ``derive``) that is ours.
      rule: decides "holds" / "does not hold" from the values (:class:`Above`, :class:`Below`,
        :class:`Between`, :class:`WithinOf`, :class:`All`, :class:`Describe`).
      show: more value names printed beside ``ours`` (context, e.g. the control arm).
      fmt: a format spec for the printed values (``".3f"``; ``"%"`` prints a fraction as a
        percentage with one decimal).
    """

    claim: str
    published: str
    source: str
    ours: str
    rule: Any
    show: tuple[str, ...] = ()
    fmt: str = ".3g"

    def verdict(self, values: Mapping[str, Any]) -> bool | None:
        """``True``/``False`` by the rule; ``None`` when it is descriptive or a value it reads is
        missing (``None``: not measured in this run, or not finite)."""
        needed = [self.ours] + [getattr(self.rule, f) for f in ("other", "sd", "tol")
                                if isinstance(getattr(self.rule, f, None), str)]
        needed += [n for n, _ in getattr(self.rule, "parts", ())]
        if any(values.get(n) is None for n in needed):
            return None
        out = self.rule.holds(values, self.ours)
        return None if out is None else bool(out)

    def names(self) -> tuple[str, ...]:
        return (self.ours, *self.show)


# --------------------------------------------------------------------------- the spec


@dataclasses.dataclass(frozen=True)
class Table:
    """A summary table: rows matching ``where`` grouped by ``group``, mean ± std of ``metrics``
    (:func:`bayeskd.metrics.summarize`)."""

    group: str | tuple[str, ...]
    metrics: tuple[str, ...]
    where: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Measured:
    """What ``measure`` returns: metric ``rows`` (one per part, arm and seed) and ``extra``
    JSON-able numbers that are not rows (curves, grids, per-round values)."""

    rows: list[dict]
    extra: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Spec:
    """One experiment (a figure or a job) for the runner.

    Attributes:
      name: the registry name (``bayeskd reproduce NAME``).
      title: one line.
      paper: the citation of what it reproduces ("" for a job of our own).
      mirrors: the table or figure of the paper it mirrors.
      claim: the published claim in a sentence (no numbers: those live in ``expectations``).
      sizes: ``{"smoke" | "quick" | "full": config}`` (frozen dataclasses of one class with a
        ``seeds`` field; :func:`sizes` builds them).
      measure: ``(cfg, ctx) -> Measured``; ``ctx`` is the runner's
        :class:`~bayeskd.experiments.runner.Context` (units, caches, log, progress).
      tables: ``{name: Table}`` summaries of the rows.
      derive: ``(summary, measured, cfg) -> {name: number}``, the values expectations read.
      expectations: the published claims, each with the rule that gives its verdict.
      plot: ``(view, cfg) -> {stem: matplotlib figure}`` where ``view`` has ``summary`` (tuple
        keys), ``values``, ``rows`` and ``extra``.
      check: ``cfg -> None``, cross-field and memory checks before any work (``ValueError``).
      command: the subcommand that runs it when it is a job (``compare-priors``); ``None`` for a
        figure (``bayeskd reproduce NAME``).
      report: ``{table name: ((metric, label, scale, digits), ...)}``: markdown tables of the
        summary rendered into ``summary.md`` and the READMEs.
      out: the default output folder under ``paper_figures/`` (default: ``name``).
      preset: for a committed variant of a job (the same ``command`` run with other settings,
        e.g. ``posterior_zoo_digits``): the top-level fields it sets, ``{field: value}``, applied
        to every size before ``--set``, and printed as flags in its command line.
    """

    name: str
    title: str
    paper: str
    mirrors: str
    claim: str
    sizes: Mapping[str, Any]
    measure: Callable[[Any, Any], Measured]
    tables: Mapping[str, Table] = dataclasses.field(default_factory=dict)
    derive: Callable[[dict, Measured, Any], dict] | None = None
    expectations: Sequence[Expectation] = ()
    plot: Callable[[Any, Any], dict] | None = None
    check: Callable[[Any], None] | None = None
    command: str | None = None
    report: Mapping[str, Sequence[tuple[str, str, float, int]]] = dataclasses.field(
        default_factory=dict)
    out: str | None = None
    preset: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def folder(self) -> str:
        return self.out or self.name


def sizes(quick: Any, *, smoke: dict, full: dict) -> dict[str, Any]:
    """``{"smoke", "quick", "full"}`` configs: ``quick`` as given, the others as its fields
    changed by ``smoke`` and ``full`` (``dataclasses.replace``; nested sections as dicts)."""
    def derive_size(changes: dict) -> Any:
        cfg = quick
        for k, v in changes.items():
            if isinstance(v, dict):
                v = dataclasses.replace(getattr(cfg, k), **v)
            cfg = dataclasses.replace(cfg, **{k: v})
        return cfg

    return {"smoke": derive_size(smoke), "quick": quick, "full": derive_size(full)}


def mean_std(name: str, stat: Mapping[str, Any]) -> dict[str, float]:
    """``{name: mean, name_std: std}`` of a summary cell (rendered as ``mean ± std``)."""
    return {name: stat["mean"], f"{name}_std": stat["std"]}


def cells(table: Mapping, metric: str | None = None, **names: Any) -> dict[str, float]:
    """:func:`mean_std` of several cells of one summary table: ``name=key`` (with ``metric``) or
    ``name=(key, metric)``; a cell the table lacks gives ``nan`` (no verdict).

    Example:
      >>> t = {"kd": {"acc": {"mean": 0.8, "std": 0.1, "n": 3}}}
      >>> cells(t, "acc", kd="kd", none="none")
      {'kd': 0.8, 'kd_std': 0.1, 'none': nan, 'none_std': nan}
    """
    out = {}
    for name, where in names.items():
        key, m = (where, metric) if metric is not None else where
        out |= mean_std(name, table.get(key, {}).get(m) or {"mean": math.nan, "std": math.nan})
    return out

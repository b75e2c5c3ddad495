"""Experiment configurations: frozen dataclasses whose fields say their type, range and help.

Every spec's configuration is a frozen dataclass; nested sections are dataclasses too. Each field
is declared with :func:`option` (or a shorthand: :func:`count`, :func:`positive`, :func:`unit`,
:func:`choice`), whose metadata the runner reads for three things, so none is written by hand:

* **validation** (:func:`check_config`): the type, the allowed values or range of every field,
  checked before any work; a bad value raises ``ValueError("<name>: <what is allowed>, got X")``;
* **overrides** (:func:`apply_overrides`): ``--set section.field=VALUE`` on any field, the value
  read by the field's declared type (a tuple as a comma list);
* **command-line flags** (:func:`add_flags`): a job's top-level fields become ``--field-name``
  flags with their help and allowed values.

Example:
  >>> import dataclasses
  >>> @dataclasses.dataclass(frozen=True)
  ... class Teacher:
  ...     steps: int = count(100, "optimiser steps")
  >>> @dataclasses.dataclass(frozen=True)
  ... class Cfg:
  ...     seeds: int = count(3, "seeds")
  ...     alpha: float = unit(0.9, "KD weight")
  ...     teacher: Teacher = section(Teacher)
  >>> cfg, parsed = apply_overrides(Cfg(), ["teacher.steps=5", "alpha=0.5"])
  >>> cfg
  Cfg(seeds=3, alpha=0.5, teacher=Teacher(steps=5))
  >>> check_config(dataclasses.replace(cfg, alpha=2.0))
  Traceback (most recent call last):
  ...
  ValueError: alpha: must lie in [0, 1], got 2.0
"""

from __future__ import annotations

import dataclasses
import math
import sys
import types
import typing
from collections.abc import Sequence
from typing import Any

__all__ = ["apply_overrides", "add_flags", "check_config", "choice", "config_dict", "count",
           "flag_overrides", "option", "positive", "section", "unit"]

_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def option(default: Any, help: str = "", *, choices: Sequence | None = None,  # noqa: A002
           min: float | None = None, max: float | None = None,  # noqa: A002
           open_min: bool = False, flag: bool = True, or_factory: bool = False) -> Any:
    """A configuration field with its help, allowed values (``choices``) or range.

    ``min``/``max`` bound numbers (and every element of a tuple); ``open_min`` makes the lower
    bound strict. ``flag=False`` keeps a job's field off its command line (``--set`` reaches it).
    ``or_factory`` also admits a ``module.path:factory`` string beside ``choices`` (a model of
    your own: the spec's ``check`` imports and checks it, :func:`bayeskd.models.check_user_model`).
    Tuple defaults are fine (they are immutable).
    """
    meta = {"help": help, "choices": tuple(choices) if choices is not None else None,
            "min": min, "max": max, "open_min": open_min, "flag": flag, "or_factory": or_factory}
    return dataclasses.field(default=default, metadata=meta)


def count(default: int | None, help: str = "", **kw) -> Any:  # noqa: A002
    """An integer field >= 1 (steps, seeds, sizes)."""
    return option(default, help, min=1, **kw)


def positive(default: float, help: str = "", **kw) -> Any:  # noqa: A002
    """A number field > 0 (temperatures, learning rates)."""
    return option(default, help, min=0, open_min=True, **kw)


def unit(default: float, help: str = "", **kw) -> Any:  # noqa: A002
    """A number field in [0, 1] (weights, probabilities)."""
    return option(default, help, min=0, max=1, **kw)


def choice(default: Any, choices: Sequence, help: str = "", **kw) -> Any:  # noqa: A002
    """A field whose value (or every element of a tuple value) is one of ``choices``."""
    return option(default, help, choices=choices, **kw)


def section(cls: type) -> Any:
    """A nested section (a dataclass with defaults)."""
    return dataclasses.field(default_factory=cls, metadata={"section": True})


# --------------------------------------------------------------------------- types


def _hints(cls: type) -> dict[str, Any]:
    """The declared type of every non-section field (string annotations evaluated in the
    defining module)."""
    module = sys.modules.get(cls.__module__)
    scope = vars(module) if module is not None else {}
    return {f.name: eval(f.type, scope) if isinstance(f.type, str) else f.type  # noqa: S307
            for f in dataclasses.fields(cls) if not f.metadata.get("section")}


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    """``(T, True)`` for ``T | None``; ``(tp, False)`` otherwise."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
    return tp, False


def _element(tp: Any) -> Any | None:
    """The element type of ``tuple[T, ...]`` (``None`` for a non-tuple type)."""
    if typing.get_origin(tp) is tuple:
        args = typing.get_args(tp)
        return args[0] if args else str
    return None


def _describe(tp: Any) -> str:
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(
        tp, getattr(tp, "__name__", str(tp)))


def _parse_scalar(tp: Any, text: str, name: str) -> Any:
    text = text.strip()
    if tp is bool:
        low = text.lower()
        if low not in _TRUE + _FALSE:
            raise ValueError(f"{name}: must be true or false, got {text!r}")
        return low in _TRUE
    if tp in (int, float):
        try:
            return tp(text)
        except ValueError:
            raise ValueError(f"{name}: must be {_describe(tp)}, got {text!r}") from None
    return text


def parse_value(tp: Any, text: str, name: str) -> Any:
    """``text`` read as type ``tp`` (``none`` for an optional field; tuples as comma lists)."""
    tp, optional = _unwrap_optional(tp)
    if optional and text.strip().lower() in ("none", ""):
        return None
    elem = _element(tp)
    if elem is not None:
        parts = [p for p in text.split(",") if p.strip()]
        return tuple(_parse_scalar(elem, p, name) for p in parts)
    return _parse_scalar(tp, text, name)


# --------------------------------------------------------------------------- validation


def _check_scalar(value: Any, tp: Any, meta: dict, name: str) -> None:
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    ok = isinstance(value, tp) and not (tp in (int, float) and isinstance(value, bool))
    if not ok:
        raise ValueError(f"{name}: must be {_describe(tp)}, got {value!r}")
    factory = meta.get("or_factory") and isinstance(value, str) and ":" in value
    if meta.get("choices") is not None and value not in meta["choices"] and not factory:
        also = " or module.path:factory" if meta.get("or_factory") else ""
        raise ValueError(f"{name}: must be one of {', '.join(map(str, meta['choices']))}{also}, "
                         f"got {value!r}")
    if tp in (int, float):
        lo, hi = meta.get("min"), meta.get("max")
        if not math.isfinite(value):
            raise ValueError(f"{name}: must be a finite number, got {value!r}")
        below = lo is not None and (value <= lo if meta.get("open_min") else value < lo)
        above = hi is not None and value > hi
        if below or above:
            if lo is not None and hi is not None:
                rng = f"lie in {'(' if meta.get('open_min') else '['}{lo:g}, {hi:g}]"
            elif lo is not None:
                rng = f"be {'>' if meta.get('open_min') else '>='} {lo:g}"
            else:
                rng = f"be <= {hi:g}"
            raise ValueError(f"{name}: must {rng}, got {value!r}")


def check_config(cfg: Any, *, prefix: str = "") -> Any:
    """Check every field of ``cfg`` (recursively) against its declared type and metadata.

    Returns ``cfg``. Raises ``ValueError`` naming the field (``section.field``) and what is
    allowed, before any work.
    """
    hints = _hints(type(cfg))
    for f in dataclasses.fields(cfg):
        name, value = prefix + f.name, getattr(cfg, f.name)
        if f.metadata.get("section"):
            check_config(value, prefix=name + ".")
            continue
        tp, optional = _unwrap_optional(hints[f.name])
        if value is None:
            if not optional:
                raise ValueError(f"{name}: must be {_describe(tp)}, got None")
            continue
        elem = _element(tp)
        if elem is None:
            _check_scalar(value, tp, f.metadata, name)
            continue
        if not isinstance(value, tuple):
            raise ValueError(f"{name}: must be a comma list of {_describe(elem)}s, got {value!r}")
        for v in value:
            _check_scalar(v, elem, f.metadata, name)
    return cfg


# --------------------------------------------------------------------------- overrides


def _fields_of(cfg: Any, prefix: str = "") -> dict[str, tuple[Any, Any]]:
    """``{dotted name: (field, type)}`` of every leaf field."""
    out = {}
    hints = _hints(type(cfg))
    for f in dataclasses.fields(cfg):
        if f.metadata.get("section"):
            out |= _fields_of(getattr(cfg, f.name), prefix + f.name + ".")
        else:
            out[prefix + f.name] = (f, hints[f.name])
    return out


def _replace(cfg: Any, dotted: str, value: Any) -> Any:
    head, _, rest = dotted.partition(".")
    if rest:
        return dataclasses.replace(cfg, **{head: _replace(getattr(cfg, head), rest, value)})
    return dataclasses.replace(cfg, **{head: value})


def apply_overrides(cfg: Any, overrides: Sequence[str] | dict | None, *,
                    what: str = "--set") -> tuple[Any, dict]:
    """``cfg`` with ``FIELD=VALUE`` strings (or a ``{field: value}`` dict) applied; nested fields
    as ``section.field``. Returns the new configuration and the parsed ``{field: value}``.

    Unknown fields and unreadable values raise ``ValueError`` naming ``what`` and the allowed
    fields or type; ranges are checked by :func:`check_config` afterwards.
    """
    if not overrides:
        return cfg, {}
    fields = _fields_of(cfg)
    if isinstance(overrides, dict):
        items = list(overrides.items())
    else:
        items = []
        for o in overrides:
            key, sep, text = str(o).partition("=")
            if not sep or not key.strip():
                raise ValueError(f"{what}: must be FIELD=VALUE, got {o!r}")
            items.append((key.strip(), text))
    parsed = {}
    for key, value in items:
        if key not in fields:
            raise ValueError(f"{what}: no field {key!r}; allowed: {', '.join(fields)}")
        _, tp = fields[key]
        parsed[key] = parse_value(tp, value, key) if isinstance(value, str) else value
        cfg = _replace(cfg, key, parsed[key])
    return cfg, parsed


def config_dict(cfg: Any) -> dict:
    """The configuration as plain JSON values (tuples as lists)."""
    return dataclasses.asdict(cfg)


# --------------------------------------------------------------------------- CLI flags


def add_flags(parser, cfg_cls: type, *, skip: Sequence[str] = ()) -> None:
    """Add ``--field-name`` for every top-level, non-section field of ``cfg_cls`` (default: not
    given, so the size's value stands). Values are parsed as strings by :func:`flag_overrides`."""
    hints = _hints(cfg_cls)
    for f in dataclasses.fields(cfg_cls):
        if f.metadata.get("section") or not f.metadata.get("flag", True) or f.name in skip:
            continue
        tp, optional = _unwrap_optional(hints[f.name])
        elem = _element(tp)
        allowed = f.metadata.get("choices")
        if allowed:
            extra = ("comma-separated, each " if elem is not None else "") + \
                f"one of {', '.join(map(str, allowed))}" + \
                (", or module.path:factory" if f.metadata.get("or_factory") else "")
        elif (elem or tp) is str:
            extra = "comma-separated" if elem is not None else ""
        else:
            extra = _describe(elem or tp) + ("s, comma-separated" if elem is not None else "")
        help_ = f.metadata.get("help", "") + (f" ({extra})" if extra else "")
        parser.add_argument("--" + f.name.replace("_", "-"), dest=f"cfg_{f.name}", default=None,
                            metavar=f.name.upper(), help=help_.strip())


def flag_overrides(args, cfg_cls: type) -> dict:
    """``{field: text}`` of the flags :func:`add_flags` added that were given on the command line."""
    out = {}
    for f in dataclasses.fields(cfg_cls):
        value = getattr(args, f"cfg_{f.name}", None)
        if value is not None:
            out[f.name] = value if isinstance(value, str) else str(value)
    return out

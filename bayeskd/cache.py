"""bayeskd's caches: ``.npz`` files that prove their contents, and XLA's compiled programs.

Compiled programs: :func:`enable_compile_cache` keeps every program XLA compiles in
``$BAYESKD_CACHE/xla`` (JAX's persistent compilation cache), so a second process that builds
the same program (a rerun, the next seed of a job, the next figure) loads it from disk instead of
compiling it. Every ``bayeskd`` command turns it on; ``--no-compile-cache`` or
``BAYESKD_COMPILE_CACHE=0`` turns it off. In Python or a notebook, call
``bayeskd.enable_compile_cache()`` once.

Generated datasets and trained teachers are cached under :func:`cache_root` and reused by every
later job, so a cache file is checked like a checkpoint, and keyed by the code that fills it:
:func:`cached_arrays` is the one "get or compute and store". Its key holds the settings *and* the
SHA-256 of every module that computes the entry (:func:`bayeskd.provenance.code_digests`), so an
entry never outlives the code that made it; the digests are stored in the entry, and every entry a
job reads or writes is recorded (:func:`recording`) so that its ``results.json`` names the
cached inputs it used and ``bayeskd check-results`` can tell when their code changed. :func:`write_npz_verified` stores, next to
the arrays, the digest

.. math::

    d = \\mathrm{SHA256}\\big(\\Vert_{k \\in \\mathrm{sorted\\ names}}\\;
        k \\,\\Vert\\, \\mathrm{dtype}_k \\,\\Vert\\, \\mathrm{shape}_k \\,\\Vert\\,
        \\mathrm{bytes}_k\\big)

under the key ``__sha256__``, and writes the file atomically. :func:`read_npz_verified` recomputes
it on read: a file that is truncated, not an archive, lacks the digest (written by an older
bayeskd) or whose arrays were altered is reported with the reason, and the caller recomputes the
entry and replaces the file.

Example:
  >>> import numpy as np, tempfile, os
  >>> path = os.path.join(tempfile.mkdtemp(), "entry.npz")
  >>> read_npz_verified(path)
  CacheRead(arrays=None, problem=None)
  >>> write_npz_verified(path, {"x": np.arange(3)})
  >>> read_npz_verified(path).arrays["x"]
  array([0, 1, 2])
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import pathlib
import warnings
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from bayeskd.io import check_out_dir, write_bytes
from bayeskd.provenance import code_digests, jax_numerics

__all__ = ["COMPILE_CACHE_VARIABLE", "CacheRead", "CacheWarning", "array_digest", "cache_root",
           "cached_arrays", "compile_cache_wanted", "enable_compile_cache", "fresh_caches",
           "read_npz_verified", "recording", "warn_cache_problem", "write_npz_verified"]

DIGEST_KEY = "__sha256__"
COMPILE_CACHE_VARIABLE = "BAYESKD_COMPILE_CACHE"
_SWITCH = {"1": True, "true": True, "on": True, "yes": True,
           "0": False, "false": False, "off": False, "no": False}


def cache_root(cache_dir: str | os.PathLike | None = None) -> pathlib.Path:
    """bayeskd's cache folder: ``cache_dir``, else ``$BAYESKD_CACHE``, else ``~/.cache/bayeskd``."""
    if cache_dir is not None:
        return pathlib.Path(cache_dir).expanduser()
    env = os.environ.get("BAYESKD_CACHE")
    if env:
        return pathlib.Path(env).expanduser()
    return pathlib.Path.home() / ".cache" / "bayeskd"


class CacheWarning(UserWarning):
    """A cache file was unusable and is being recomputed."""


class CacheRead(NamedTuple):
    """What :func:`read_npz_verified` found: the arrays, or ``None`` and why (``problem`` is
    ``None`` when the file does not exist)."""

    arrays: dict[str, np.ndarray] | None
    problem: str | None


def array_digest(arrays: Mapping[str, np.ndarray]) -> str:
    """Hex SHA-256 of named arrays: names in sorted order, each with its dtype, shape and bytes."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}\0{a.dtype.str}\0{a.shape}\0".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def write_npz_verified(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` and their :func:`array_digest` to ``path`` atomically (no pickles)."""
    if DIGEST_KEY in arrays:
        raise ValueError(f"arrays: {DIGEST_KEY!r} is reserved for the digest")
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    buf = io.BytesIO()
    np.savez(buf, **arrays, **{DIGEST_KEY: np.asarray(array_digest(arrays))})
    write_bytes(path, buf.getvalue())


def read_npz_verified(path: str | os.PathLike) -> CacheRead:
    """The arrays of a file written by :func:`write_npz_verified` if their digest matches.

    Returns ``CacheRead(arrays, None)`` on success, ``CacheRead(None, None)`` when ``path`` does
    not exist, and ``CacheRead(None, reason)`` when it is unreadable, has no digest or its arrays
    do not match the digest. Never raises for a bad file.
    """
    path = pathlib.Path(path)
    if not path.exists():
        return CacheRead(None, None)
    try:
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as z:  # we close the file
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, KeyError, TypeError, AttributeError,
            zipfile.BadZipFile) as e:  # TypeError: a bare .npy array is no archive
        first = str(e).splitlines()[0] if str(e) else ""
        return CacheRead(None, f"is unreadable ({type(e).__name__}: {first})")
    stored = arrays.pop(DIGEST_KEY, None)
    if stored is None:
        return CacheRead(None, "has no digest (written by an older bayeskd)")
    if str(stored) != array_digest(arrays):
        return CacheRead(None, "does not match its stored SHA-256 (altered or damaged)")
    return CacheRead(arrays, None)


def warn_cache_problem(path: str | os.PathLike, problem: str, *, action: str) -> None:
    """One-line :class:`CacheWarning`: ``cache file '<path>' <problem>; <action>``."""
    warnings.warn(f"cache file {str(path)!r} {problem}; {action}", CacheWarning, stacklevel=3)


def compile_cache_wanted() -> bool:
    """Whether ``$BAYESKD_COMPILE_CACHE`` leaves the compilation cache on (unset: on).

    Accepted values (any case): ``1``, ``true``, ``on``, ``yes`` and ``0``, ``false``, ``off``,
    ``no``; anything else is refused, naming the variable.
    """
    value = os.environ.get(COMPILE_CACHE_VARIABLE, "").strip().lower()
    if not value:
        return True
    if value not in _SWITCH:
        raise ValueError(f"{COMPILE_CACHE_VARIABLE}: must be one of 0, 1, false, true, off, on, "
                         f"no, yes, got {os.environ[COMPILE_CACHE_VARIABLE]!r}")
    return _SWITCH[value]


def enable_compile_cache(path: str | os.PathLike | None = None) -> pathlib.Path | None:
    """Keep XLA's compiled programs on disk, so another process loads them instead of compiling.

    The folder is ``path``, else the one JAX already uses (``JAX_COMPILATION_CACHE_DIR`` or
    ``jax.config``), else ``<bayeskd cache>/xla`` (:func:`cache_root`). Every
    program is kept, however fast it compiled: a student's whole training run is a handful of
    programs that each compile in about a second or less, under JAX's default threshold of 1 s.
    Nothing happens when ``$BAYESKD_COMPILE_CACHE`` is ``0`` (:func:`compile_cache_wanted`).

    Returns:
      The folder in use, or ``None`` when the cache is switched off or its folder cannot be
      created (then a :class:`CacheWarning` says why and programs are compiled as usual).
    """
    if not compile_cache_wanted():
        return None
    import jax

    if path is None and jax.config.jax_compilation_cache_dir:
        return pathlib.Path(jax.config.jax_compilation_cache_dir)
    folder = pathlib.Path(path) if path is not None else cache_root() / "xla"
    try:  # JAX creates the folder at its first write, after a command has checked its input
        check_out_dir(folder, name="compile cache")
    except ValueError as e:
        warnings.warn(f"compile cache folder {str(folder)!r} cannot be created "
                      f"({str(e).split(': ', 1)[1]}); "
                      "compiling without it", CacheWarning, stacklevel=2)
        return None
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return folder


# --------------------------------------------------------------------------- code-keyed entries

_RECORDS: list[list[dict]] = []  # one list per active recording()
_FRESH: list[bool] = [False]


@contextlib.contextmanager
def recording() -> Iterator[list[dict]]:
    """Collect every :func:`cached_arrays` entry read or written inside the block (the runner
    writes them to ``results.json`` as ``inputs``). Entries are listed once, in first-use order."""
    found: list[dict] = []
    _RECORDS.append(found)
    try:
        yield found
    finally:
        _RECORDS.remove(found)


@contextlib.contextmanager
def fresh_caches(fresh: bool = True) -> Iterator[None]:
    """Inside the block, :func:`cached_arrays` recomputes every entry (and replaces the file)
    instead of reading it: ``--fresh`` retrains the teacher too."""
    _FRESH.append(bool(fresh))
    try:
        yield
    finally:
        _FRESH.pop()


def _record(entry: dict) -> None:
    for found in _RECORDS:
        if not any(e["file"] == entry["file"] for e in found):
            found.append(entry)


def entry_path(kind: str, key: Mapping[str, Any], *, code: Sequence[str],
               cache_dir: str | os.PathLike | None = None, runs_jax: bool = True) -> pathlib.Path:
    """The file of :func:`cached_arrays`' entry ``kind`` for settings ``key``, the current
    digests of ``code`` and, when ``runs_jax``, :func:`~bayeskd.provenance.jax_numerics` (a
    teacher trained with other XLA flags, JAX version or CPU has other bits)."""
    parts = {"key": key, "code": code_digests(code)} | ({"jax": jax_numerics()} if runs_jax else {})
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return cache_root(cache_dir) / kind / f"{hashlib.sha256(blob).hexdigest()[:20]}.npz"


def cached_arrays(kind: str, key: Mapping[str, Any], compute: Callable[[], Mapping[str, Any]],
                  *, code: Sequence[str], cache_dir: str | os.PathLike | None = None,
                  use_cache: bool = True, log: Callable[[str], Any] | None = None,
                  runs_jax: bool = True) -> dict[str, np.ndarray]:
    """Entry ``kind`` for settings ``key``: read from ``<cache_root>/<kind>/``, or ``compute()``
    (a dict of arrays) stored there, digest-verified.

    The entry's file name hashes ``key`` together with :func:`~bayeskd.provenance.code_digests`
    of ``code`` (module names; a package stands for all its modules), so changed code computes a
    new entry; with ``runs_jax`` (``compute`` runs JAX programs) it hashes the JAX runtime's
    numerics too (:func:`entry_path`). A damaged file is reported in one :class:`CacheWarning`
    and recomputed.
    ``use_cache=False`` computes and stores nothing; inside :func:`fresh_caches` the entry is
    recomputed and replaced.
    """
    digests = code_digests(code)
    path = entry_path(kind, key, code=code, cache_dir=cache_dir, runs_jax=runs_jax)
    if not use_cache:
        return {k: np.asarray(v) for k, v in compute().items()}
    record = {"kind": kind, "file": f"{kind}/{path.name}", "code": digests}
    if not _FRESH[-1]:
        found = read_npz_verified(path)
        if found.arrays is not None:
            _record(record)
            return found.arrays
        if found.problem is not None:
            warn_cache_problem(path, found.problem, action=f"computing the {kind} entry again")
    arrays = {k: np.asarray(v) for k, v in compute().items()}
    write_npz_verified(path, arrays)
    _record(record)
    if log is not None:
        log(f"[cache] {kind}: stored {path.name}")
    return arrays

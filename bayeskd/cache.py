"""Cache files that prove their contents: ``.npz`` archives carrying a SHA-256 of their arrays.

Generated datasets and trained teachers are cached under ``$BAYESKD_CACHE`` and reused by every
later job, so a cache file is checked like a checkpoint. :func:`write_npz_verified` stores, next to
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

import hashlib
import io
import os
import pathlib
import warnings
import zipfile
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

from bayeskd.io import write_bytes

__all__ = ["CacheRead", "CacheWarning", "array_digest", "read_npz_verified", "warn_cache_problem",
           "write_npz_verified"]

DIGEST_KEY = "__sha256__"


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

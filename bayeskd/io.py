"""Atomic, locked output folders: nothing half-written is ever left under ``--out``.

Every file is written to a temporary name in the same folder and moved into place with
``os.replace`` (atomic on POSIX), so a crash leaves either the old file or the new one. A job holds
``<out>/.bayeskd.lock`` (an ``fcntl`` lock) while it runs, so a second job on the same folder
refuses with a clear message instead of interleaving its files. The kernel drops the lock when a
job dies, even by SIGKILL; the next job on the folder removes the temporary files it left.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import json
import os
import pathlib
import sys
import tempfile
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np


class OutputLocked(ValueError):
    """Another bayeskd job holds the output folder (bad input: the CLI exits with status 2)."""


def check_out_dir(out: str | os.PathLike, *, name: str = "--out") -> pathlib.Path:
    """Validate an output folder before any work: not a file, creatable and writable.

    Creates nothing. Raises ``ValueError`` naming ``name`` when the path is unusable.
    """
    path = pathlib.Path(out)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{name}: {str(path)!r} is a file; give a folder path")
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise ValueError(f"{name}: {str(probe)!r} is a file, not a folder")
    if not _can_create_in(probe):
        raise ValueError(f"{name}: {str(probe)!r} is not writable")
    return path


def _can_create_in(folder: pathlib.Path) -> bool:
    """Whether a file can be created in ``folder``: tried for real (permission bits do not stop
    root, and read-only mounts or immutable folders are not visible in them); the probe file is
    removed at once."""
    if not os.access(folder, os.W_OK | os.X_OK):
        return False
    try:
        fd, tmp = tempfile.mkstemp(prefix=".bayeskd-probe.", dir=folder)
    except OSError:
        return False
    os.close(fd)
    os.unlink(tmp)
    return True


def _json_default(obj: Any):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if hasattr(obj, "__array__"):
        return np.asarray(obj).tolist()
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def _umask() -> int:
    """The process's file-creation mask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _writes_here() -> bool:
    """False on processes other than 0 of a multi-process JAX run (JAX is not imported for this)."""
    jax = sys.modules.get("jax")
    if jax is None or not jax.distributed.is_initialized():
        return True
    from bayeskd.distributed import is_main_process

    return is_main_process()


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then rename).

    The file gets the mode an ordinary ``open(path, "w")`` would give, ``0o666 & ~umask``
    (``mkstemp`` alone makes it ``0o600``). A failing write (a full disk, a read-only folder)
    removes the temporary file and raises ``OSError`` naming ``path``. In a multi-process run
    only process 0 writes (:func:`bayeskd.distributed.is_main_process`); the others skip it.
    """
    if not _writes_here():
        return
    path = pathlib.Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o666 & ~_umask())
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        if isinstance(e, OSError) and e.filename is None:  # write(2) errors name no file
            raise OSError(e.errno, e.strerror, str(path)) from e
        raise


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Atomic JSON with sorted keys and a trailing newline (byte-stable for equal inputs)."""
    text = json.dumps(obj, indent=2, sort_keys=True, default=_json_default, allow_nan=True)
    write_bytes(path, (text + "\n").encode())


def write_csv(path: str | os.PathLike, rows: Sequence[dict], *, fields: Sequence[str] | None = None) -> None:
    """Atomic CSV of ``rows`` (dicts); columns are ``fields`` or the union of keys in order."""
    if fields is None:
        fields = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(fields), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: _csv_value(r.get(k)) for k in fields})
    write_bytes(path, buf.getvalue().encode())


def _csv_value(v):
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, list | tuple):
        return ";".join(_csv_value(x) for x in v)
    return v


def write_text(path: str | os.PathLike, text: str) -> None:
    """Atomic text file."""
    write_bytes(path, text.encode())


def save_figure(fig, path: str | os.PathLike, *, dpi: int = 110) -> None:
    """Save a matplotlib figure atomically; the format follows the suffix (``.png``, ``.pdf``).

    PNGs carry no creation-time metadata, so equal figures give equal bytes.
    """
    path = pathlib.Path(path)
    buf = io.BytesIO()
    fmt = path.suffix.lstrip(".")
    metadata = {"Software": None} if fmt == "png" else {"CreationDate": None, "Producer": None}
    fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight", metadata=metadata)
    write_bytes(path, buf.getvalue())


@contextlib.contextmanager
def locked_output(out: str | os.PathLike) -> Iterator[pathlib.Path]:
    """Create ``out`` and hold its lock for the duration; a second holder gets ``OutputLocked``.

    In a multi-process run only process 0 writes, so only process 0 creates and locks ``out``;
    the other processes get its path untouched."""
    path = check_out_dir(out)
    if not _writes_here():
        yield path
        return
    created = not path.exists()
    path.mkdir(parents=True, exist_ok=True)
    lock_path = path / ".bayeskd.lock"
    lock_created = not lock_path.exists()
    f = open(lock_path, "a+")  # noqa: SIM115
    locked = False
    try:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputLocked(
                f"--out: {str(path)!r} is in use by another bayeskd job (lock {lock_path.name}); "
                "wait for it or choose another --out"
            ) from None
        locked = True
        for stale in path.glob(".*.tmp"):  # half-written files of a killed job (we hold the lock)
            stale.unlink(missing_ok=True)
        yield path
    except BaseException:
        # A job that fails leaves behind nothing it did not write: not the lock file it created
        # (removed while still held), and not the folder it created if that is now empty.
        if locked and lock_created:
            lock_path.unlink(missing_ok=True)
        if created and not any(path.iterdir()):
            with contextlib.suppress(OSError):
                path.rmdir()
        raise
    finally:
        f.close()

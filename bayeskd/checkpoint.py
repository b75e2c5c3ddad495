"""Checkpoints that survive a kill: finished sweep units and mid-run trainer states.

A long job is a sweep of *units* (a teacher, one prior's students, one posterior...). Everything
a job needs to resume lives in one hidden folder, ``<out>/.checkpoints``, owned by a
:class:`SweepStore`:

.. code-block:: text

    <out>/.checkpoints/
        manifest.json                 the configuration hash these checkpoints belong to
        units/<name>.npz              one finished unit: JSON values + numpy arrays, one file
        train/<name>/step_NNNNNNNNN/  an orbax checkpoint of a TrainState, mid-training
        train/<name>/step_NNNNNNNNN.json   its record: step, config hash, file digest, history

Usage inside a job (``out_dir`` already held by :func:`bayeskd.io.locked_output`):

.. code-block:: python

    store = SweepStore.for_output(out_dir, config=cfg_dict, fresh=fresh, log=log)

    def students():
        res = fit(..., checkpoint=store.trainer("student-kd"))   # resumes mid-run
        return {"rows": rows, "probs": probs_array}

    unit = store.cached("student-kd", students)   # stored once (the trainer checkpoint dropped)

Guarantees (tested in ``tests/reliability``):

* **Atomic.** A unit is one file written under a temporary name and renamed into place; a
  trainer checkpoint is an orbax directory committed by rename, and counts only once its record
  (written last, atomically) exists. A kill at any moment leaves the previous complete state.
* **Exact.** Units round-trip Python floats through JSON (``repr`` is exact) and arrays through
  ``.npz`` bit for bit; trainer states are restored leaf by leaf (PRNG keys through
  ``jax.random.key_data``), so a resumed run equals an uninterrupted one bit for bit.
* **Bound to a configuration.** The manifest records the hash of the job's configuration.
  Checkpoints of a *different* configuration (e.g. the same ``--out`` with other flags) are not
  used: one line goes to the log and they are replaced at the first new write. ``fresh=True``
  (``--fresh``) does the same for checkpoints of the same configuration.
* **Corruption is refused, not guessed around.** A manifest, unit or trainer checkpoint whose
  bytes do not match what was written raises :class:`CheckpointError` (a ``ValueError``, so the
  CLI prints one line and exits 2) naming the file, before any work starts; ``--fresh`` discards
  it. Leftovers of an interrupted write (temporary files, uncommitted orbax folders, folders
  without a record) are not corruption: they are ignored and cleaned up.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import pathlib
import re
import shutil
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from bayeskd.io import write_bytes

FORMAT = 1
CHECKPOINT_DIR = ".checkpoints"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.=+-]*$")
_STEP = re.compile(r"^step_(\d{9})$")


class CheckpointError(ValueError):
    """A checkpoint is unreadable, corrupted or does not fit the run; the message names its path."""


def config_hash(obj: Any) -> str:
    """A short, stable hash of a JSON-able configuration (sorted keys; 16 hex digits)."""
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _corrupt(path: os.PathLike, why: str, root: os.PathLike) -> CheckpointError:
    return CheckpointError(
        f"checkpoint: {str(path)!r} is unreadable or corrupted ({why}); rerun with --fresh "
        f"(or fresh=True) to discard the checkpoints in {str(root)!r}"
    )


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"name: unit names use letters, digits and _.=+- only, got {name!r}")


# --------------------------------------------------------------------------------------------
# Units: JSON-able values with numpy arrays, one .npz file each.


def _encode(value: Any, arrays: list[np.ndarray]) -> Any:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str) or k == "__array__":
                raise TypeError(f"unit keys must be strings other than '__array__', got {k!r}")
            out[k] = _encode(v, arrays)
        return out
    if isinstance(value, list | tuple):
        return [_encode(v, arrays) for v in value]
    if isinstance(value, jax.Array) and jax.dtypes.issubdtype(value.dtype, jax.dtypes.prng_key):
        raise TypeError("units cannot hold PRNG key arrays; store jax.random.key_data(key)")
    if isinstance(value, np.ndarray | jax.Array):
        arrays.append(np.asarray(value))
        return {"__array__": len(arrays) - 1}
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"units hold dicts, lists, numbers, strings and arrays, not {type(value).__name__}")


def _decode(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__array__"}:
            return arrays[f"a{value['__array__']}"]
        return {k: _decode(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v, arrays) for v in value]
    return value


def _read_unit(path: pathlib.Path | bytes) -> tuple[dict, dict[str, np.ndarray]]:
    """``(meta, arrays)`` of a unit file (or its bytes); every member is read, so zip CRCs are
    checked."""
    blob = path if isinstance(path, bytes) else path.read_bytes()
    with np.load(io.BytesIO(blob), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(arrays.pop("__meta__").tobytes().decode())
    return meta, arrays


# --------------------------------------------------------------------------------------------
# Trainer states: orbax checkpoints of a flattened pytree, with a record written last.


@dataclasses.dataclass(frozen=True)
class Restored:
    """A trainer state read back from a checkpoint, with the run's history up to ``step``."""

    state: Any
    step: int
    history: dict
    last_loss: float


def _digest(directory: pathlib.Path) -> str:
    h = hashlib.sha256()
    for p in sorted(directory.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(directory)).encode() + b"\0")
            h.update(p.read_bytes())
    return h.hexdigest()


def _is_key(leaf) -> bool:
    return isinstance(leaf, jax.Array) and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key)


class TrainCheckpointer:
    """Saves and restores a trainer state (any pytree of arrays) in one folder, with orbax.

    ``fit(..., checkpoint=ckpt)`` calls :meth:`restore` once before training and :meth:`save`
    after every chunk. Only the newest ``keep`` checkpoints are kept; older ones are deleted only
    after the newer one is complete.

    Args:
      directory: the folder (created on the first save).
      config_hash: the configuration these states belong to; recorded in every checkpoint and
        checked on restore.
      enabled: ``False`` makes :meth:`restore` ignore what is on disk (a fresh run).
      log: one-line messages (resuming, discarding leftovers).
      on_first_save: called once before the first write (the store writes its manifest there).
    """

    def __init__(self, directory: os.PathLike, *, config_hash: str, enabled: bool = True,
                 keep: int = 1, log: Callable[[str], Any] | None = None,
                 on_first_save: Callable[[], None] | None = None, root: os.PathLike | None = None):
        self.directory = pathlib.Path(directory).absolute()  # orbax wants absolute paths
        self.config_hash = config_hash
        self.enabled = enabled
        self.keep = max(1, int(keep))
        self._log = log or (lambda msg: None)
        self._on_first_save = on_first_save
        self._root = pathlib.Path(root) if root is not None else self.directory

    # records -------------------------------------------------------------------------------
    def _records(self) -> dict[int, pathlib.Path]:
        out = {}
        if self.directory.is_dir():
            for p in self.directory.glob("step_*.json"):
                m = _STEP.match(p.stem)
                if m:
                    out[int(m.group(1))] = p
        return dict(sorted(out.items()))

    def _load_record(self, step: int, rec: pathlib.Path) -> dict:
        try:
            meta = json.loads(rec.read_text())
            assert meta["format"] == FORMAT and meta["step"] == step
            digest, cfg = meta["digest"], meta["config_hash"]
        except (OSError, ValueError, KeyError, TypeError, AssertionError) as e:
            raise _corrupt(rec, f"bad record: {type(e).__name__}", self._root) from None
        if cfg != self.config_hash:
            raise _corrupt(rec, f"it belongs to configuration {cfg}, not {self.config_hash}",
                           self._root)
        folder = rec.with_suffix("")
        if not folder.is_dir():
            raise _corrupt(folder, "the checkpoint folder is missing", self._root)
        if _digest(folder) != digest:
            raise _corrupt(folder, "its files differ from what was written", self._root)
        return meta

    def validate(self) -> None:
        """Raise :class:`CheckpointError` if a committed checkpoint is corrupted."""
        for step, rec in self._records().items():
            self._load_record(step, rec)

    def latest_step(self) -> int | None:
        """The step of the newest committed checkpoint, or ``None``."""
        recs = self._records()
        return max(recs) if recs else None

    # save / restore ------------------------------------------------------------------------
    def save(self, step: int, state: Any, *, history: dict | None = None,
             last_loss: float = float("nan")) -> None:
        """Write ``state`` (at optimiser step ``step``) as the newest checkpoint."""
        import orbax.checkpoint as ocp

        from bayeskd.distributed import is_main_process

        if self._on_first_save is not None:
            self._on_first_save()
            self._on_first_save = None
        self.enabled = True  # what this checkpointer writes itself is always usable
        main = is_main_process()  # the others only take part in orbax's collective save
        folder = self.directory / f"step_{int(step):09d}"
        rec = folder.with_suffix(".json")
        if main:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._clean_leftovers()
            rec.unlink(missing_ok=True)
            if folder.exists():
                shutil.rmtree(folder)
        leaves = jax.tree.leaves(state)
        flat = {f"leaf_{i:05d}": np.asarray(jax.random.key_data(a) if _is_key(a) else a)
                for i, a in enumerate(leaves)}
        with ocp.PyTreeCheckpointer() as ckptr:
            ckptr.save(folder, flat)
        if not main:
            return
        meta = {
            "format": FORMAT, "step": int(step), "config_hash": self.config_hash,
            "digest": _digest(folder), "history": history or {}, "last_loss": float(last_loss),
            "leaves": [[list(a.shape), str(a.dtype)] for a in flat.values()],
        }
        write_bytes(rec, json.dumps(meta, allow_nan=True).encode())
        for old in list(self._records())[: -self.keep]:
            self._remove(old)

    def restore(self, like: Any) -> Restored | None:
        """The newest checkpoint shaped like ``like`` (a state of the same run), or ``None``."""
        if not self.enabled:
            return None
        step = self.latest_step()
        if step is None:
            return None
        import orbax.checkpoint as ocp

        rec = self._records()[step]
        meta = self._load_record(step, rec)
        folder = rec.with_suffix("")
        try:
            with ocp.PyTreeCheckpointer() as ckptr:
                flat = ckptr.restore(folder)
        except Exception as e:  # noqa: BLE001 - orbax raises many kinds of errors
            raise _corrupt(folder, f"orbax could not read it: {type(e).__name__}", self._root) from None
        leaves, treedef = jax.tree.flatten(like)
        if len(flat) != len(leaves):
            raise _corrupt(folder, f"{len(flat)} arrays, the run has {len(leaves)}", self._root)
        out = []
        for i, ref in enumerate(leaves):
            a = np.asarray(flat[f"leaf_{i:05d}"])
            if _is_key(ref):
                want = jax.random.key_data(ref)
                if a.shape != want.shape or a.dtype != want.dtype:
                    raise _corrupt(folder, f"PRNG key {i} has shape {a.shape}", self._root)
                out.append(jax.random.wrap_key_data(a, impl=jax.random.key_impl(ref)))
                continue
            if a.shape != np.shape(ref) or a.dtype != np.asarray(ref).dtype:
                raise _corrupt(folder, f"array {i} is {a.dtype}{list(a.shape)}, the run has "
                                       f"{np.asarray(ref).dtype}{list(np.shape(ref))}", self._root)
            out.append(jnp.asarray(a))
        self._log(f"[checkpoint] resuming {self.directory.name} from step {step}")
        return Restored(jax.tree.unflatten(treedef, out), step, meta["history"],
                        float(meta["last_loss"]))

    def clear(self) -> None:
        """Delete every checkpoint in the folder."""
        if self.directory.exists():
            shutil.rmtree(self.directory)

    def _remove(self, step: int) -> None:
        folder = self.directory / f"step_{step:09d}"
        folder.with_suffix(".json").unlink(missing_ok=True)  # the record goes first
        if folder.exists():
            shutil.rmtree(folder)

    def _clean_leftovers(self) -> None:
        """Remove what an interrupted save left: uncommitted folders and temporary files."""
        recs = {p.with_suffix("").name for p in self._records().values()}
        for p in self.directory.iterdir():
            if p.is_dir() and p.name not in recs:
                shutil.rmtree(p)
            elif p.is_file() and p.name.endswith(".tmp"):
                p.unlink()


# --------------------------------------------------------------------------------------------
# The store.


class SweepStore:
    """Finished units and trainer checkpoints of one job, bound to its configuration.

    Args:
      root: the checkpoint folder (``<out>/.checkpoints`` via :meth:`for_output`).
      config: the job's JSON-able configuration; its hash binds every checkpoint to it.
      fresh: ignore existing checkpoints (they are replaced at the first write).
      log: receives one-line messages (what is resumed, what is discarded).

    Raises:
      CheckpointError: an existing checkpoint of this configuration is unreadable or corrupted
        (checked on construction, before any work), unless ``fresh``.
    """

    def __init__(self, root: os.PathLike, *, config: Any, fresh: bool = False,
                 log: Callable[[str], Any] | None = print):
        self.root = pathlib.Path(root)
        self.config = config
        self.config_hash = config_hash({"format": FORMAT, "config": config})
        self._log = log or (lambda msg: None)
        self._initialised = False
        self.active = False  # True: existing checkpoints belong to this run and are used
        manifest = self.root / "manifest.json"
        if fresh:
            if self.root.exists():
                self._log(f"[checkpoint] --fresh: ignoring the checkpoints in {self.root}")
            return
        if not manifest.exists():
            if self.root.exists() and any(self.root.iterdir()):
                self._log(f"[checkpoint] {self.root} has no manifest; its contents will be replaced")
            return
        try:
            old = json.loads(manifest.read_text())
            old_hash = old["config_hash"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise _corrupt(manifest, f"bad manifest: {type(e).__name__}", self.root) from None
        if old_hash != self.config_hash:
            self._log(f"[checkpoint] {self.root} holds checkpoints of another configuration "
                      f"({old_hash}, this run is {self.config_hash}); starting over")
            return
        self.active = True
        self._initialised = True
        self.validate()

    @classmethod
    def for_output(cls, out_dir: os.PathLike, **kwargs) -> SweepStore:
        """The store in ``<out_dir>/.checkpoints``."""
        return cls(pathlib.Path(out_dir) / CHECKPOINT_DIR, **kwargs)

    # paths ---------------------------------------------------------------------------------
    def _unit_path(self, name: str) -> pathlib.Path:
        _check_name(name)
        return self.root / "units" / f"{name}.npz"

    def _ensure_initialised(self) -> None:
        """Before the first write: replace stale checkpoints and write the manifest (on process 0
        only: in a multi-process run the others never touch the folder)."""
        if self._initialised:
            return
        from bayeskd.distributed import is_main_process

        if not is_main_process():
            self._initialised = self.active = True
            return
        if self.root.exists():
            shutil.rmtree(self.root)
        self.root.mkdir(parents=True)
        manifest = {"format": FORMAT, "config_hash": self.config_hash, "config": self.config}
        write_bytes(self.root / "manifest.json",
                    json.dumps(manifest, indent=2, sort_keys=True, default=str).encode())
        self._initialised = True
        self.active = True

    # units ---------------------------------------------------------------------------------
    def names(self) -> list[str]:
        """Names of the finished units (empty when the checkpoints are not used)."""
        if not self.active or not (self.root / "units").is_dir():
            return []
        return sorted(p.stem for p in (self.root / "units").glob("*.npz"))

    def __contains__(self, name: str) -> bool:
        return self.active and self._unit_path(name).exists()

    def get(self, name: str) -> Any | None:
        """The stored value of unit ``name``, or ``None`` if it has not finished."""
        path = self._unit_path(name)
        if not self.active or not path.exists():
            return None
        meta, arrays = self._load_unit(path, name)
        return _decode(meta["value"], arrays)

    def put(self, name: str, value: Any) -> None:
        """Store unit ``name`` atomically and drop its trainer checkpoints (now superseded).

        ``value``: nested dicts (string keys) and lists of numbers, strings, ``None`` and numpy
        or JAX arrays. Floats come back exactly; tuples come back as lists.
        """
        self._write(name, self._blob(name, value))

    def _blob(self, name: str, value: Any) -> bytes:
        arrays: list[np.ndarray] = []
        encoded = _encode(value, arrays)
        meta = {"format": FORMAT, "name": name, "config_hash": self.config_hash, "value": encoded}
        buf = io.BytesIO()
        np.savez(buf, __meta__=np.frombuffer(json.dumps(meta, allow_nan=True).encode(), np.uint8),
                 **{f"a{i}": a for i, a in enumerate(arrays)})
        return buf.getvalue()

    def _write(self, name: str, blob: bytes) -> None:
        from bayeskd.distributed import is_main_process

        path = self._unit_path(name)
        self._ensure_initialised()
        if not is_main_process():  # only process 0 touches the folder
            return
        for stale in path.parent.glob(".*.tmp"):  # left by a killed job; the caller holds the lock
            stale.unlink(missing_ok=True)
        write_bytes(path, blob)
        train_dir = self.root / "train" / name
        if train_dir.exists():
            shutil.rmtree(train_dir)

    def cached(self, name: str, compute: Callable[[], Any]) -> Any:
        """Unit ``name``: the stored value, or ``compute()`` stored and returned *as read back*.

        Reading back means a first run and a resumed one continue from the same bytes (tuples
        come back as lists). A reloaded unit is logged in one line.

        In a multi-process run every process gets process 0's unit: process 0 decides whether
        it is stored; if not, every process computes it (a sharded ``fit`` needs them all),
        process 0 stores its value, and its bytes reach the others by
        :func:`bayeskd.distributed.broadcast_bytes`, so every process continues from the same
        value and only process 0 writes.
        """
        from bayeskd.distributed import broadcast_bytes, process_count

        path = self._unit_path(name)
        if process_count() == 1:
            value = self.get(name)
            if value is not None:
                self._log(f"[checkpoint] unit {name}: reloaded")
                return value
            self.put(name, compute())
            return self.get(name)
        stored = self.active and path.exists()
        blob = broadcast_bytes(path.read_bytes() if stored else b"")
        if blob:
            self._log(f"[checkpoint] unit {name}: reloaded")
        else:
            value = compute()
            blob = broadcast_bytes(self._blob(name, value))
            self._write(name, blob)
        meta, arrays = self._load_unit(blob, name)
        return _decode(meta["value"], arrays)

    def _load_unit(self, path: pathlib.Path | bytes, name: str) -> tuple[dict, dict]:
        try:
            meta, arrays = _read_unit(path)
            assert meta["format"] == FORMAT
            stored_name, stored_hash = meta["name"], meta["config_hash"]
            _ = meta["value"]
        except Exception as e:  # noqa: BLE001 - zip, JSON and numpy errors all mean "unreadable"
            raise _corrupt(self._unit_path(name), f"{type(e).__name__}", self.root) from None
        if stored_name != name or stored_hash != self.config_hash:
            raise _corrupt(self._unit_path(name), f"it holds unit {stored_name!r} of configuration {stored_hash}",
                           self.root)
        return meta, arrays

    # trainer checkpoints -------------------------------------------------------------------
    def trainer(self, name: str, *, keep: int = 1) -> TrainCheckpointer:
        """The trainer checkpointer of unit ``name`` (pass it to ``fit(checkpoint=...)``)."""
        _check_name(name)
        return TrainCheckpointer(self.root / "train" / name, config_hash=self.config_hash,
                                 enabled=self.active, keep=keep, log=self._log,
                                 on_first_save=self._ensure_initialised, root=self.root)

    def _trainer_dirs(self) -> list[pathlib.Path]:
        train = self.root / "train"
        return sorted(p for p in train.iterdir() if p.is_dir()) if train.is_dir() else []

    # overview ------------------------------------------------------------------------------
    def validate(self) -> None:
        """Read every unit and trainer checkpoint; :class:`CheckpointError` on the first bad one."""
        if not self.active:
            return
        units = self.root / "units"
        if units.is_dir():
            for p in sorted(units.glob("*.npz")):
                self._load_unit(p, p.stem)
        for d in self._trainer_dirs():
            self.trainer(d.name).validate()

    def describe(self) -> str:
        """One line: which units are done and where training will resume (for the job's log)."""
        if not self.active:
            return f"no checkpoints to resume in {self.root}"
        parts = [f"{len(self.names())} units done ({', '.join(self.names()) or '-'})"]
        for d in self._trainer_dirs():
            step = self.trainer(d.name).latest_step()
            if step is not None:
                parts.append(f"{d.name} at step {step}")
        return f"resuming from {self.root}: " + "; ".join(parts)

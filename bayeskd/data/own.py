r"""Bring your own data and teacher: arrays from ``.npz``, teacher outputs computed elsewhere.

Data file (``.npz``), as written by ``np.savez("my_data.npz", x_train=..., ...)``:

================  ============================================  =========
key               shape / dtype                                 required
================  ============================================  =========
``x_train``       ``[N_train, ...features]`` real              yes
``y_train``       ``[N_train]`` integers in ``[0, K)``          yes
``x_test``        ``[N_test, ...features]`` real               yes
``y_test``        ``[N_test]`` integers in ``[0, K)``           yes
``x_transfer``    ``[N_transfer, ...features]`` real, unlabeled  no
``num_classes``   scalar ``K`` (else ``max label + 1``)         no
================  ============================================  =========

Teacher outputs, computed by any framework for exactly those inputs, as logits, log-probabilities
or probabilities over the same ``K`` classes:

- ``.npz`` with keys ``train [N_train, K]``, ``test [N_test, K]`` and, if the data has transfer
  inputs and you want to distill on them, ``transfer [N_transfer, K]``; or
- ``.npy``, one array with the rows of the train, transfer (if any) and test inputs stacked in that
  order: ``[N_train + N_transfer + N_test, K]``.

Probabilities are recognised (every entry in ``[0, 1]`` and every row summing to 1 within 1e-3) or
named with ``kind="probs"``; they become log-probabilities :math:`\log \max(p, 10^{-12})`,
renormalised. Logits become :math:`\log \mathrm{softmax}(z)`, which also leaves log-probabilities
unchanged, so exporting ``torch.log_softmax(model(x), -1)`` or ``model(x)`` both work. A file
whose name says probabilities (``teacher_probs.npy``) but whose values are not is refused rather
than read as logits; ``kind="logits"`` reads it as logits.

Example:
  >>> import numpy as np, tempfile, os
  >>> d = tempfile.mkdtemp()
  >>> rng = np.random.default_rng(0)
  >>> np.savez(os.path.join(d, "data.npz"), x_train=rng.normal(size=(6, 3)), y_train=[0, 1, 2] * 2,
  ...          x_test=rng.normal(size=(3, 3)), y_test=[2, 1, 0])
  >>> ds = load_npz(os.path.join(d, "data.npz"))
  >>> ds
  Dataset(name='data', train=(6, 3), test=(3, 3), num_classes=3, transfer=None)
  >>> np.save(os.path.join(d, "t.npy"), rng.normal(size=(9, 3)))
  >>> out = load_teacher_outputs(os.path.join(d, "t.npy"), ds)
  >>> out["logp_train"].shape, out["logp_test"].shape, out["kind"]
  ((1, 6, 3), (1, 3, 3), 'logits')
"""

from __future__ import annotations

import os
import pathlib
import zipfile
from typing import Any

import numpy as np

from bayeskd.data.dataset import Dataset

__all__ = ["TEACHER_OUTPUT_KINDS", "check_file", "load_npz", "load_teacher_outputs", "npz_num_classes",
           "npz_shapes"]

DATA_KEYS = ("x_train", "y_train", "x_test", "y_test")
OPTIONAL_DATA_KEYS = ("x_transfer", "num_classes")
TEACHER_OUTPUT_KINDS = ("auto", "logits", "probs")


def check_file(path: str | os.PathLike, *, name: str, suffixes: tuple[str, ...]) -> pathlib.Path:
    """An existing regular file with one of ``suffixes``, else ``ValueError`` naming ``name``."""
    p = pathlib.Path(path)
    if p.suffix.lower() not in suffixes:
        raise ValueError(f"{name}: expected a {' or '.join(suffixes)} file, got {str(p)!r}")
    if not p.is_file():
        raise ValueError(f"{name}: file {str(p)!r} does not exist")
    return p


def _file_kind(p: pathlib.Path) -> str:
    """What a file holds, from its first bytes: ``an .npz archive``, ``a .npy array``, ``text``,
    ``empty`` or ``something else``."""
    if zipfile.is_zipfile(p):
        return "an .npz archive"
    with open(p, "rb") as f:
        head = f.read(512)
    if head.startswith(b"\x93NUMPY"):
        return "a .npy array"
    if not head:
        return "empty"
    return "text" if all(32 <= b < 127 or b in b"\t\r\n" for b in head) else "something else"


def _not_an_archive(p: pathlib.Path, *, name: str) -> ValueError | None:
    """The error for a file that is not a zip archive (text, a bare ``.npy``), else ``None``."""
    what = _file_kind(p)
    if what == "an .npz archive":
        return None
    return ValueError(f"{name}: {str(p)!r} is not an .npz archive (it is {what}); write one with "
                      "np.savez(path, name=array, ...)")


def npz_shapes(path: str | os.PathLike, *, name: str = "--data") -> dict[str, tuple[int, ...]]:
    """Shapes of the arrays in an ``.npz`` archive, read from their headers (no data loaded)."""
    p = pathlib.Path(path)
    err = _not_an_archive(p, name=name)
    if err is not None:
        raise err
    shapes = {}
    try:
        with zipfile.ZipFile(p) as zf:
            for info in zf.infolist():
                with zf.open(info) as f:
                    major, _ = np.lib.format.read_magic(f)
                    read = (np.lib.format.read_array_header_1_0 if major == 1
                            else np.lib.format.read_array_header_2_0)
                    shapes[info.filename.removesuffix(".npy")] = tuple(read(f)[0])
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"{name}: {str(p)!r} is not a readable .npz file ({e})") from None
    return shapes


def npz_num_classes(path: str | os.PathLike) -> int:
    """``K`` of a data file: its ``num_classes``, else ``max label + 1`` (reads only the labels)."""
    p = pathlib.Path(path)
    try:
        with np.load(p, allow_pickle=False) as z:
            if "num_classes" in z.files:
                return max(2, int(z["num_classes"]))
            top = max((int(np.max(z[k], initial=0)) for k in ("y_train", "y_test") if k in z.files),
                      default=1)
    except (OSError, ValueError, EOFError, TypeError, zipfile.BadZipFile) as e:
        raise ValueError(f"--data: {str(p)!r} is not a readable .npz file ({e})") from None
    return max(2, top + 1)


def _open_npz(p: pathlib.Path, *, name: str) -> dict[str, np.ndarray]:
    err = _not_an_archive(p, name=name)
    if err is not None:
        raise err
    try:
        with np.load(p, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError) as e:
        raise ValueError(f"{name}: {str(p)!r} is not a readable .npz file ({e})") from None


def load_npz(path: str | os.PathLike, *, name: str | None = None) -> Dataset:
    """Your own arrays as a :class:`Dataset` (keys in the module docstring; inputs as given).

    Raises ``ValueError`` naming the missing or malformed key.
    """
    p = check_file(path, name="--data", suffixes=(".npz",))
    arrays = _open_npz(p, name="--data")
    missing = [k for k in DATA_KEYS if k not in arrays]
    if missing:
        raise ValueError(f"--data: {p.name} lacks {', '.join(missing)}; it needs "
                         f"{', '.join(DATA_KEYS)} (optional: {', '.join(OPTIONAL_DATA_KEYS)}), "
                         f"found {', '.join(sorted(arrays)) or 'no arrays'}")
    unknown = sorted(set(arrays) - set(DATA_KEYS) - set(OPTIONAL_DATA_KEYS))
    if unknown:
        raise ValueError(f"--data: {p.name} has unknown keys {', '.join(unknown)}; allowed: "
                         f"{', '.join(DATA_KEYS + OPTIONAL_DATA_KEYS)}")
    for k in ("y_train", "y_test"):
        y = arrays[k]
        if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"--data: {k} must be a 1-D integer array of class indices, got "
                             f"shape {y.shape} dtype {y.dtype}")
        if y.size and y.min() < 0:
            raise ValueError(f"--data: {k} must hold class indices >= 0, found {int(y.min())}")
    if "num_classes" in arrays:
        nc = arrays["num_classes"]
        if nc.shape != () or not np.issubdtype(nc.dtype, np.integer):
            raise ValueError(f"--data: num_classes must be an integer scalar, got {nc!r}")
        num_classes = int(nc)
    else:
        num_classes = int(max(arrays["y_train"].max(initial=0), arrays["y_test"].max(initial=0))) + 1
    try:
        return Dataset(name or p.stem, arrays["x_train"], arrays["y_train"], arrays["x_test"],
                       arrays["y_test"], num_classes, x_transfer=arrays.get("x_transfer"),
                       meta={"source": str(p)})
    except ValueError as e:
        raise ValueError(f"--data: {p.name}: {e}") from None


def _as_log_probs(a: np.ndarray, *, kind: str, where: str) -> tuple[np.ndarray, str]:
    """Rows of logits or probabilities as float32 log-probabilities; returns ``(logp, kind)``."""
    a = np.asarray(a, dtype=np.float64)
    if a.size == 0:
        return a.astype(np.float32), kind
    if not np.all(np.isfinite(a)):
        bad = int(a.size - np.count_nonzero(np.isfinite(a)))
        raise ValueError(f"--teacher-logits: {where} has {bad} non-finite values")
    looks_like_probs = bool(a.min() >= 0.0 and a.max() <= 1.0
                            and np.all(np.abs(a.sum(-1) - 1.0) < 1e-3))
    if kind == "auto":
        kind = "probs" if looks_like_probs else "logits"
    if kind == "probs":
        if a.min() < 0 or np.any(np.abs(a.sum(-1) - 1.0) > 1e-3):
            raise ValueError(f"--teacher-logits: {where} given as probabilities must be >= 0 with "
                             f"rows summing to 1 (within 1e-3)")
        logp = np.log(np.maximum(a, 1e-12))
    else:
        logp = a
    logp = logp - np.logaddexp.reduce(logp, axis=-1, keepdims=True)
    return logp.astype(np.float32), kind


def _named_as_probs(p: pathlib.Path) -> bool:
    """Whether the file's name says it holds probabilities (``teacher_probs.npy``, ``p_soft.npz``
    are; ``logprobs.npy``, ``log_p.npz`` are not)."""
    stem = p.stem.lower()
    return ("prob" in stem or "softmax" in stem) and not any(
        w in stem for w in ("logprob", "log_prob", "log-prob", "logit", "log_softmax", "logsoftmax"))


def load_teacher_outputs(path: str | os.PathLike, dataset: Dataset, *,
                         kind: str = "auto") -> dict[str, Any]:
    """Teacher outputs for ``dataset``'s inputs, computed elsewhere (formats in the module doc).

    Returns ``{"logp_train" [1, N_train, K], "logp_test" [1, N_test, K], "logp_transfer"
    [1, N_transfer, K] (N_transfer = 0 when none were given), "kind", "source"}`` in the layout of
    :func:`bayeskd.experiments.common.train_teacher`, so every job takes it as its teacher.
    """
    if kind not in TEACHER_OUTPUT_KINDS:
        raise ValueError(f"teacher_kind: must be one of {', '.join(TEACHER_OUTPUT_KINDS)}, "
                         f"got {kind!r}")
    p = check_file(path, name="--teacher-logits", suffixes=(".npy", ".npz"))
    k = dataset.num_classes
    n_tr, n_te = dataset.num_train, dataset.num_test
    n_x = 0 if dataset.x_transfer is None else len(dataset.x_transfer)
    if p.suffix.lower() == ".npz":
        parts = _open_npz(p, name="--teacher-logits")
        allowed = ("train", "test", "transfer")
        missing = [s for s in ("train", "test") if s not in parts]
        unknown = sorted(set(parts) - set(allowed))
        if missing or unknown:
            raise ValueError(f"--teacher-logits: {p.name} needs keys train and test (optional: "
                             f"transfer), found {', '.join(sorted(parts)) or 'no arrays'}")
        if "transfer" in parts and n_x == 0:
            raise ValueError(f"--teacher-logits: {p.name} has transfer outputs but the data has "
                             f"no x_transfer")
    else:
        if _file_kind(p) != "a .npy array":
            raise ValueError(f"--teacher-logits: {str(p)!r} is not a .npy array (it is "
                             f"{_file_kind(p)}); write one with np.save(path, outputs)")
        try:
            a = np.load(p, allow_pickle=False)
        except (OSError, ValueError, EOFError) as e:
            raise ValueError(f"--teacher-logits: {str(p)!r} is not a readable .npy file ({e})") \
                from None
        rows = n_tr + n_x + n_te
        if a.shape != (rows, k):
            order = (f"{n_tr} train + {n_x} transfer + {n_te} test" if n_x
                     else f"{n_tr} train + {n_te} test")
            raise ValueError(f"--teacher-logits: {p.name} must have shape [{rows}, {k}] (rows: "
                             f"{order} inputs, in that order), got {a.shape}")
        parts = {"train": a[:n_tr], "transfer": a[n_tr:n_tr + n_x], "test": a[n_tr + n_x:]}
    expected = {"train": n_tr, "test": n_te, "transfer": n_x}
    out: dict[str, Any] = {"source": str(p)}
    kinds = set()
    for split in ("train", "test", "transfer"):
        if split not in parts:
            out["logp_transfer"] = np.zeros((1, 0, k), np.float32)
            continue
        a = np.asarray(parts[split])
        if a.ndim != 2 or a.shape != (expected[split], k):
            raise ValueError(f"--teacher-logits: {split} outputs must have shape "
                             f"[{expected[split]}, {k}] ({expected[split]} {split} inputs, {k} "
                             f"classes), got {a.shape}")
        logp, used = _as_log_probs(a, kind=kind, where=f"{p.name} ({split})")
        if len(a):
            kinds.add(used)
        out[f"logp_{split}"] = logp[None]
    if len(kinds) > 1:
        raise ValueError(f"--teacher-logits: {p.name} mixes probabilities and logits across "
                         f"splits; give one kind (teacher_kind='logits' or 'probs')")
    if kind == "auto" and kinds == {"logits"} and _named_as_probs(p):
        low = min(float(np.min(parts[s])) for s in parts if np.size(parts[s]))
        raise ValueError(f"--teacher-logits: {p.name} is named as probabilities but its values are "
                         f"not (minimum {low:.3g}, or rows not summing to 1); if they are logits, "
                         f"say so with teacher_kind='logits' (--teacher-kind logits)")
    out["kind"] = kinds.pop() if kinds else kind
    return out

"""MNIST, Fashion-MNIST and CIFAR-10 read from local files (nothing is downloaded).

MNIST-style data come as four IDX files (optionally gzipped); CIFAR-10 as the "python version"
pickled batches. A missing file raises ``FileNotFoundError`` saying which file is expected where;
a corrupted one raises ``ValueError`` naming it.

References: Y. LeCun et al., "Gradient-based learning applied to document recognition", 1998;
H. Xiao et al., "Fashion-MNIST", arXiv:1708.07747; A. Krizhevsky, "Learning multiple layers of
features from tiny images", 2009.
"""

from __future__ import annotations

import gzip
import os
import pathlib
import pickle
import struct
import zlib

import numpy as np

from bayeskd.data.dataset import Dataset

__all__ = ["load_mnist", "load_cifar10", "read_idx", "parse_idx"]

MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
CIFAR10_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)
CIFAR10_SUBDIR = "cifar-10-batches-py"

# IDX type codes (third header byte) -> big-endian numpy dtypes.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def parse_idx(buf: bytes, *, source: str = "<bytes>") -> np.ndarray:
    """Parses an IDX buffer: magic ``00 00 <type> <ndim>``, ``ndim`` big-endian uint32 sizes, data.

    Args:
      buf: the whole (decompressed) file content.
      source: file name used in error messages.

    Returns:
      An array of the stored dtype (native byte order) and shape ``dims``.

    Raises:
      ValueError: naming ``source``, for a bad magic number, unknown type, or wrong data length.

    Example:
      >>> parse_idx(bytes([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6]))
      array([[1, 2, 3],
             [4, 5, 6]], dtype=uint8)
    """
    if len(buf) < 4:
        raise ValueError(f"{source}: not an IDX file (only {len(buf)} bytes)")
    zero, code, ndim = struct.unpack(">HBB", buf[:4])
    if zero != 0 or code not in _IDX_DTYPES:
        raise ValueError(f"{source}: not an IDX file (bad magic number 0x{buf[:4].hex()})")
    header = 4 + 4 * ndim
    if len(buf) < header:
        raise ValueError(f"{source}: truncated IDX header ({len(buf)} of {header} bytes)")
    dims = struct.unpack(f">{ndim}I", buf[4:header])
    dtype = np.dtype(_IDX_DTYPES[code])
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    found = len(buf) - header
    if found != expected:
        what = "truncated" if found < expected else "has trailing bytes"
        raise ValueError(
            f"{source}: IDX file {what}: shape {dims} needs {expected} data bytes, found {found}"
        )
    data = np.frombuffer(buf, dtype=dtype, offset=header).reshape(dims)
    return data.astype(dtype.newbyteorder("="))


def _read_bytes(path: pathlib.Path) -> bytes:
    """The file's content, gunzipped if its name ends in ``.gz``; bad gzip -> ``ValueError``."""
    if path.suffix != ".gz":
        return path.read_bytes()
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise ValueError(f"{path}: corrupted gzip file ({e})") from e


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Reads an IDX file (gzipped if the name ends in ``.gz``); see :func:`parse_idx`."""
    path = pathlib.Path(path)
    return parse_idx(_read_bytes(path), source=str(path))


def _find(data_dir: pathlib.Path, name: str, hint: str) -> pathlib.Path:
    """``data_dir/name`` or else ``data_dir/name.gz``; ``FileNotFoundError`` with ``hint`` if neither."""
    for candidate in (data_dir / name, data_dir / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    missing_dir = "" if data_dir.is_dir() else " (the directory does not exist)"
    raise FileNotFoundError(f"expected {name}(.gz) in {data_dir}{missing_dir}: {hint}")


def _standardize(x_train: np.ndarray, x_test: np.ndarray, meta: dict):
    """Per-channel standardisation with training statistics (last axis = channels)."""
    axes = tuple(range(x_train.ndim - 1))
    mean = x_train.mean(axis=axes, dtype=np.float64)
    std = x_train.std(axis=axes, dtype=np.float64)
    meta.update(channel_mean=mean.tolist(), channel_std=std.tolist())
    return ((x_train - mean) / std).astype(np.float32), ((x_test - mean) / std).astype(np.float32)


def load_mnist(
    data_dir: str | os.PathLike, *, fashion: bool = False, standardize: bool = False
) -> Dataset:
    """MNIST or Fashion-MNIST from the four IDX files in ``data_dir``.

    Args:
      data_dir: folder holding ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
        ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each optionally ``.gz``.
      fashion: name the dataset ``"fashion_mnist"`` (the file format is identical).
      standardize: standardise with the training mean/std instead of leaving pixels in [0, 1].

    Returns:
      A :class:`Dataset` with images ``float32 [N, 28, 28, 1]`` in ``[0, 1]`` and 10 classes.

    Raises:
      FileNotFoundError: a file is missing; the message says which and where.
      ValueError: a file is corrupted or the files disagree; the message names the file.
    """
    data_dir = pathlib.Path(data_dir).expanduser()
    what = "Fashion-MNIST" if fashion else "MNIST"
    hint = f"download {what} and place the four IDX files there ({', '.join(MNIST_FILES)})"
    paths = [_find(data_dir, name, hint) for name in MNIST_FILES]
    arrays = [read_idx(p) for p in paths]

    split = {}
    for part, (images_path, labels_path), (images, labels) in (
        ("train", paths[:2], arrays[:2]),
        ("test", paths[2:], arrays[2:]),
    ):
        if images.dtype != np.uint8 or images.ndim != 3:
            raise ValueError(
                f"{images_path}: expected uint8 images [N, H, W], got {images.dtype} {images.shape}"
            )
        if labels.dtype != np.uint8 or labels.ndim != 1:
            raise ValueError(
                f"{labels_path}: expected uint8 labels [N], got {labels.dtype} {labels.shape}"
            )
        if len(labels) != len(images):
            raise ValueError(
                f"{labels_path}: {len(labels)} labels for {len(images)} images in {images_path}"
            )
        if len(labels) and labels.max() >= 10:
            raise ValueError(f"{labels_path}: labels must lie in [0, 10), found {labels.max()}")
        split[part] = (images[..., None].astype(np.float32) / 255.0, labels.astype(np.int32))

    (x_train, y_train), (x_test, y_test) = split["train"], split["test"]
    meta = {"data_dir": str(data_dir), "files": [str(p) for p in paths]}
    if standardize:
        x_train, x_test = _standardize(x_train, x_test, meta)
    return Dataset(
        name="fashion_mnist" if fashion else "mnist",
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        num_classes=10,
        meta=meta,
    )


def _read_cifar_batch(path: pathlib.Path) -> tuple[np.ndarray, np.ndarray]:
    """One pickled CIFAR-10 batch -> ``uint8 [n, 32, 32, 3]`` images and ``int32 [n]`` labels.

    Uses ``pickle``, as the official format requires: only load files from a trusted source.
    """
    try:
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        ImportError,
        IndexError,
        KeyError,
    ) as e:
        raise ValueError(f"{path}: corrupted CIFAR-10 batch ({type(e).__name__}: {e})") from e
    if not isinstance(batch, dict):
        raise ValueError(
            f"{path}: corrupted CIFAR-10 batch (expected a dict, got {type(batch).__name__})"
        )
    data = batch.get(b"data", batch.get("data"))
    labels = batch.get(b"labels", batch.get("labels"))
    if data is None or labels is None:
        raise ValueError(f"{path}: CIFAR-10 batch lacks the b'data' or b'labels' entry")
    data, labels = np.asarray(data), np.asarray(labels)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise ValueError(f"{path}: b'data' must be uint8 [n, 3072], got {data.dtype} {data.shape}")
    if labels.shape != (len(data),) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"{path}: b'labels' must be {len(data)} integers, got {labels.dtype} {labels.shape}"
        )
    if len(labels) and (labels.min() < 0 or labels.max() >= 10):
        raise ValueError(f"{path}: labels must lie in [0, 10)")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # CHW rows -> NHWC
    return images, labels.astype(np.int32)


def load_cifar10(data_dir: str | os.PathLike, *, standardize: bool = False) -> Dataset:
    """CIFAR-10 from the python-version batches (``data_batch_1..5``, ``test_batch``).

    Args:
      data_dir: folder holding the batches, or holding the ``cifar-10-batches-py`` folder that
        extracting ``cifar-10-python.tar.gz`` creates.
      standardize: standardise per channel with training statistics instead of ``[0, 1]``.

    Returns:
      A :class:`Dataset` named ``"cifar10"`` with images ``float32 [N, 32, 32, 3]``, 10 classes.

    Raises:
      FileNotFoundError: a batch is missing; the message says which and where.
      ValueError: a batch is corrupted; the message names the file.
    """
    data_dir = pathlib.Path(data_dir).expanduser()
    hint = (
        "download CIFAR-10 (python version, cifar-10-python.tar.gz from "
        "https://www.cs.toronto.edu/~kriz/cifar.html) and extract it there "
        f"(files {', '.join(CIFAR10_FILES)}, optionally inside {CIFAR10_SUBDIR}/)"
    )
    folder = data_dir
    if not (data_dir / CIFAR10_FILES[0]).is_file() and (data_dir / CIFAR10_SUBDIR).is_dir():
        folder = data_dir / CIFAR10_SUBDIR
    paths = []
    for name in CIFAR10_FILES:
        if not (folder / name).is_file():
            missing_dir = "" if folder.is_dir() else " (the directory does not exist)"
            raise FileNotFoundError(f"expected {name} in {folder}{missing_dir}: {hint}")
        paths.append(folder / name)

    batches = [_read_cifar_batch(p) for p in paths]
    x_train = np.concatenate([b[0] for b in batches[:-1]]).astype(np.float32) / 255.0
    y_train = np.concatenate([b[1] for b in batches[:-1]])
    x_test = batches[-1][0].astype(np.float32) / 255.0
    y_test = batches[-1][1]
    meta = {"data_dir": str(folder)}
    if standardize:
        x_train, x_test = _standardize(x_train, x_test, meta)
    return Dataset(
        name="cifar10",
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        num_classes=10,
        meta=meta,
    )

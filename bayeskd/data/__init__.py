"""Datasets for bayeskd: one :class:`Dataset` container, loaders, and a name registry.

Example:
  >>> from bayeskd.data import load_dataset
  >>> ds = load_dataset("moons", size=64, num_test=32)
  >>> ds
  Dataset(name='moons', train=(64, 2), test=(32, 2), num_classes=2, transfer=None)
"""

from __future__ import annotations

import os
import pathlib

from bayeskd.cache import cache_root
from bayeskd.data.augment import (
    AUGMENTATIONS,
    CropFlip,
    Mixup,
    ShiftScaleNoise,
    augmented_copies,
    default_augmentation,
    make_augmentation,
    parse_augmentation,
)
from bayeskd.data.dataset import Dataset
from bayeskd.data.digits import load_digits
from bayeskd.data.files import load_cifar10, load_mnist, parse_idx, read_idx
from bayeskd.data.mnist1d import load_mnist1d
from bayeskd.data.own import load_npz, load_teacher_outputs
from bayeskd.data.synthetic import (
    GaussianMixture,
    annulus,
    gmm_toy,
    grid_2d,
    load_gmm,
    load_moons,
    load_spirals,
    make_gmm_problem,
    spirals,
)
from bayeskd.data.transfer import mixup_inputs, noised

__all__ = [
    "AUGMENTATIONS",
    "CropFlip",
    "DATASETS",
    "Mixup",
    "ShiftScaleNoise",
    "augmented_copies",
    "default_augmentation",
    "make_augmentation",
    "Dataset",
    "GaussianMixture",
    "annulus",
    "cache_root",
    "data_root",
    "gmm_toy",
    "grid_2d",
    "load_cifar10",
    "load_dataset",
    "load_digits",
    "load_gmm",
    "load_mnist",
    "load_mnist1d",
    "load_npz",
    "load_moons",
    "load_spirals",
    "load_teacher_outputs",
    "make_gmm_problem",
    "mixup_inputs",
    "noised",
    "parse_augmentation",
    "parse_idx",
    "read_idx",
    "spirals",
]

DATASETS = ("mnist1d", "digits", "gmm", "moons", "spirals", "mnist", "fashion_mnist", "cifar10")

_GENERATED = ("mnist1d", "gmm", "moons", "spirals")  # loaders that take num_train
_FROM_FILES = ("mnist", "fashion_mnist", "cifar10")  # loaders that take data_dir


def data_root() -> pathlib.Path:
    """Where :func:`load_dataset` looks for downloaded files: ``$BAYESKD_DATA``, else
    ``cache_root() / "data"``; each dataset lives in a subfolder named after it."""
    env = os.environ.get("BAYESKD_DATA")
    return pathlib.Path(env).expanduser() if env else cache_root() / "data"


def load_dataset(name: str, *, size: int | None = None, **kwargs) -> Dataset:
    """Loads a dataset by name (one of :data:`DATASETS`).

    Args:
      name: ``mnist1d``, ``digits``, ``gmm``, ``moons``, ``spirals``, ``mnist``,
        ``fashion_mnist`` or ``cifar10``.
      size: keep only this many training examples (generated datasets generate only these;
        the others keep a prefix of their shuffled or fixed order). The test split is unchanged.
      **kwargs: passed to the loader (e.g. ``transfer_size`` for generated data, ``data_dir`` for
        file-based data, which defaults to ``data_root() / name``).

    Raises:
      ValueError: unknown ``name``, or both ``size`` and ``num_train`` given.
    """
    if name not in DATASETS:
        raise ValueError(f"dataset: unknown name {name!r}; choose one of: {', '.join(DATASETS)}")
    if size is not None and "num_train" in kwargs:
        raise ValueError("size: give either size or num_train, not both")
    if size is not None and name in _GENERATED:
        kwargs["num_train"] = size
    if name in _FROM_FILES:
        kwargs.setdefault("data_dir", data_root() / name)

    if name == "mnist1d":
        ds = load_mnist1d(**kwargs)
    elif name == "digits":
        ds = load_digits(**kwargs)
    elif name == "gmm":
        ds = load_gmm(**kwargs)
    elif name == "moons":
        ds = load_moons(**kwargs)
    elif name == "spirals":
        ds = load_spirals(**kwargs)
    elif name == "cifar10":
        ds = load_cifar10(**kwargs)
    else:
        ds = load_mnist(fashion=name == "fashion_mnist", **kwargs)

    if size is not None and name not in _GENERATED:
        ds = ds.take(num_train=size)
    return ds

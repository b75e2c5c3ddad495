"""MNIST-1D (Greydanus & Kobak, 2020), generated locally with one shared normalisation.

The ``mnist1d`` package's ``make_dataset`` standardises every call by that call's own mean and
std, so two calls with different seeds end up in different input spaces. For distillation we need
a transfer set in the *same* input space as the training data, so this module regenerates the raw
(un-standardised) samples with exactly the package's procedure (:func:`_raw_samples`, checked
against ``make_dataset`` to 1e-10 in the tests) and normalises the train, test and transfer splits
with the statistics of the default training split.

Reference: S. Greydanus and D. Kobak, "Scaling down deep learning with MNIST-1D", ICML 2024
(arXiv:2011.14439).
"""

from __future__ import annotations

import os
import pathlib
import random
from importlib import metadata

import numpy as np

from bayeskd.cache import cached_arrays, entry_path
from bayeskd.data.dataset import Dataset

__all__ = ["load_mnist1d", "generate_mnist1d", "mnist1d_args"]

DEFAULT_NUM_SAMPLES = 5000  # the package default: 4000 train / 1000 test
DEFAULT_TRAIN_SPLIT = 0.8


def mnist1d_args(**overrides) -> dict:
    """The package's default generation arguments (minus the download URL), with overrides.

    Example:
      >>> args = mnist1d_args(seed=1, num_samples=20)
      >>> args["seed"], args["num_samples"], args["final_seq_length"]
      (1, 20, 40)
    """
    from mnist1d.data import get_dataset_args

    args = get_dataset_args(as_dict=True)
    args.pop("url", None)
    unknown = set(overrides) - set(args)
    if unknown:
        raise ValueError(
            f"mnist1d_args: unknown arguments {sorted(unknown)}; known: {sorted(args)}"
        )
    args.update(overrides)
    return args


def _raw_samples(args) -> tuple[np.ndarray, np.ndarray]:
    """Runs ``mnist1d.data.make_dataset``'s generation procedure without its standardisation.

    Same seeding (``set_seed``), same loop over ``get_templates()`` calling
    ``mnist1d.transform.transform``, same batch permutation and optional sequence shuffle. The
    package seeds Python's and NumPy's global generators; both are restored afterwards.

    Args:
      args: a dict of generation arguments (see :func:`mnist1d_args`) or the package's
        ``ObjectView``.

    Returns:
      ``xs``: ``float64 [num_samples // 10 * 10, final_seq_length]`` raw signals, in the order
      ``make_dataset`` returns them (train split first); ``ys``: ``int64 [same]`` labels.
    """
    from mnist1d.data import get_templates
    from mnist1d.transform import transform
    from mnist1d.utils import ObjectView, set_seed

    if isinstance(args, dict):
        args = ObjectView(dict(args))
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        templates = get_templates()
        set_seed(args.seed)
        xs, ys = [], []
        samples_per_class = args.num_samples // len(templates["y"])
        for label_ix in range(len(templates["y"])):
            for _ in range(samples_per_class):
                x, _ = transform(templates["x"][label_ix], templates["t"], args)
                xs.append(x)
                ys.append(templates["y"][label_ix])
        batch_shuffle = np.random.permutation(len(ys))
        xs = np.stack(xs)[batch_shuffle]
        ys = np.stack(ys)[batch_shuffle]
        if args.shuffle_seq:
            xs = xs[..., np.random.permutation(args.final_seq_length)]
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return xs, ys


def _cached_raw_samples(args: dict, cache_dir, use_cache: bool) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_raw_samples` memoised on disk (:func:`bayeskd.cache.cached_arrays`), keyed by the
    arguments, the ``mnist1d`` package's version and this module's code."""
    out = cached_arrays("mnist1d", _cache_key(args),
                        lambda: dict(zip(("xs", "ys"), _raw_samples(args), strict=True)),
                        code=(__name__,), cache_dir=cache_dir, use_cache=use_cache,
                        runs_jax=False)  # generated with NumPy: the JAX runtime plays no part
    return out["xs"], out["ys"]


def _cache_key(args: dict) -> dict:
    return {"args": args, "mnist1d": metadata.version("mnist1d")}


def _cache_path(args: dict, cache_dir=None) -> pathlib.Path:
    """The cache file of the samples of ``args`` (:func:`bayeskd.cache.entry_path`)."""
    return entry_path("mnist1d", _cache_key(args), code=(__name__,), cache_dir=cache_dir,
                      runs_jax=False)


def load_mnist1d(
    *,
    num_train: int = 4000,
    num_test: int = 1000,
    transfer_size: int = 0,
    seed: int = 42,
    transfer_seed: int = 1,
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
) -> Dataset:
    """MNIST-1D: 10 classes of length-40 signals, ``x: float32 [N, 40]``.

    Train and test are the package's default 4000/1000 split of ``seed`` (5000 samples, train
    split 0.8); smaller ``num_train``/``num_test`` take prefixes of that split. All inputs are
    standardised with the scalar mean and std of the full 4000-example raw training split (stored
    in ``meta["mean"]``, ``meta["std"]``), so prefixes are exactly subsets of the default data.

    Note that this differs slightly from the package's own arrays, which are standardised with the
    statistics of all 5000 samples; accuracies are unaffected.

    The unlabelled transfer set is generated with ``transfer_seed`` (``transfer_size`` rounded up
    to a multiple of 10 samples, then truncated) and normalised with the same training statistics.

    Generated raw arrays are cached under :func:`bayeskd.cache.cache_root` (5000 samples take a few seconds).

    Args:
      num_train: training examples, at most 4000.
      num_test: test examples, at most 1000.
      transfer_size: unlabelled transfer inputs (0 for none).
      seed: generation seed of the train/test data (42 is the published dataset's).
      transfer_seed: generation seed of the transfer set; must differ from ``seed``.
      cache_dir: cache directory (default: ``$BAYESKD_CACHE`` or ``~/.cache/bayeskd``).
      use_cache: read and write the cache.

    Returns:
      A :class:`Dataset` named ``"mnist1d"``.
    """
    max_train = int(DEFAULT_NUM_SAMPLES * DEFAULT_TRAIN_SPLIT)
    max_test = DEFAULT_NUM_SAMPLES - max_train
    if not 1 <= num_train <= max_train:
        raise ValueError(f"num_train: must lie in [1, {max_train}], got {num_train}")
    if not 1 <= num_test <= max_test:
        raise ValueError(f"num_test: must lie in [1, {max_test}], got {num_test}")
    if transfer_size < 0:
        raise ValueError(f"transfer_size: must be >= 0, got {transfer_size}")
    if transfer_size and transfer_seed == seed:
        raise ValueError(
            f"transfer_seed: must differ from seed ({seed}), else the transfer set repeats the "
            "training inputs"
        )

    args = mnist1d_args(seed=seed, num_samples=DEFAULT_NUM_SAMPLES, train_split=DEFAULT_TRAIN_SPLIT)
    xs, ys = _cached_raw_samples(args, cache_dir, use_cache)
    split = int(len(ys) * DEFAULT_TRAIN_SPLIT)
    mean, std = float(xs[:split].mean()), float(xs[:split].std())

    def normalise(x):
        return ((x - mean) / std).astype(np.float32)

    x_transfer = None
    meta = {"mean": mean, "std": std, "seed": seed, "generation_args": args}
    if transfer_size:
        num_samples = -(-transfer_size // 10) * 10
        transfer_args = mnist1d_args(seed=transfer_seed, num_samples=num_samples)
        xt, _ = _cached_raw_samples(transfer_args, cache_dir, use_cache)
        x_transfer = normalise(xt[:transfer_size])
        meta["transfer_seed"] = transfer_seed

    return Dataset(
        name="mnist1d",
        x_train=normalise(xs[:num_train]),
        y_train=ys[:num_train],
        x_test=normalise(xs[split : split + num_test]),
        y_test=ys[split : split + num_test],
        num_classes=10,
        x_transfer=x_transfer,
        meta=meta,
    )


def generate_mnist1d(num: int, *, seed: int, mean: float, std: float,
                     cache_dir: str | os.PathLike | None = None,
                     use_cache: bool = True) -> tuple[np.ndarray, np.ndarray]:
    r"""``num`` labelled MNIST-1D examples from generator seed ``seed``, standardised as given.

    .. math:: x = (x_\text{raw} - \text{mean}) / \text{std}

    Generates ``num`` rounded up to a multiple of 10 samples (the generator makes whole rounds of
    the 10 classes) and keeps the first ``num``, exactly as :func:`load_mnist1d` builds its
    transfer set, so ``generate_mnist1d(n, seed=ds.meta["transfer_seed"], mean=ds.meta["mean"],
    std=ds.meta["std"])`` gives a dataset's transfer inputs with their true labels.

    Args:
      num: examples, ``>= 1``.
      seed: generation seed.
      mean, std: the standardisation (a dataset's ``meta["mean"]`` and ``meta["std"]``).
      cache_dir, use_cache: as for :func:`load_mnist1d`.

    Returns:
      ``(x float32 [num, 40], y int32 [num])``.
    """
    from bayeskd.validate import check_positive_int

    check_positive_int(num, name="num")
    args = mnist1d_args(seed=seed, num_samples=-(-num // 10) * 10)
    xs, ys = _cached_raw_samples(args, cache_dir, use_cache)
    return ((xs[:num] - mean) / std).astype(np.float32), ys[:num].astype(np.int32)

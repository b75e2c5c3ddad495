"""scikit-learn's bundled 8x8 handwritten digits (1797 images, no download needed).

Reference: E. Alpaydin and C. Kaynak, "Optical Recognition of Handwritten Digits", UCI, 1998.
"""

from __future__ import annotations

import numpy as np

from bayeskd.data.dataset import Dataset

__all__ = ["load_digits"]


def load_digits(*, test_fraction: float = 0.25, seed: int = 0, flatten: bool = False) -> Dataset:
    """The 8x8 digits with a fixed stratified train/test split.

    Pixels (0..16) are divided by 16, then standardised with the training split's scalar mean and
    std (stored in ``meta``).

    Args:
      test_fraction: fraction of the 1797 images held out, stratified by class.
      seed: ``random_state`` of ``sklearn.model_selection.train_test_split``.
      flatten: return vectors ``[N, 64]`` instead of images ``[N, 8, 8, 1]``.

    Returns:
      A :class:`Dataset` named ``"digits"`` with 10 classes.
    """
    from sklearn.datasets import load_digits as sk_load_digits
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction: must lie in (0, 1), got {test_fraction}")
    bunch = sk_load_digits()
    x = bunch.images.astype(np.float64)[..., None] / 16.0  # [N, 8, 8, 1]
    y = bunch.target.astype(np.int32)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_fraction, stratify=y, random_state=seed
    )
    mean, std = float(x_train.mean()), float(x_train.std())
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    if flatten:
        x_train, x_test = x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)
    return Dataset(
        name="digits",
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        num_classes=10,
        meta={"mean": mean, "std": std, "seed": seed, "scale": 16.0},
    )

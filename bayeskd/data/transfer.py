"""Unlabelled transfer inputs built from existing inputs, for distillation.

Distillation only needs inputs (the teacher supplies the targets), so a transfer set can be
enlarged by perturbing or mixing training inputs. Both helpers are pure given ``seed``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["noised", "mixup_inputs"]

SeedLike = int | np.random.SeedSequence | np.random.Generator


def noised(x, *, sigma: float, seed: SeedLike, copies: int = 1) -> np.ndarray:
    """Gaussian-perturbed copies of the inputs.

    .. math:: \\tilde x = x + \\sigma \\varepsilon, \\qquad \\varepsilon \\sim \\mathcal N(0, I)

    Args:
      x: ``[N, ...features]`` inputs.
      sigma: noise standard deviation, in input units (>= 0).
      seed: seed or generator for the noise.
      copies: noisy copies of each input; copy ``c`` of input ``n`` is row ``c * N + n``.

    Returns:
      ``float32 [copies * N, ...features]``.

    Example:
      >>> x = np.zeros((3, 2))
      >>> noised(x, sigma=0.0, seed=0, copies=2).shape
      (6, 2)
    """
    x = np.asarray(x, dtype=np.float32)
    if sigma < 0:
        raise ValueError(f"sigma: must be >= 0, got {sigma}")
    if copies < 1:
        raise ValueError(f"copies: must be >= 1, got {copies}")
    rng = np.random.default_rng(seed)
    tiled = np.concatenate([x] * copies)
    return (tiled + sigma * rng.standard_normal(tiled.shape)).astype(np.float32)


def mixup_inputs(x, *, num: int, alpha: float, seed: SeedLike) -> np.ndarray:
    """Random convex combinations of pairs of inputs (mixup without labels).

    .. math:: \\tilde x = \\lambda x_i + (1 - \\lambda) x_j, \\qquad
              \\lambda \\sim \\mathrm{Beta}(\\alpha, \\alpha), \\; i, j \\sim \\mathrm{U}\\{1..N\\}

    Args:
      x: ``[N, ...features]`` inputs.
      num: number of mixed inputs to return.
      alpha: Beta concentration (> 0); small ``alpha`` keeps mixes close to real inputs.
      seed: seed or generator.

    Returns:
      ``float32 [num, ...features]``.

    Reference: H. Zhang et al., "mixup: Beyond Empirical Risk Minimization", ICLR 2018.

    Example:
      >>> mixed = mixup_inputs(np.eye(3), num=5, alpha=0.4, seed=0)
      >>> mixed.shape, bool(np.allclose(mixed.sum(axis=1), 1.0))
      ((5, 3), True)
    """
    x = np.asarray(x, dtype=np.float32)
    if alpha <= 0:
        raise ValueError(f"alpha: must be > 0, got {alpha}")
    if num < 0:
        raise ValueError(f"num: must be >= 0, got {num}")
    if len(x) == 0:
        raise ValueError("x: must be non-empty")
    rng = np.random.default_rng(seed)
    i, j = rng.integers(len(x), size=(2, num))
    lam = rng.beta(alpha, alpha, size=num).reshape((num,) + (1,) * (x.ndim - 1))
    return (lam * x[i] + (1.0 - lam) * x[j]).astype(np.float32)

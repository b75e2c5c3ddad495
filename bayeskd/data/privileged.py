r"""Learning using privileged information (Vapnik & Izmailov 2015) as generalised distillation
(Lopez-Paz, Bottou, Schölkopf & Vapnik 2016, ICLR): the four synthetic setups of their §4.1, the
generalised-distillation targets and the low-resolution view of an image.

A teacher trained on *privileged* inputs :math:`x^*` (seen only at training time) teaches a
student that sees only :math:`x`: with imitation weight :math:`\lambda` and temperature
:math:`T` the student minimises (the paper's eq. 6, the student not softened)

.. math::
    \frac1n\sum_i (1-\lambda)\,\ell\big(y_i, \sigma(f(x_i))\big)
      + \lambda\,\ell\big(s_i, \sigma(f(x_i))\big),\qquad s_i = \sigma\big(f_t(x^*_i)/T\big),

which is the cross-entropy against :func:`generalised_targets` (it is linear in the target), or
the library's :class:`~bayeskd.priors.TeacherPrior` with ``alpha`` :math:`=\lambda`,
``temperature`` 1 and the table :func:`privileged_table`.
"""

from __future__ import annotations

import numpy as np

from bayeskd.data.dataset import Dataset
from bayeskd.data.digits import load_digits
from bayeskd.validate import check_temperature, check_unit_interval

__all__ = ["RELEVANT", "SETUPS", "digits_views", "downsample", "generalised_targets", "privileged_table",
           "sample_setup", "synthetic_sets"]

#: The four setups of §4.1, in the paper's order (:func:`sample_setup`'s ``setup`` index).
SETUPS = ("clean labels", "clean features", "relevant features", "sample-dependent features")
RELEVANT = 3  # coordinates J the relevant-feature setups keep


def sample_setup(setup: int, n: int, alpha: np.ndarray, *,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""``(x [n, d], x_star [n, d], y [n])`` of setup ``setup`` of :data:`SETUPS` (our reading
    of §4.1; :math:`d = ` ``len(alpha)``, :math:`\alpha\sim\mathcal N(0, I)`, unused coordinates
    of ``x_star`` zero):

    0. *clean labels*: :math:`x\sim\mathcal N(0,I)`, :math:`x^*_1 = \langle\alpha, x\rangle`,
       :math:`y = [x^*_1 + \epsilon > 0]`, :math:`\epsilon\sim\mathcal N(0,1)`;
    1. *clean features*: :math:`x^*\sim\mathcal N(0,I)`, :math:`x = x^* + \epsilon`,
       :math:`\epsilon\sim\mathcal N(0, I)`, :math:`y = [\langle\alpha, x^*\rangle > 0]`;
    2. *relevant features*: :math:`x\sim\mathcal N(0,I)`, :math:`x^* = x_J` (the first
       :data:`RELEVANT` coordinates), :math:`y = [\langle\alpha_J, x_J\rangle > 0]`;
    3. *sample-dependent relevant features*: as 2 with a random :math:`J_i` per example, the
       teacher seeing them in order.
    """
    d = len(alpha)
    x_star = np.zeros((n, d))
    if setup == 0:
        x = rng.standard_normal((n, d))
        x_star[:, 0] = x @ alpha
        y = (x_star[:, 0] + rng.standard_normal(n) > 0)
    elif setup == 1:
        x_star = rng.standard_normal((n, d))
        x = x_star + rng.standard_normal((n, d))
        y = x_star @ alpha > 0
    elif setup == 2:
        x = rng.standard_normal((n, d))
        x_star[:, :RELEVANT] = x[:, :RELEVANT]
        y = x_star[:, :RELEVANT] @ alpha[:RELEVANT] > 0
    elif setup == 3:
        x = rng.standard_normal((n, d))
        idx = np.stack([rng.choice(d, RELEVANT, replace=False) for _ in range(n)])
        x_star[:, :RELEVANT] = np.take_along_axis(x, idx, 1)
        y = x_star[:, :RELEVANT] @ alpha[:RELEVANT] > 0
    else:
        raise ValueError(f"setup: one of 0..{len(SETUPS) - 1} ({', '.join(SETUPS)}), got {setup!r}")
    return x.astype(np.float32), x_star.astype(np.float32), y.astype(np.int32)


def privileged_table(teacher_logits, x, *, temperature: float) -> np.ndarray:
    r"""The generalised-distillation table :math:`\log\sigma(f_t(x^*_i)/T)` ``[N, K]``.

    ``teacher_logits`` are the teacher's logits on the privileged inputs ``[N, K]``, one row per
    regular input in ``x [N, ...]`` (checked before any work).

    Example:
      >>> privileged_table(np.array([[2.0, 0.0]]), np.zeros((1, 3)), temperature=2.0).round(3)
      array([[-0.313, -1.313]], dtype=float32)
    """
    check_temperature(temperature)
    z = np.asarray(teacher_logits, np.float64)
    if z.ndim != 2 or len(z) != len(x):
        raise ValueError(f"teacher_logits: the privileged inputs need one row per regular input "
                         f"(N = {len(x)}), got shape {z.shape}")
    z = z / temperature
    z = z - z.max(-1, keepdims=True)
    return (z - np.log(np.exp(z).sum(-1, keepdims=True))).astype(np.float32)


def generalised_targets(y, log_s, *, imitation: float) -> np.ndarray:
    r""":math:`(1-\lambda)\,\mathrm{onehot}(y) + \lambda s` ``[N, K]`` (float32): cross-entropy
    against it is the generalised-distillation loss.

    Example:
      >>> generalised_targets(np.array([0]), np.log([[0.5, 0.5]]), imitation=0.5).tolist()
      [[0.75, 0.25]]
    """
    check_unit_interval(imitation, name="imitation")
    if np.ndim(log_s) != 2 or len(log_s) != len(y):
        raise ValueError(f"log_s: the privileged targets need one row per regular label "
                         f"(N = {len(y)}), got shape {np.shape(log_s)}")
    return ((1 - imitation) * np.eye(log_s.shape[1])[y]
            + imitation * np.exp(log_s)).astype(np.float32)


def downsample(x: np.ndarray, factor: int = 2) -> np.ndarray:
    """``[N, H, W, C] -> [N, H/f, W/f, C]`` by ``f x f`` average pooling.

    Example:
      >>> downsample(np.arange(16.0).reshape(1, 4, 4, 1), 2)[0, :, :, 0].tolist()
      [[2.5, 4.5], [10.5, 12.5]]
    """
    n, h, w, c = x.shape
    return x.reshape(n, h // factor, factor, w // factor, factor, c).mean((2, 4))


def synthetic_sets(setup: int, repeats: int, *, dim: int = 50,
                   sizes: tuple[int, ...] = (200, 200, 10_000)) -> list[list[tuple]]:
    """``repeats`` draws of setup ``setup``: each a list of :func:`sample_setup` splits of
    ``sizes`` (train, validation, test) sharing one :math:`\\alpha`, repeat ``r`` from
    ``default_rng([11, setup, r])``."""
    out = []
    for r in range(repeats):
        rng = np.random.default_rng([11, setup, r])
        alpha = rng.standard_normal(dim)
        out.append([sample_setup(setup, m, alpha, rng=rng) for m in sizes])
    return out


def digits_views(num_images: int = 300, factors: tuple[int, ...] = (2, 4), *,
                 seed: int = 5) -> list[Dataset]:
    """The privileged-resolution digits: ``num_images`` training images of scikit-learn's 8x8
    digits (chosen by ``default_rng(seed)``) with the full test set, first at 8x8 (the
    teacher's view), then :func:`downsample`\\ d by each factor (the students' views, named
    ``digits{8 // f}``)."""
    full = load_digits()
    idx = np.random.default_rng(seed).choice(len(full.x_train), num_images, replace=False)
    x, y = full.x_train[idx], full.y_train[idx]
    return [Dataset(f"digits{8 // f}", downsample(x, f), y, downsample(full.x_test, f),
                    full.y_test, 10) for f in (1, *factors)]

r"""The penultimate-layer picture of Müller, Kornblith & Hinton (2019), Fig. 1: activations
projected onto the plane through three classes' templates.

A network's logits are :math:`z_k = h^\top w_k + b_k`; the *template* of class :math:`k` is its
output-layer weight vector :math:`w_k`. The three templates :math:`w_a, w_b, w_c` span an affine
plane through :math:`w_a`; with :math:`B` an orthonormal basis of
:math:`\mathrm{span}(w_b - w_a, w_c - w_a)`, an activation :math:`h` maps to
:math:`B^\top (h - w_a)`, its coordinates in that plane (distances within the plane are kept).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["template_plane"]


def template_plane(h_ND: np.ndarray, w_DK: np.ndarray, classes: Sequence[int],
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates ``[N, 2]`` of activations ``h_ND`` and ``[3, 2]`` of the templates of
    ``classes`` (columns of the output kernel ``w_DK``) in the plane through those templates,
    the first template at the origin.

    >>> w = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 2.0], [0.0, 0.0, 0.0]])  # D=3, K=3
    >>> pts, t = template_plane(np.array([[1.0, 2.0, 5.0]]), w, (0, 1, 2))
    >>> np.abs(t).round(6).tolist(), np.abs(pts).round(6).tolist()
    ([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]], [[1.0, 2.0]])
    """
    templates = w_DK[:, list(classes)].T  # [3, D]
    origin = templates[0]
    basis, _ = np.linalg.qr((templates[1:] - origin).T)  # [D, 2], orthonormal
    return (h_ND - origin) @ basis, (templates - origin) @ basis

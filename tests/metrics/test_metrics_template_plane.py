"""The template-plane projection: an orthonormal map of the plane through three templates."""

import numpy as np
import pytest

from bayeskd.metrics.template_plane import template_plane


def test_in_plane_distances_are_kept_and_off_plane_parts_dropped():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(6, 4))
    pts, t = template_plane(w[:, [0, 1, 2]].T, w, (0, 1, 2))
    np.testing.assert_allclose(pts, t)  # the templates themselves
    np.testing.assert_allclose(t[0], 0, atol=1e-12)
    for i, j in ((0, 1), (0, 2), (1, 2)):
        assert np.linalg.norm(t[i] - t[j]) == pytest.approx(np.linalg.norm(w[:, i] - w[:, j]))
    # a point off the plane projects onto its foot: adding a normal vector changes nothing
    normal = np.linalg.svd(np.stack([w[:, 1] - w[:, 0], w[:, 2] - w[:, 0]]))[2][-1]
    h = 0.3 * w[:, 1] + 0.7 * w[:, 2]
    np.testing.assert_allclose(template_plane(np.stack([h + 5 * normal]), w, (0, 1, 2))[0],
                               template_plane(np.stack([h]), w, (0, 1, 2))[0], atol=1e-10)

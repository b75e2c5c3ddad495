"""AUROC against exact Mann-Whitney counts, and the uncertainty split of sampled predictions."""

import jax.numpy as jnp
import numpy as np
import pytest

from bayeskd.metrics import auroc, entropy, mutual_information, uncertainty_decomposition


def test_auroc_is_the_fraction_of_ordered_pairs():
    assert auroc(np.array([0.1, 0.2]), np.array([0.3, 0.4])) == 1.0
    assert auroc(np.array([0.3, 0.4]), np.array([0.1, 0.2])) == 0.0
    # 4 of the 6 (in, out) pairs have the out-of-distribution score higher
    assert auroc(np.array([0.1, 0.4]), np.array([0.2, 0.3, 0.5])) == pytest.approx(4 / 6)
    # a tie counts one half: pairs (1 vs 1) tie, (1 vs 2) ordered -> (0.5 + 1) / 2
    assert auroc(np.array([1.0]), np.array([1.0, 2.0])) == pytest.approx(0.75)
    assert auroc(np.ones(3), np.ones(4)) == 0.5


def test_auroc_is_invariant_to_a_monotone_transform_of_the_score():
    rng = np.random.default_rng(0)
    s_in, s_out = rng.normal(size=50), rng.normal(0.5, 1.0, size=40)
    brute = np.mean((s_out[None] > s_in[:, None]) + 0.5 * (s_out[None] == s_in[:, None]))
    assert auroc(s_in, s_out) == pytest.approx(brute, abs=1e-12)
    assert auroc(np.exp(s_in), np.exp(s_out)) == pytest.approx(brute, abs=1e-12)


def test_auroc_needs_scores_on_both_sides():
    with pytest.raises(ValueError, match=r"^score_in, score_out: both need scores, got 0 and 2"):
        auroc(np.array([]), np.array([0.1, 0.2]))


def test_split_of_disagreeing_and_agreeing_members():
    u = uncertainty_decomposition(jnp.array([[[1.0, 0.0]], [[0.0, 1.0]]]))
    np.testing.assert_allclose([u["total"][0], u["data"][0], u["knowledge"][0]],
                               [np.log(2), 0.0, np.log(2)], atol=1e-6)
    p = jnp.array([0.7, 0.2, 0.1])
    same = uncertainty_decomposition(jnp.stack([p[None], p[None]]))  # identical members
    h = -np.sum(np.array(p) * np.log(np.array(p)))
    np.testing.assert_allclose([same["total"][0], same["data"][0], same["knowledge"][0]],
                               [h, h, 0.0], atol=1e-6)


def test_split_adds_up_and_matches_entropy_and_mutual_information():
    rng = np.random.default_rng(1)
    probs = jnp.asarray(rng.dirichlet(np.ones(4), size=(5, 7)))  # [S=5, B=7, K=4]
    u = uncertainty_decomposition(probs)
    np.testing.assert_allclose(u["total"], entropy(probs.mean(0)), rtol=1e-6)
    np.testing.assert_allclose(u["knowledge"], mutual_information(probs), rtol=1e-6)
    np.testing.assert_allclose(u["data"], entropy(probs).mean(0), atol=1e-6)
    np.testing.assert_allclose(u["total"], u["data"] + u["knowledge"], atol=1e-7)
    assert np.all(np.asarray(u["knowledge"]) >= -1e-6)

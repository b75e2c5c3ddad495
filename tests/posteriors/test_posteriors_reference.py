"""Distances to a reference predictive and split R-hat / ESS of predictive probabilities."""

import numpy as np
import pytest

from bayeskd.posteriors import predictive_diagnostics, predictive_metrics, reference_distances


def test_reference_distances_properties():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(3), size=50)
    q = rng.dirichlet(np.ones(3), size=50)
    same = reference_distances(p, p)
    assert same == {"agreement_ref": 1.0, "tv_ref": 0.0, "kl_ref": pytest.approx(0.0, abs=1e-6)}
    d = reference_distances(p, q, suffix="_grid")
    assert d["kl_ref_grid"] > 0 and 0 < d["tv_ref_grid"] < 1
    # Pinsker: TV <= sqrt(KL / 2) per example, hence on average
    assert d["tv_ref_grid"] <= np.sqrt(d["kl_ref_grid"] / 2) + 1e-6
    with pytest.raises(ValueError, match="probs"):
        reference_distances(p, q[:10])


def test_reference_distances_on_regions_are_those_of_the_masked_rows():
    p = np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]])
    q = np.array([[0.9, 0.1], [0.8, 0.2], [0.5, 0.5]])
    near = np.array([True, False, True])
    d = reference_distances(p, q, regions={"_near": near, "_far": ~near})
    assert list(d)[:3] == ["agreement_ref", "tv_ref", "kl_ref"]
    assert d["agreement_ref_near"] == 1.0 and d["tv_ref_near"] == 0.0
    assert d["agreement_ref_far"] == 0.0 and d["tv_ref_far"] == pytest.approx(0.6)
    assert d["kl_ref_far"] == pytest.approx(0.2 * np.log(0.25) + 0.8 * np.log(4.0), rel=1e-5)
    assert d["tv_ref"] == pytest.approx(0.2)  # the mean over all three rows
    with pytest.raises(ValueError, match="regions"):
        reference_distances(p, q, regions={"_near": [1, 0, 1]})


def test_mutual_information_only_from_disagreeing_samples():
    labels = np.array([0, 1])
    agree = np.tile(np.array([[[0.8, 0.2], [0.3, 0.7]]]), (4, 1, 1))
    m = predictive_metrics(agree.mean(0), labels, sample_probs=agree)
    assert m["mutual_information"] == pytest.approx(0.0, abs=1e-6) and m["accuracy"] == 1.0
    split = np.array([[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [1.0, 0.0]]])
    assert predictive_metrics(split.mean(0), labels, sample_probs=split)["mutual_information"] == (
        pytest.approx(np.log(2), rel=1e-5))


def test_split_rhat_flags_chains_that_disagree():
    rng = np.random.default_rng(0)
    p = rng.uniform(0.2, 0.8, size=(4, 200, 10))
    mixed = np.stack([p, 1 - p], -1)
    good = predictive_diagnostics(mixed)
    assert good["rhat_max"] < 1.05 and good["ess_min"] > 400
    shifted = mixed.copy()
    shifted[0, ..., 0] = np.clip(shifted[0, ..., 0] + 0.3, 0, 1)
    shifted[0, ..., 1] = 1 - shifted[0, ..., 0]
    assert predictive_diagnostics(shifted)["rhat_max"] > 1.2
    with pytest.raises(ValueError, match="chains"):
        predictive_diagnostics(mixed[:1])

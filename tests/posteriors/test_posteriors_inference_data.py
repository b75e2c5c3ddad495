"""ArviZ export of posterior draws: shapes and dims, and R-hat that tells mixed chains from chains
that sample different places (it fails when chains are merged in the wrong order)."""

import jax
import numpy as np
import pytest

from bayeskd.posteriors import MCMCRun, ParamSamples, rhat_ess, to_inference_data


def _tree(c, d, rng):
    return {"layer": {"kernel": rng.standard_normal((c, d, 3, 2)),
                      "bias": rng.standard_normal((c, d, 2))}}


def test_pytree_with_chain_draw_axes_keeps_shapes_and_dims():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4), size=(2, 7, 5))  # [C, D, B, K]
    idata = to_inference_data(_tree(2, 7, rng), predictions=probs)
    post = idata.posterior
    assert dict(post.sizes)["chain"] == 2 and dict(post.sizes)["draw"] == 7
    assert post["layer.kernel"].shape == (2, 7, 3, 2)
    assert post["layer.bias"].dims == ("chain", "draw", "layer.bias_dim_0")
    pp = idata.posterior_predictive["probs"]
    assert pp.dims == ("chain", "draw", "input", "class") and pp.shape == (2, 7, 5, 4)
    np.testing.assert_array_equal(pp.values, probs)


def test_param_samples_are_split_chain_major():
    rng = np.random.default_rng(1)
    w = np.arange(3 * 4 * 2, dtype=np.float32).reshape(12, 2)  # chain-major [C * D, 2]
    post = ParamSamples(None, {"w": jax.numpy.asarray(w)}, chains=3)
    got = to_inference_data(post).posterior["w"].values
    assert got.shape == (3, 4, 2)
    np.testing.assert_array_equal(got[1], w[4:8])  # chain 1 = draws 4..7
    run = MCMCRun(samples={"w": rng.standard_normal((2, 6, 3))}, num_chains=2, num_divergent=0,
                  num_transitions=12, runtime_s=0.0)
    assert to_inference_data(run).posterior["w"].shape == (2, 6, 3)


def test_rhat_near_one_for_iid_draws_and_far_for_shifted_chains():
    rng = np.random.default_rng(2)
    iid = rng.standard_normal((4, 500, 3))
    good = rhat_ess(to_inference_data({"w": iid}))
    assert good["rhat_max"] < 1.01 and good["ess_min"] > 1000
    shifted = iid + np.array([0.0, 3.0, 0.0, 3.0])[:, None, None]  # two chains elsewhere
    assert rhat_ess(to_inference_data({"w": shifted}))["rhat_max"] > 1.5
    # the same draws stored chain-major [C * D, ...]: split correctly they disagree ...
    flat = ParamSamples(None, {"w": jax.numpy.asarray(shifted.reshape(2000, 3))}, chains=4)
    assert rhat_ess(to_inference_data(flat))["rhat_max"] > 1.5
    # ... and split draw-major (interleaving the chains) they would look mixed: the export must
    # not do that
    wrong = np.swapaxes(shifted, 0, 1).reshape(4, 500, 3)
    assert rhat_ess(to_inference_data({"w": wrong}))["rhat_max"] < 1.05


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="^chains: 3 does not divide the 8 draws"):
        to_inference_data({"w": np.zeros((8, 2))}, chains=3)
    with pytest.raises(ValueError, match=r"^predictions: \(chain, draw\) = \(2, 3\) differ"):
        to_inference_data({"w": np.zeros((2, 4, 1))}, predictions=np.zeros((2, 3, 5, 2)))
    with pytest.raises(ValueError, match="^posterior: R-hat needs >= 2 chains"):
        rhat_ess(to_inference_data({"w": np.zeros((1, 10))}))

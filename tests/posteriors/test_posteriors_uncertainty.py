"""Every posterior splits its uncertainty through one interface: sampled for weight samples,
closed form for a Dirichlet student, both agreeing with the metrics."""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from bayeskd.metrics import uncertainty_decomposition
from bayeskd.models import MLP
from bayeskd.posteriors import DirichletStudent, ParamSamples, dirichlet_uncertainty
from bayeskd.training import init_members


def _mlp(key):
    return MLP(2, 3, hidden=(8,), rngs=nnx.Rngs(params=key))


def test_weight_samples_split_their_sampled_predictions():
    graphdef, params = init_members(_mlp, jax.random.split(jax.random.key(0), 4))
    post = ParamSamples(graphdef, params)
    x = np.random.default_rng(0).normal(size=(6, 2)).astype(np.float32)
    key = jax.random.key(1)
    got = post.uncertainty(x, key=key)
    want = uncertainty_decomposition(post.sample_probs(x, key=key))
    for k in ("total", "data", "knowledge"):
        np.testing.assert_array_equal(np.asarray(got[k]), np.asarray(want[k]))
    # one network: no knowledge uncertainty, all of it is data uncertainty
    one = post.member(0).uncertainty(x, key=key)
    np.testing.assert_allclose(np.asarray(one["knowledge"]), 0.0, atol=1e-6)
    np.testing.assert_allclose(np.asarray(one["data"]), np.asarray(one["total"]), atol=1e-6)


def test_dirichlet_student_uses_its_closed_form_and_agrees_with_its_samples():
    graphdef, params = init_members(_mlp, jax.random.key(2)[None])
    student = DirichletStudent(graphdef, jax.tree.map(lambda a: a[0], params))
    x = np.zeros((1, 2), np.float32)
    closed = student.uncertainty(x, key=jax.random.key(0))  # the key is accepted, not used
    want = dirichlet_uncertainty(student.concentrations(x))
    for k in ("total", "data", "knowledge"):
        np.testing.assert_array_equal(np.asarray(closed[k]), np.asarray(want[k]))
    # Monte Carlo of the sampled split converges to the closed form
    probs = jax.random.dirichlet(jax.random.key(5), student.concentrations(x), shape=(200000, 1))
    mc = uncertainty_decomposition(jnp.asarray(probs))
    for k in ("total", "data", "knowledge"):
        np.testing.assert_allclose(np.asarray(mc[k]), np.asarray(closed[k]), atol=3e-3)

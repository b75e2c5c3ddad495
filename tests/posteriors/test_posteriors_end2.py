"""EnD²: the Dirichlet density and uncertainties against exact answers, and a Dirichlet student
that keeps a teacher's knowledge uncertainty where its samples disagree."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from scipy.stats import dirichlet

from bayeskd.metrics import entropy, mutual_information
from bayeskd.models import MLP
from bayeskd.posteriors import (
    DirichletStudent,
    Posterior,
    dirichlet_nll,
    dirichlet_uncertainty,
    distill_dirichlet,
    fit_dirichlet_student,
)


def test_dirichlet_nll_is_scipy_logpdf():
    rng = np.random.default_rng(0)
    alpha = rng.uniform(0.3, 20.0, size=(4, 3))
    pts = rng.dirichlet(np.ones(3), size=(5, 4))  # [S, B, K]
    want = np.array([-np.mean([dirichlet.logpdf(pts[s, b], alpha[b]) for s in range(5)])
                     for b in range(4)])
    got = dirichlet_nll(jnp.log(jnp.asarray(alpha, jnp.float32)), jnp.asarray(pts, jnp.float32))
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-4, atol=1e-4)


def test_uncertainty_closed_forms():
    alpha = np.array([[2.0, 3.0, 5.0], [0.5, 0.5, 0.5], [1e5, 1e5, 2e5]])
    u = {k: np.asarray(v) for k, v in dirichlet_uncertainty(jnp.asarray(alpha, jnp.float32)).items()}
    mean = alpha / alpha.sum(-1, keepdims=True)
    np.testing.assert_allclose(u["total"], -np.sum(mean * np.log(mean), -1), rtol=1e-5)
    # E H[pi] by Monte Carlo: 200,000 draws, standard error below 2e-3
    draws = np.random.default_rng(1).dirichlet(alpha[0], size=200_000)
    mc = np.mean(-np.sum(draws * np.log(draws), -1))
    assert abs(u["data"][0] - mc) < 5e-3
    np.testing.assert_allclose(u["total"], u["data"] + u["knowledge"], rtol=1e-5)
    # a sharp Dirichlet has no knowledge uncertainty; a flat one has a lot
    assert u["knowledge"][2] < 1e-4 < 0.1 < u["knowledge"][1]


class _SplitTeacher(Posterior):
    """Ten members on 1-D inputs: for x < 0 all say (0.5, 0.5) (data uncertainty only); for
    x > 0 half say (0.95, 0.05) and half (0.05, 0.95) (the same total, all of it knowledge)."""

    num_samples = 10

    def sample_logits(self, x, *, key, num_samples=None):
        x = jnp.asarray(x)[:, 0]
        sign = jnp.where(jnp.arange(10) % 2 == 0, 1.0, -1.0)[:, None]
        gap = jnp.where(x > 0, jnp.log(19.0), 0.0)[None]
        z = sign * gap
        return jnp.stack([z / 2, -z / 2], axis=-1)


def _mlp(key):
    return MLP(1, 2, hidden=(32, 32), rngs=nnx.Rngs(params=key))


@pytest.fixture(scope="module")
def split_student():
    x = np.linspace(-1.0, 1.0, 200, dtype=np.float32)[:, None]
    return x, distill_dirichlet(_SplitTeacher(), _mlp, x, key=jax.random.key(0), steps=1500,
                                learning_rate=3e-3)


def test_teacher_has_the_split_it_claims():
    x = np.array([[-0.5], [0.5]], np.float32)
    p = _SplitTeacher().sample_probs(x, key=jax.random.key(0))
    np.testing.assert_allclose(np.asarray(entropy(jnp.mean(p, 0))), np.log(2), rtol=1e-5)
    mi = np.asarray(mutual_information(p))
    assert mi[0] < 1e-6 and mi[1] > 0.45


def test_student_knowledge_uncertainty_is_higher_where_the_teacher_disagrees(split_student):
    x, student = split_student
    u = {k: np.asarray(v) for k, v in student.uncertainty(x).items()}
    left, right = x[:, 0] < -0.2, x[:, 0] > 0.2
    # the same total uncertainty (log 2) on both sides ...
    assert np.all(np.abs(u["total"][left | right] - np.log(2)) < 0.05)
    # ... split the way the teacher splits it
    assert u["knowledge"][right].min() > 3 * u["knowledge"][left].max()
    assert u["data"][left].min() > u["data"][right].max()
    # ... and in absolute terms: close to the teacher's mutual information (0.495 nats where its
    # members disagree), not only a few times the left side's
    mi = np.asarray(mutual_information(_SplitTeacher().sample_probs(x, key=jax.random.key(0))))
    assert abs(u["knowledge"][right].mean() - mi[right].mean()) < 0.2


def test_student_is_a_posterior(split_student):
    x, student = split_student
    assert isinstance(student, DirichletStudent)
    p = student.sample_probs(x[:5], key=jax.random.key(3), num_samples=4000)
    assert p.shape == (4000, 5, 2)
    np.testing.assert_allclose(np.asarray(jnp.mean(p, 0)), np.asarray(student.predictive(x[:5])),
                               atol=0.03)


@pytest.mark.parametrize(
    ("probs", "needle"),
    [
        (np.ones((3, 4, 1)), "at least 2 classes"),
        (np.full((3, 5, 2), 0.5), "[S, 4, K]"),
        (np.full((1, 4, 2), 0.5), "at least 2 samples"),
        (np.full((3, 4, 2), np.nan), "finite"),
    ],
)
def test_bad_teacher_samples(probs, needle):
    with pytest.raises(ValueError, match="probs_SNK: ") as e:
        fit_dirichlet_student(_mlp, np.zeros((4, 1)), probs, key=jax.random.key(0), steps=1)
    assert needle in str(e.value)


def test_bad_settings():
    probs = np.full((3, 4, 2), 0.5)
    for kwargs, name in (({"anneal_temperature": 0.5}, "anneal_temperature"),
                         ({"smoothing": 1.0}, "smoothing"), ({"steps": 0}, "steps"),
                         ({"anneal_fraction": 2.0}, "anneal_fraction")):
        with pytest.raises(ValueError, match=f"^{name}: "):
            fit_dirichlet_student(_mlp, np.zeros((4, 1)), probs, key=jax.random.key(0),
                                  **({"steps": 1} | kwargs))

"""The HMM language: forward algorithm against brute-force enumeration, sampler against the model."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from bayeskd.data.hmm import predictive_log_probs, random_hmm, sample_hmm, sequence_log_prob


def _joint64(hmm, seq):
    """p(x_1..x_t) by summing over every hidden path, float64."""
    pi, a, e = (np.exp(np.asarray(x, np.float64)) for x in hmm)
    total = 0.0
    for path in itertools.product(range(len(pi)), repeat=len(seq)):
        p = pi[path[0]] * e[path[0], seq[0]]
        for t in range(1, len(seq)):
            p *= a[path[t - 1], path[t]] * e[path[t], seq[t]]
        total += p
    return total


@pytest.fixture(scope="module")
def tiny():
    return random_hmm(key=jax.random.key(3), num_states=3, vocab_size=4, concentration=0.5)


def test_forward_algorithm_equals_brute_force_enumeration(tiny):
    seqs = np.array(list(itertools.product(range(4), repeat=3)), np.int32)  # all 64 sequences
    lp = np.asarray(predictive_log_probs(tiny, jnp.asarray(seqs)), np.float64)
    for i, seq in enumerate(seqs):
        for t in range(3):
            prefix = _joint64(tiny, seq[:t]) if t else 1.0
            for v in range(4):
                want = _joint64(tiny, [*seq[:t], v]) / prefix
                np.testing.assert_allclose(np.exp(lp[i, t, v]), want, rtol=2e-5, atol=1e-7)


def test_sequence_log_prob_sums_to_one_over_all_sequences(tiny):
    seqs = jnp.asarray(list(itertools.product(range(4), repeat=3)), jnp.int32)
    total = float(jnp.sum(jnp.exp(sequence_log_prob(tiny, seqs))))
    assert total == pytest.approx(1.0, abs=1e-5)


def test_sampler_matches_model_probabilities_chi_square(tiny):
    x = np.asarray(sample_hmm(tiny, key=jax.random.key(0), num_sequences=40_000, length=2))
    counts = np.bincount(x[:, 0] * 4 + x[:, 1], minlength=16)
    seqs = jnp.asarray(list(itertools.product(range(4), repeat=2)), jnp.int32)
    probs = np.asarray(jnp.exp(sequence_log_prob(tiny, seqs)), np.float64)
    probs = probs / probs.sum()
    _, pvalue = stats.chisquare(counts, probs * counts.sum())
    assert pvalue > 1e-3


def test_random_hmm_is_seeded_and_normalised():
    a = random_hmm(key=jax.random.key(1), num_states=5, vocab_size=50)
    b = random_hmm(key=jax.random.key(1), num_states=5, vocab_size=50)
    c = random_hmm(key=jax.random.key(2), num_states=5, vocab_size=50)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.log_emit, c.log_emit)
    for x in a:
        np.testing.assert_allclose(np.exp(np.asarray(x, np.float64)).sum(-1), 1.0, rtol=1e-5)
    # Zipf-like: every state's sorted emission probabilities are proportional to r^-a
    sorted_p = np.sort(np.exp(np.asarray(a.log_emit)), axis=-1)[:, ::-1]
    np.testing.assert_allclose(sorted_p[:, 0] / sorted_p[:, 9], 10.0**1.1, rtol=1e-4)


def test_predictive_ignores_the_current_and_later_tokens(tiny):
    x = jnp.array([[0, 1, 2, 3]], jnp.int32)
    y = x.at[0, 2:].set(0)
    lx, ly = predictive_log_probs(tiny, x), predictive_log_probs(tiny, y)
    np.testing.assert_array_equal(lx[:, :3], ly[:, :3])


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"vocab_size": 1}, "vocab_size"), ({"num_states": 0}, "num_states"),
    ({"zipf_exponent": 0.0}, "zipf_exponent"), ({"concentration": -1.0}, "concentration")])
def test_bad_arguments_name_themselves(kwargs, match):
    with pytest.raises(ValueError, match=match):
        random_hmm(key=jax.random.key(0), **kwargs)


def test_tokens_must_be_2d_integers(tiny):
    with pytest.raises(ValueError, match="tokens"):
        predictive_log_probs(tiny, jnp.zeros((3,), jnp.int32))
    with pytest.raises(ValueError, match="tokens"):
        predictive_log_probs(tiny, jnp.zeros((1, 3)))

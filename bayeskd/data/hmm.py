r"""A random hidden Markov language whose next-token distribution is known exactly.

A hidden Markov model with ``S`` hidden states and a vocabulary of ``V`` tokens generates
sequences :math:`x_1, \dots, x_L`:

.. math::
    z_1 \sim \pi, \qquad z_{t+1} \mid z_t \sim A_{z_t, \cdot}, \qquad
    x_t \mid z_t \sim E_{z_t, \cdot}.

The true predictive of the next token marginalises the hidden state (the posterior predictive
of the language, the best any language model can do):

.. math::
    p^*(x_t = v \mid x_{<t}) = \sum_s \alpha_t(s)\, E_{s v}, \qquad
    \alpha_{t+1}(s') \propto \sum_s \alpha_t(s)\, E_{s x_t}\, A_{s s'}, \quad \alpha_1 = \pi,

the forward algorithm (Rabiner 1989), computed here in log space with :func:`jax.lax.scan`.
It gives :math:`\mathrm{KL}(p^* \,\|\, q)` per token for any model :math:`q` of the language.

:func:`random_hmm` draws the language: sparse transitions (each row a Dirichlet with small
concentration, so the state is worth inferring from context) and Zipf-like emissions (each state
ranks the vocabulary in its own random order and emits rank :math:`r` with weight
:math:`r^{-a}`), so unigram frequencies look like text's while the context carries information.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from bayeskd.validate import check_positive_float, check_positive_int

__all__ = ["HMM", "predictive_log_probs", "random_hmm", "sample_hmm", "sequence_log_prob"]


class HMM(NamedTuple):
    """A hidden Markov model in log space.

    Attributes:
      log_init: ``[S]`` log initial state probabilities :math:`\\log \\pi`.
      log_trans: ``[S, S]`` log transition probabilities, rows sum to one in probability.
      log_emit: ``[S, V]`` log emission probabilities.
    """

    log_init: Float[Array, " S"]
    log_trans: Float[Array, "S S"]
    log_emit: Float[Array, "S V"]

    @property
    def num_states(self) -> int:
        return int(self.log_emit.shape[0])

    @property
    def vocab_size(self) -> int:
        return int(self.log_emit.shape[1])


def random_hmm(*, key: jax.Array, num_states: int = 16, vocab_size: int = 256,
               zipf_exponent: float = 1.1, concentration: float = 0.1) -> HMM:
    r"""Draw a random HMM language.

    .. math::
        A_{s\cdot} \sim \mathrm{Dirichlet}(c\,\mathbf 1_S), \qquad
        E_{s, \sigma_s(r)} \propto r^{-a}, \quad r = 1..V,\ \sigma_s \text{ a random permutation},
        \qquad \pi = \mathrm{Dirichlet}(\mathbf 1_S).

    Args:
      key: PRNG key (the same key gives the same language).
      num_states: ``S >= 1``.
      vocab_size: ``V >= 2``.
      zipf_exponent: :math:`a > 0`; larger is more peaked emissions.
      concentration: :math:`c > 0`; smaller gives sparser, more predictable transitions.

    Example:
      >>> hmm = random_hmm(key=jax.random.key(0), num_states=3, vocab_size=5)
      >>> hmm.log_emit.shape
      (3, 5)
    """
    num_states = check_positive_int(num_states, name="num_states")
    vocab_size = check_positive_int(vocab_size, name="vocab_size")
    if vocab_size < 2:
        raise ValueError(f"vocab_size: must be an integer >= 2, got {vocab_size!r}")
    a = check_positive_float(zipf_exponent, name="zipf_exponent")
    c = check_positive_float(concentration, name="concentration")
    k_init, k_trans, k_perm = jax.random.split(key, 3)
    init = jax.random.dirichlet(k_init, jnp.ones((num_states,)))
    trans = jax.random.dirichlet(k_trans, jnp.full((num_states,), c), (num_states,))
    zipf_V = jnp.arange(1, vocab_size + 1, dtype=jnp.float32) ** (-a)
    zipf_V = zipf_V / jnp.sum(zipf_V)
    perms_SV = jax.vmap(lambda k: jax.random.permutation(k, vocab_size))(
        jax.random.split(k_perm, num_states))
    emit_SV = jnp.zeros((num_states, vocab_size)).at[
        jnp.arange(num_states)[:, None], perms_SV].set(zipf_V[None, :])
    tiny = jnp.finfo(jnp.float32).tiny  # Dirichlet draws with small c can underflow to zero
    return HMM(jnp.log(jnp.maximum(init, tiny)), jnp.log(jnp.maximum(trans, tiny)),
               jnp.log(emit_SV))


def sample_hmm(hmm: HMM, *, key: jax.Array, num_sequences: int,
               length: int) -> Int[Array, "B L"]:
    """Sample ``num_sequences`` token sequences of ``length`` tokens (int32 ``[B, L]``)."""
    num_sequences = check_positive_int(num_sequences, name="num_sequences")
    length = check_positive_int(length, name="length")
    k0, key = jax.random.split(key)
    z0 = jax.random.categorical(k0, hmm.log_init, shape=(num_sequences,))

    def step(z_B, k):
        k_x, k_z = jax.random.split(k)
        x_B = jax.random.categorical(k_x, hmm.log_emit[z_B])
        z_next = jax.random.categorical(k_z, hmm.log_trans[z_B])
        return z_next, x_B

    _, x_LB = jax.lax.scan(step, z0, jax.random.split(key, length))
    return x_LB.T.astype(jnp.int32)


def _forward_log_beliefs(hmm: HMM, tokens_BL: Array) -> Array:
    """``log alpha_t`` ``[B, L, S]``: log p(z_t | x_<t) for every position."""
    tokens_BL = jnp.asarray(tokens_BL)

    def step(log_alpha_BS, x_B):
        log_f_BS = log_alpha_BS + hmm.log_emit[:, x_B].T  # joint with the observed token
        log_f_BS = log_f_BS - jax.nn.logsumexp(log_f_BS, axis=-1, keepdims=True)
        nxt_BS = jax.nn.logsumexp(log_f_BS[:, :, None] + hmm.log_trans[None], axis=1)
        return nxt_BS, log_alpha_BS

    init_BS = jnp.broadcast_to(hmm.log_init, (tokens_BL.shape[0], hmm.num_states))
    _, log_alpha_LBS = jax.lax.scan(step, init_BS, tokens_BL.T)
    return jnp.moveaxis(log_alpha_LBS, 0, 1)


def _check_tokens(hmm: HMM, tokens) -> None:
    shape = jnp.shape(tokens)
    if len(shape) != 2:
        raise ValueError(f"tokens: must have shape [B, L], got {shape}")
    if not jnp.issubdtype(jnp.result_type(tokens), jnp.integer):
        raise ValueError(f"tokens: must be integer token ids, got {jnp.result_type(tokens)}")


def predictive_log_probs(hmm: HMM, tokens: Int[Array, "B L"]) -> Float[Array, "B L V"]:
    r"""The exact predictive :math:`\log p^*(x_t = v \mid x_{<t})` ``[B, L, V]`` for every position.

    Position ``t`` conditions on ``tokens[:, :t]`` only (position 0 is the marginal of the first
    token); ``tokens[:, t]`` itself is not used for row ``t``.

    Example:
      >>> hmm = random_hmm(key=jax.random.key(0), num_states=2, vocab_size=3)
      >>> lp = predictive_log_probs(hmm, jnp.array([[0, 1, 2]]))
      >>> bool(jnp.allclose(jnp.exp(lp).sum(-1), 1.0, atol=1e-5))
      True
    """
    _check_tokens(hmm, tokens)
    log_alpha_BLS = _forward_log_beliefs(hmm, tokens)
    return jax.nn.logsumexp(log_alpha_BLS[..., None] + hmm.log_emit, axis=-2)


def sequence_log_prob(hmm: HMM, tokens: Int[Array, "B L"]) -> Float[Array, " B"]:
    r""":math:`\log p^*(x_{1:L}) = \sum_t \log p^*(x_t \mid x_{<t})` of each sequence ``[B]``."""
    lp_BLV = predictive_log_probs(hmm, tokens)
    return jnp.sum(jnp.take_along_axis(lp_BLV, jnp.asarray(tokens)[..., None], -1)[..., 0], -1)

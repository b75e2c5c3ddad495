r"""Language-model distillation through the compiled trainer and the chunked kernel.

A language model trains through the same :func:`bayeskd.training.fit` as every classifier: the
training rows are token sequences ``data["x"] [N, L]``, and the step's loss is an
:class:`LMObjective`, whose ``prior`` argument is the teacher. For inputs
:math:`x_{<L}` and targets :math:`x_{2:L}`, with :math:`\lambda` = ``label_weight``,

.. math::
    \ell = \frac{1}{N (L-1)} \sum_{n,t} (1 - \lambda)\,
           D\big(p_T(\cdot \mid x^n_{\le t}),\, p_\theta(\cdot \mid x^n_{\le t})\big)
           - \lambda \log p_\theta(x^n_{t+1} \mid x^n_{\le t}),

computed by :func:`bayeskd.losses.fused.fused_linear_distillation` from the student's final
hidden states and head, so the student's ``[tokens, V]`` logits are never materialised. ``D`` is
any divergence of :data:`bayeskd.losses.DIVERGENCES`. The teacher (the ``prior``) is one of

- :class:`HardLabels`: no teacher (``label_weight`` must be 1): the student trained on the
  sampled tokens alone, and sequence-level KD (Kim & Rush 2016) when the rows are the teacher's
  own samples;
- :class:`ModelLMTeacher`: a transformer evaluated inside the compiled step (online token-level
  KD); its hidden states and head enter the kernel directly;
- :class:`TableLMTeacher`: precomputed log-probabilities per training row and position (offline
  token-level KD), all ``V`` of them or only the top ``k`` with a tail treatment
  (:func:`topk_log_probs`); the batch's rows are expanded to ``[tokens, V]`` teacher
  log-probabilities (a teacher table, not a student activation) and enter the kernel with an
  identity head.

With ``on_policy = f > 0`` (GKD, Agarwal et al. 2024) the first ``round(f B)`` sequences of each
batch are replaced by the student's own continuations of their first ``prompt_len`` tokens,
sampled by the compiled key-value-cache sampler (:func:`sample_lm`) at ``sample_temperature``
(separate from the distillation ``temperature``) and scored by a :class:`ModelLMTeacher`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jaxtyping import Array, Float, Int

from bayeskd.losses.divergences import DIVERGENCES, log_mean_probs
from bayeskd.losses.fused import IMPLEMENTATIONS, fused_linear_distillation
from bayeskd.models import dropout_rate
from bayeskd.validate import (
    check_choice,
    check_num_samples,
    check_positive_int,
    check_temperature,
    check_unit_interval,
)

TAILS = ("zero", "uniform", "dirichlet")
#: log-probability standing for zero (exp underflows to exactly 0 in float32; finite, so the
#: identity-head matmul of the kernel never meets 0 * inf).
LOG_ZERO = -1e4

__all__ = ["TAILS", "HardLabels", "LMObjective", "ModelLMTeacher", "TableLMTeacher",
           "lm_log_probs", "sample_lm", "topk_log_probs", "expand_topk", "token_metrics"]


# --------------------------------------------------------------------------------------------------
# Teachers (the `prior` argument of the trainer).
# --------------------------------------------------------------------------------------------------


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class HardLabels:
    """No teacher: the student learns from the tokens of its rows (``label_weight = 1``)."""


class ModelLMTeacher:
    r"""A transformer teacher evaluated in the compiled step; ``params`` are program arguments.

    The teacher may be a posterior predictive, the mean in probability space over draws
    :math:`\theta_s`, :math:`\log \bar p = \log \frac1S \sum_s p(\cdot\mid x, \theta_s)`:

    - ``members > 0``: ``params`` are stacked ``[M, ...]`` (an ensemble or posterior sample);
    - ``samples > 0``: one network with dropout, ``S = samples`` dropout masks drawn from the
      ``key`` of each call (MC dropout, Gal & Ghahramani 2016: each mask is one draw of a
      Bernoulli variational posterior).

    Either predictive is given to the kernel as dense log-probabilities with an identity head.
    """

    def __init__(self, graphdef: Any, params: Any, members: int = 0, samples: int = 0):
        self.graphdef, self.params, self.members, self.samples = graphdef, params, members, samples
        if members and samples:
            raise ValueError(f"samples: MC dropout draws masks of one network; give members or "
                             f"samples, not both (got {members} and {samples})")
        if samples:
            check_num_samples(samples, name="samples")
            dropout_rate(nnx.merge(graphdef, params))  # raises without dropout

    @classmethod
    def from_module(cls, module: nnx.Module) -> ModelLMTeacher:
        graphdef, params = nnx.split(module, nnx.Param)
        return cls(graphdef, params)

    @property
    def draws(self) -> int:
        """Networks or masks averaged by the predictive (1: a single deterministic network)."""
        return self.members or self.samples or 1

    def _one(self, params, tokens_BT, key=None):
        model = nnx.merge(self.graphdef, params)
        return model.hidden(tokens_BT, key=key), model.head_weight()

    def draw_log_probs(self, tokens_BT: Array, key: jax.Array | None = None) -> Array:
        """Log-probabilities ``[B*T, S, V]`` of every member or dropout mask (``S = draws``)."""
        if self.members:
            h_S, w_S = jax.vmap(lambda p: self._one(p, tokens_BT))(self.params)
        elif self.samples:
            if key is None:
                raise ValueError("key: an MC-dropout teacher (samples > 0) needs a key for its "
                                 "dropout masks")
            keys = jax.random.split(key, self.samples)
            h_S, w_S = jax.vmap(lambda k: self._one(self.params, tokens_BT, k))(keys)
        else:
            h, w = self._one(self.params, tokens_BT)
            h_S, w_S = h[None], w[None]
        logits_SNV = jnp.einsum("snh,shv->snv", h_S.reshape(h_S.shape[0], -1, h_S.shape[-1]), w_S)
        return jax.nn.log_softmax(jnp.moveaxis(logits_SNV, 0, 1), axis=-1)

    def head_inputs(self, tokens_BT: Array, key: jax.Array | None = None) -> tuple[Array, Array]:
        """``(h [B*T, Ht], w [Ht, V])`` with ``h @ w`` the teacher's logits (or log-probs)."""
        if self.draws == 1:
            h_BTH, w_HV = self._one(self.params, tokens_BT)
            return h_BTH.reshape(-1, h_BTH.shape[-1]), w_HV
        logp_NV = log_mean_probs(self.draw_log_probs(tokens_BT, key))
        return logp_NV, jnp.eye(logp_NV.shape[-1], dtype=logp_NV.dtype)

    def tree_flatten(self):
        return (self.params,), (self.graphdef, self.members, self.samples)

    @classmethod
    def tree_unflatten(cls, aux, children):
        out = cls.__new__(cls)
        out.graphdef, out.members, out.samples = aux
        out.params = children[0]
        return out


jax.tree_util.register_pytree_node_class(ModelLMTeacher)


@functools.partial(jax.tree_util.register_dataclass,
                   data_fields=["log_probs", "indices", "tail_log_prior"],
                   meta_fields=["tail", "vocab_size"])
@dataclasses.dataclass(frozen=True)
class TableLMTeacher:
    """Offline teacher outputs per training row: ``log_probs [N, T, k]`` at ``indices [N, T, k]``.

    ``indices=None`` means all ``k = V`` tokens in order (the full distribution). The missing
    mass of a top-k table is handled by ``tail`` (see :func:`expand_topk`);
    ``tail_log_prior [V]`` is the Dirichlet tail's base measure (``tail="dirichlet"`` only).
    """

    log_probs: Any
    indices: Any = None
    tail_log_prior: Any = None
    tail: str = "uniform"
    vocab_size: int = 0

    def head_inputs(self, index_B: Array) -> tuple[Array, Array]:
        lp = jnp.asarray(self.log_probs)[index_B]
        if self.indices is None:
            logp_NV = lp.reshape(-1, lp.shape[-1]).astype(jnp.float32)
        else:
            idx = jnp.asarray(self.indices)[index_B]
            logp_NV = expand_topk(idx.reshape(-1, idx.shape[-1]), lp.reshape(-1, lp.shape[-1]),
                                  vocab_size=self.vocab_size, tail=self.tail,
                                  tail_log_prior=self.tail_log_prior)
        return logp_NV, jnp.eye(logp_NV.shape[-1], dtype=logp_NV.dtype)


# --------------------------------------------------------------------------------------------------
# Top-k tables and their tails.
# --------------------------------------------------------------------------------------------------


def topk_log_probs(log_probs: Float[Array, "... V"], k: int) -> tuple[Array, Array]:
    """The ``k`` largest log-probabilities and their token ids, ``([..., k], [..., k] int32)``."""
    k = check_positive_int(k, name="top_k")
    v = log_probs.shape[-1]
    if k > v:
        raise ValueError(f"top_k: must be at most the vocabulary size {v}, got {k}")
    vals, idx = jax.lax.top_k(log_probs, k)
    return vals, idx.astype(jnp.int32)


def expand_topk(indices: Int[Array, "N k"], log_probs: Float[Array, "N k"], *, vocab_size: int,
                tail: str, tail_log_prior: Float[Array, " V"] | None = None) -> Float[Array, "N V"]:
    r"""Dense log-probabilities ``[N, V]`` from a top-k table, with the missing mass ``m`` handled.

    With kept probabilities :math:`p_v, v \in K` and :math:`m = 1 - \sum_{v\in K} p_v`:

    - ``zero``: :math:`q_v = p_v / (1 - m)` on :math:`K`, 0 elsewhere (renormalised;
      DistillKit's reading);
    - ``uniform``: :math:`q_v = p_v` on :math:`K`, :math:`m / (V - k)` elsewhere;
    - ``dirichlet``: :math:`q_v = p_v` on :math:`K`, :math:`m\, a_v / \sum_{u \notin K} a_u`
      elsewhere: the tail is the mean of a Dirichlet whose base measure :math:`a`
      (``tail_log_prior``, e.g. smoothed unigram frequencies of the corpus) is restricted to
      the tokens the teacher did not report.

    With ``k = V`` all three equal the full distribution.
    """
    check_choice(tail, TAILS, name="tail")
    n, k = log_probs.shape
    log_probs = log_probs.astype(jnp.float32)
    rows = jnp.arange(n)[:, None]
    kept_NV = jnp.zeros((n, vocab_size), bool).at[rows, indices].set(True)
    log_kept = jax.nn.logsumexp(log_probs, axis=-1, keepdims=True)
    if tail == "zero" or k == vocab_size:
        base = jnp.full((n, vocab_size), LOG_ZERO, jnp.float32)
        shift = log_kept if tail == "zero" else 0.0
        return base.at[rows, indices].set(log_probs - shift)
    log_m = jnp.log(jnp.clip(-jnp.expm1(log_kept), jnp.finfo(jnp.float32).tiny))
    if tail == "uniform":
        tail_NV = jnp.broadcast_to(log_m - jnp.log(vocab_size - k), (n, vocab_size))
    else:
        if tail_log_prior is None:
            raise ValueError("tail_log_prior: required for tail='dirichlet' (a [V] base measure)")
        a_NV = jnp.where(kept_NV, -jnp.inf, jnp.asarray(tail_log_prior, jnp.float32)[None])
        tail_NV = log_m + a_NV - jax.nn.logsumexp(a_NV, axis=-1, keepdims=True)
    return jnp.where(kept_NV, 0.0, tail_NV).at[rows, indices].set(log_probs)


# --------------------------------------------------------------------------------------------------
# Sampling with a key-value cache.
# --------------------------------------------------------------------------------------------------


@functools.partial(jax.jit, static_argnames=("graphdef", "length", "use_cache"))
def sample_lm(graphdef, params, prompt: Int[Array, "B P"], *, key: jax.Array, length: int,
              temperature: float | Array = 1.0, use_cache: bool = True) -> Int[Array, "B L"]:
    r"""Continue ``prompt`` to ``length`` tokens by ancestral sampling, in one compiled scan.

    :math:`x_{t+1} \sim \mathrm{softmax}(z_t / \tau)` with :math:`\tau` = ``temperature`` (the
    *sampling* temperature, not the distillation one). With ``use_cache`` each position is one
    :meth:`~bayeskd.models.transformer.Transformer.decode_step` against a key-value cache (cost
    linear in ``length`` per token); without it every step reruns the full causal model on the
    sequence so far (the reference the cache is tested against: same key, same tokens). The
    key of position ``t`` is ``fold_in(key, t)``.
    """
    model = nnx.merge(graphdef, params)
    b, p = prompt.shape
    tokens = jnp.zeros((b, length), jnp.int32).at[:, :p].set(prompt)
    w_HV = model.head_weight()

    def choose(t, tokens, logits_BV):
        nxt = jax.random.categorical(jax.random.fold_in(key, t), logits_BV / temperature)
        keep = t + 1 < p
        return tokens.at[:, t + 1].set(jnp.where(keep, tokens[:, t + 1], nxt.astype(jnp.int32)))

    if use_cache:
        def step(carry, t):
            tokens, cache = carry
            h_BH, cache = model.decode_step(tokens[:, t], t, cache)
            return (choose(t, tokens, h_BH @ w_HV), cache), None

        carry = (tokens, model.init_cache(b, length))
        (tokens, _), _ = jax.lax.scan(step, carry, jnp.arange(length - 1))
        return tokens

    def step_full(tokens, t):
        h_BLH = model.hidden(tokens)
        h_BH = jax.lax.dynamic_index_in_dim(h_BLH, t, axis=1, keepdims=False)
        return choose(t, tokens, h_BH @ w_HV), None

    tokens, _ = jax.lax.scan(step_full, tokens, jnp.arange(length - 1))
    return tokens


# --------------------------------------------------------------------------------------------------
# The objective.
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LMObjective:
    """The loss of one language-model step (hashable: a static argument of the compiled chunk).

    Attributes:
      divergence: an entry of :data:`bayeskd.losses.DIVERGENCES`.
      temperature: the distillation temperature :math:`T` (> 0).
      beta: JSD's :math:`\\beta \\in [0, 1]` (0: forward KL, 1: reverse KL, exactly, as in trl).
      lam: the skew KLs' mixing :math:`\\lambda \\in [0, 1]` (DistiLLM's default 0.1).
      label_weight: share of the hard-label cross-entropy in ``[0, 1]`` (1: no teacher).
      on_policy: GKD's fraction of each batch replaced by student samples, in ``[0, 1]``.
      prompt_len: tokens of each row kept as the prompt of an on-policy sample (>= 1).
      sample_temperature: the sampling temperature of on-policy samples (> 0).
      hidden_weight: weight of DistilBERT's cosine loss between the student's and a
        :class:`ModelLMTeacher`'s final hidden states (equal widths), in ``[0, 1]``.
      chunk_size: tokens per chunk of the kernel.
      implementation: ``"chunked"`` (the kernel) or ``"naive"`` (materialised logits).
    """

    divergence: str = "forward_kl"
    temperature: float = 1.0
    beta: float = 0.5
    lam: float = 0.1
    label_weight: float = 0.0
    on_policy: float = 0.0
    prompt_len: int = 1
    sample_temperature: float = 1.0
    hidden_weight: float = 0.0
    chunk_size: int = 256
    implementation: str = "chunked"

    def __post_init__(self):
        check_choice(self.divergence, DIVERGENCES, name="divergence")
        check_choice(self.implementation, IMPLEMENTATIONS, name="implementation")
        check_temperature(self.temperature)
        check_temperature(self.sample_temperature, name="sample_temperature")
        check_unit_interval(self.beta, name="beta")
        check_unit_interval(self.lam, name="lam")
        check_unit_interval(self.label_weight, name="label_weight")
        check_unit_interval(self.on_policy, name="on_policy")
        check_unit_interval(self.hidden_weight, name="hidden_weight")
        check_positive_int(self.prompt_len, name="prompt_len")
        check_positive_int(self.chunk_size, name="chunk_size")

    def check_data(self, data: dict, teacher) -> None:
        """Token rows ``[N, L]``, ``L >= 2``, and a teacher that fits them (before any work)."""
        x = np.asarray(data["x"])
        if x.ndim != 2 or not np.issubdtype(x.dtype, np.integer) or x.shape[1] < 2:
            raise ValueError(f"data['x']: must be integer token sequences [N, L] with L >= 2, "
                             f"got dtype {x.dtype} and shape {x.shape}")
        if isinstance(teacher, HardLabels) and self.label_weight != 1.0:
            raise ValueError(f"label_weight: must be 1 without a teacher (HardLabels), got "
                             f"{self.label_weight}")
        if self.on_policy > 0 and not isinstance(teacher, ModelLMTeacher):
            raise ValueError("on_policy: needs a teacher model (ModelLMTeacher) to score the "
                             "student's samples, not a table")
        if self.on_policy > 0 and self.prompt_len >= x.shape[1]:
            raise ValueError(f"prompt_len: must be shorter than the sequences ({x.shape[1]}), "
                             f"got {self.prompt_len}")
        if self.hidden_weight > 0 and not (isinstance(teacher, ModelLMTeacher)
                                           and teacher.draws == 1):
            raise ValueError("hidden_weight: the cosine loss needs one teacher model "
                             "(ModelLMTeacher without members or dropout samples)")
        if isinstance(teacher, TableLMTeacher):
            shape = np.shape(teacher.log_probs)
            if shape[:2] != (x.shape[0], x.shape[1] - 1):
                raise ValueError(f"teacher: table has shape {shape}; expected [N, L-1, k] = "
                                 f"[{x.shape[0]}, {x.shape[1] - 1}, k] for these rows")

    def __call__(self, graphdef, params, batch: dict, teacher, key: jax.Array) -> Array:
        tokens = batch["x"]
        if self.on_policy > 0:
            n_on = int(round(self.on_policy * tokens.shape[0]))
            if n_on:
                own = sample_lm(graphdef, jax.lax.stop_gradient(params),
                                tokens[:n_on, : self.prompt_len], key=key,
                                length=tokens.shape[1], temperature=self.sample_temperature)
                tokens = tokens.at[:n_on].set(own)
        inputs, targets = tokens[:, :-1], tokens[:, 1:]
        model = nnx.merge(graphdef, params)
        # a model built with dropout trains with it (keyed call); the teacher's masks, if it is
        # an MC-dropout teacher, use an independent key
        k_drop, k_teacher = (None, None) if key is None else (
            jax.random.fold_in(key, 1), jax.random.fold_in(key, 2))
        h_BTH = model.hidden(inputs, key=k_drop)
        h_s, w_s = h_BTH.reshape(-1, h_BTH.shape[-1]), model.head_weight()
        if isinstance(teacher, HardLabels):
            h_t, w_t = jax.lax.stop_gradient(h_s), jax.lax.stop_gradient(w_s)
        elif isinstance(teacher, TableLMTeacher):
            h_t, w_t = teacher.head_inputs(batch["index"])
        else:
            h_t, w_t = teacher.head_inputs(inputs, k_teacher)
        loss = fused_linear_distillation(
            h_s, w_s, jax.lax.stop_gradient(h_t), jax.lax.stop_gradient(w_t),
            divergence=self.divergence, temperature=self.temperature,
            beta=self.beta, lam=self.lam,
            labels=targets.reshape(-1), label_weight=self.label_weight,
            chunk_size=self.chunk_size, implementation=self.implementation)
        if self.hidden_weight > 0:
            loss = loss + self.hidden_weight * jnp.mean(cosine_distance(h_s, h_t))
        return loss


def cosine_distance(a: Float[Array, "N H"], b: Float[Array, "N H"]) -> Float[Array, " N"]:
    r""":math:`1 - \frac{a \cdot b}{\|a\|\|b\|}` per row (DistilBERT's :math:`L_{cos}`; the
    teacher side ``b`` is not differentiated)."""
    b = jax.lax.stop_gradient(b)
    num = jnp.sum(a * b, -1)
    den = jnp.sqrt(jnp.sum(a * a, -1) * jnp.sum(b * b, -1)) + 1e-8
    return 1.0 - num / den


# --------------------------------------------------------------------------------------------------
# Evaluation.
# --------------------------------------------------------------------------------------------------


@functools.partial(jax.jit, static_argnames=("graphdef",))
def _log_probs_batches(params, tb, *, graphdef):
    model = nnx.merge(graphdef, params)
    return jax.lax.map(lambda t: jax.nn.log_softmax(model(t[:, :-1]), axis=-1), tb)


def lm_log_probs(graphdef, params, tokens: Int[Array, "N L"], *,
                 batch_size: int = 64) -> Float[Array, "N L-1 V"]:
    """The model's next-token log-probabilities at positions ``0..L-2`` (materialised, batched)."""
    tokens = jnp.asarray(tokens, jnp.int32)
    n = tokens.shape[0]
    bs = min(batch_size, n)
    pad = (-n) % bs
    tp = jnp.concatenate([tokens, jnp.zeros((pad, tokens.shape[1]), jnp.int32)]) if pad else tokens
    out = _log_probs_batches(params, tp.reshape(-1, bs, tokens.shape[1]), graphdef=graphdef)
    return out.reshape(-1, *out.shape[2:])[:n]


def token_metrics(log_probs: Float[Array, "N T V"], targets: Int[Array, "N T"],
                  true_log_probs: Float[Array, "N T V"] | None = None) -> dict[str, float]:
    r"""Per-token NLL (nats), bits per token and, given the true predictive, :math:`\mathrm{KL}(p^*\|q)`.

    .. math::
        \mathrm{NLL} = -\frac{1}{NT}\sum \log q(x_{t+1}\mid x_{\le t}), \quad
        \mathrm{bits} = \mathrm{NLL} / \ln 2, \quad
        \mathrm{KL} = \frac{1}{NT}\sum_{n,t}\sum_v p^*_v (\log p^*_v - \log q_v).
    """
    lp = jnp.asarray(log_probs, jnp.float32)
    nll = -float(jnp.mean(jnp.take_along_axis(lp, jnp.asarray(targets)[..., None], -1)))
    out = {"nll": nll, "bits_per_token": nll / math.log(2.0)}
    if true_log_probs is not None:
        tl = jnp.asarray(true_log_probs, jnp.float32)
        out["kl_true"] = float(jnp.mean(jnp.sum(jnp.exp(tl) * (tl - lp), -1)))
    return out

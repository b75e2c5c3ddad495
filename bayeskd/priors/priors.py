r"""Every regulariser as a prior, behind one interface.

bayeskd trains every student on one objective, in nats per example:

.. math::
    L(\theta) = w_{\mathrm{lik}} \cdot \frac{1}{|B|}\sum_{i\in B} -\log p(y_i\mid x_i,\theta)
              + \sum_k R_k(\theta, z_B, B)

A prior contributes its term :math:`R_k` and may take a share of the likelihood's weight
(:math:`w_{\mathrm{lik}} = 1 - \sum_k a_k`): label smoothing and KD *mix* a second target into the
labels, so their weights ``epsilon`` and ``alpha`` are fractions of one unit of data evidence.

=====================  ======================================================  ==========================
prior                  term :math:`R(\theta, z, B)`                            Bayesian reading
=====================  ======================================================  ==========================
``GaussianPrior``      :math:`\tfrac{\lambda}{2}\|\theta\|^2`                  :math:`\mathcal N(0,\sigma^2)`
                                                                               on weights, :math:`\lambda
                                                                               = 1/(\sigma^2 N)`
``LabelSmoothing``     :math:`\epsilon\, \mathrm{CE}(u, p_\theta)`, u uniform  uniform Dirichlet prior on
                                                                               each example's class probs
``TeacherPrior``       :math:`\alpha T^2 \mathrm{KL}(p_t^{(T)}\|p_\theta^{(T)})`  Dirichlet prior centred on
                                                                               the teacher (KD)
``EnsembleTeacher``    as above with :math:`p_t = \frac1M\sum_m p_m`           posterior-predictive
                                                                               teacher
(dropout)              a model option, no term                                 Bernoulli variational
                                                                               posterior (Gal 2016)
=====================  ======================================================  ==========================

Priors are JAX pytrees (their hyperparameters are leaves, so a sweep can ``vmap`` over them) with
``__call__(params, logits, batch) -> scalar`` and ``likelihood_weight``; the trainer never asks
which prior it holds. ``batch`` is a dict with ``x``, ``y``, ``label_mask`` (1 for labelled
examples) and, for teacher priors, ``teacher_logp`` ``[B, K]`` or ``teacher_member_logp``
``[B, M, K]``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp

from bayeskd.losses.divergences import (
    as_float,
    kl_divergence,
    log_mean_probs,
)
from bayeskd.validate import check_temperature, check_unit_interval

Batch = dict[str, jax.Array]


def _masked_mean(values: jax.Array, mask: jax.Array) -> jax.Array:
    return jnp.sum(values * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def _pytree(cls):
    """A frozen dataclass whose fields are pytree leaves (so priors can be vmapped over)."""
    cls = dataclasses.dataclass(frozen=True)(cls)
    fields = [f.name for f in dataclasses.fields(cls)]
    return jax.tree_util.register_dataclass(cls, data_fields=fields, meta_fields=[])


@_pytree
class NoPrior:
    """The flat prior: maximum likelihood."""

    @property
    def likelihood_weight(self) -> float:
        return 1.0

    def __call__(self, params: Any, logits: jax.Array, batch: Batch) -> jax.Array:
        return jnp.zeros((), jnp.float32)


@_pytree
class GaussianPrior:
    r"""Isotropic Gaussian prior on every weight: weight decay.

    .. math::
        R(\theta) = \frac{\lambda}{2}\|\theta\|_2^2, \qquad
        -\frac1N \log \mathcal N(\theta; 0, \sigma^2 I) = \frac{\|\theta\|^2}{2\sigma^2 N} + c
        \;\Rightarrow\; \lambda = \frac{1}{\sigma^2 N}.

    Build it from a prior standard deviation with :meth:`from_sigma`.
    """

    weight_decay: float = 1e-3

    def __post_init__(self):
        if not isinstance(self.weight_decay, jax.Array | jax.core.Tracer):
            if not math.isfinite(float(self.weight_decay)) or float(self.weight_decay) < 0:
                raise ValueError(
                    f"weight_decay: must be a finite number >= 0, got {self.weight_decay!r}"
                )

    @classmethod
    def from_sigma(cls, sigma: float, num_data: int) -> GaussianPrior:
        """The prior :math:`\\mathcal N(0, \\sigma^2)` for a data set of ``num_data`` examples."""
        if not (math.isfinite(sigma) and sigma > 0):
            raise ValueError(f"sigma: must be a finite number > 0, got {sigma!r}")
        if num_data < 1:
            raise ValueError(f"num_data: must be >= 1, got {num_data!r}")
        return cls(weight_decay=1.0 / (sigma**2 * num_data))

    @property
    def likelihood_weight(self) -> float:
        return 1.0

    def __call__(self, params: Any, logits: jax.Array, batch: Batch) -> jax.Array:
        sq = sum(jnp.sum(jnp.square(p)) for p in jax.tree.leaves(params))
        return 0.5 * self.weight_decay * sq


@_pytree
class LabelSmoothing:
    r"""Label smoothing as a weak, uniform prior on each example's class probabilities.

    .. math::
        (1-\epsilon)\,\mathrm{CE}(y, p_\theta) + \epsilon\, \mathrm{CE}(u, p_\theta),
        \qquad u_k = 1/K,

    is cross-entropy against the target :math:`(1-\epsilon)\,\mathrm{onehot}(y) + \epsilon u`,
    the posterior mean of a Dirichlet-categorical model with a uniform Dirichlet prior (Müller et
    al. 2019; Zhang & Sabuncu 2020). Applied to labelled examples only.
    """

    epsilon: float = 0.1

    def __post_init__(self):
        check_unit_interval(self.epsilon, name="epsilon")

    @property
    def likelihood_weight(self) -> float:
        return 1.0 - self.epsilon

    def __call__(self, params: Any, logits: jax.Array, batch: Batch) -> jax.Array:
        logp = jax.nn.log_softmax(as_float(logits), axis=-1)
        ce_uniform = -jnp.mean(logp, axis=-1)
        return self.epsilon * _masked_mean(ce_uniform, batch["label_mask"])


@_pytree
class TeacherPrior:
    r"""Knowledge distillation: a data-driven Dirichlet prior centred on the teacher.

    .. math::
        R = \alpha\, T^2\, \frac{1}{|B|}\sum_i
            \mathrm{KL}\big(p_t^{(T)}(\cdot\mid x_i)\,\|\,p_\theta^{(T)}(\cdot\mid x_i)\big)

    Reads ``batch["teacher_logp"]`` ``[B, K]`` (teacher log-probabilities, cached once for the
    transfer set; tempering log-probabilities equals tempering logits). At :math:`T = 1` the
    gradient of :math:`(1-\alpha)\mathrm{CE}(y) + \alpha\mathrm{KL}(p_t\|p_\theta)` in the logits
    equals that of cross-entropy against :math:`(1-\alpha)\mathrm{onehot}(y) + \alpha p_t`, the
    posterior mean of a Dirichlet-categorical model whose prior is centred on the teacher
    (Fang et al. 2024; checked in ``tests/priors``). Averaged over every example in the batch,
    labelled or not, so unlabeled transfer sets distill as well.
    """

    alpha: float = 0.9
    temperature: float = 4.0

    def __post_init__(self):
        check_unit_interval(self.alpha, name="alpha")
        check_temperature(self.temperature)

    @property
    def likelihood_weight(self) -> float:
        return 1.0 - self.alpha

    def teacher_log_probs(self, batch: Batch) -> jax.Array:
        return batch["teacher_logp"]

    def __call__(self, params: Any, logits: jax.Array, batch: Batch) -> jax.Array:
        kl = kl_divergence(self.teacher_log_probs(batch), logits, temperature=self.temperature)
        return self.alpha * jnp.mean(kl)


@_pytree
class EnsembleTeacherPrior(TeacherPrior):
    r"""KD from an ensemble or posterior sample, averaged in *probability* space.

    .. math::
        p_t = \frac1M \sum_{m=1}^M p_m, \qquad
        R = \alpha T^2 \mathrm{KL}\big(\mathrm{temper}(p_t, T) \,\|\, p_\theta^{(T)}\big)

    Reads ``batch["teacher_member_logp"]`` ``[B, M, K]``. Averaging logits instead would give a
    sharper, different teacher; the posterior predictive averages probabilities.
    """

    def teacher_log_probs(self, batch: Batch) -> jax.Array:
        return log_mean_probs(batch["teacher_member_logp"])


@_pytree
class SumPrior:
    """The sum of several priors; their likelihood shares add (and must total at most 1)."""

    priors: tuple

    def __post_init__(self):
        shares = [1.0 - p.likelihood_weight for p in self.priors]
        if all(isinstance(s, float) for s in shares) and sum(shares) > 1.0 + 1e-9:
            raise ValueError(
                f"priors: the mixing weights (alpha, epsilon) sum to {sum(shares):.3g}; must be <= 1"
            )

    @property
    def likelihood_weight(self):
        return 1.0 - sum(1.0 - p.likelihood_weight for p in self.priors)

    def __call__(self, params: Any, logits: jax.Array, batch: Batch) -> jax.Array:
        return sum((p(params, logits, batch) for p in self.priors), jnp.zeros((), jnp.float32))


def objective(
    log_likelihood_terms: jax.Array, prior, params: Any, logits: jax.Array, batch: Batch
) -> jax.Array:
    r"""The MAP objective in nats per example: weighted mean NLL of labelled examples plus the prior.

    Args:
      log_likelihood_terms: ``[B]`` per-example negative log-likelihoods ``-log p(y_i|x_i)``.
      prior: any prior above.
      params: the student's parameters (for weight-space priors).
      logits: ``[B, K]`` student logits.
      batch: the batch dict (``label_mask`` marks labelled examples).
    """
    nll = _masked_mean(log_likelihood_terms, batch["label_mask"])
    return prior.likelihood_weight * nll + prior(params, logits, batch)

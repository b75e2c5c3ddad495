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
                                                                               the teacher (KD); with
                                                                               ``from_members``
                                                                               :math:`p_t = \frac1M\sum_m
                                                                               p_m`: a posterior-
                                                                               predictive teacher
(dropout)              a model option, no term                                 Bernoulli variational
                                                                               posterior (Gal 2016)
(augmentation)         a trainer option (``fit(augment=...)``), no term:       invariance prior: the
                       the likelihood of fresh views :math:`g(x)`              class does not change
                                                                               under :math:`g`
``TeacherPrior``       the teacher evaluated inside the step on the same view  teacher-centred prior
with ``teacher=``      (function matching, Beyer et al. 2022)                  where the data says
                                                                               nothing: on new views
=====================  ======================================================  ==========================

A teacher table may also come from teachers that never saw the row they label
(:func:`bayeskd.training.out_of_fold_logits`): an estimate of the leave-one-fold-out predictive.

Priors are JAX pytrees (their hyperparameters are leaves, so a sweep can ``vmap`` over them) with
``__call__(params, logits, batch) -> scalar`` and ``likelihood_weight``; the trainer never asks
which prior it holds. ``batch`` is a dict with ``x``, ``y``, ``label_mask`` (1 for labelled
examples) and ``index`` (each example's row in the training arrays), which a teacher table is
looked up by.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from bayeskd.losses.divergences import DIVERGENCES, as_float, divergence, log_mean_probs
from bayeskd.validate import check_choice, check_temperature, check_unit_interval

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


class ModelTeacher:
    r"""A network as a teacher evaluated inside the compiled step: ``x -> logits``.

    ``graphdef`` is static (part of the compiled program); ``params`` are pytree leaves, so a
    teacher's weights are arguments of the program rather than constants baked into it, and a
    stack of teachers ``[M, ...]`` can be vmapped with the prior (``prior_axis=0``).
    """

    def __init__(self, graphdef: Any, params: Any):
        self.graphdef, self.params = graphdef, params

    def __call__(self, x: jax.Array) -> jax.Array:
        from flax import nnx

        return nnx.merge(self.graphdef, self.params)(x)

    @classmethod
    def from_module(cls, module) -> ModelTeacher:
        """The teacher of an NNX module, in eval mode (running batch statistics, no dropout).

        The module itself is left as it is: its eval-mode graph is taken from a copy.
        """
        from flax import nnx

        graphdef, params, rest = nnx.split(module, nnx.Param, ...)
        if not jax.tree.leaves(rest):
            return cls(graphdef, params)
        copy = nnx.clone(module)
        copy.eval()
        return cls(nnx.split(copy)[0], nnx.state(copy))

    def tree_flatten(self):
        return (self.params,), self.graphdef

    @classmethod
    def tree_unflatten(cls, graphdef, children):
        return cls(graphdef, children[0])


jax.tree_util.register_pytree_node_class(ModelTeacher)


class _StaticTeacher:
    """A plain callable ``x -> logits`` held as static data of the prior (part of the program)."""

    def __init__(self, fn: Callable):
        self.fn = fn

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.fn(x)

    def __eq__(self, other):
        return isinstance(other, _StaticTeacher) and other.fn is self.fn

    def __hash__(self):
        return hash(self.fn)

    def __repr__(self):
        return f"{getattr(self.fn, '__name__', type(self.fn).__name__)}"

    def tree_flatten(self):
        return (), self.fn

    @classmethod
    def tree_unflatten(cls, fn, children):
        return cls(fn)


jax.tree_util.register_pytree_node_class(_StaticTeacher)


@functools.partial(jax.tree_util.register_dataclass,
                   data_fields=["alpha", "temperature", "beta", "lam", "table", "teacher"],
                   meta_fields=["divergence", "view"])
@dataclasses.dataclass(frozen=True)
class TeacherPrior:
    r"""Knowledge distillation: a data-driven Dirichlet prior centred on the teacher.

    .. math::
        R = \alpha\, \frac{1}{|B|}\sum_i
            D\big(p_t(\cdot\mid x_i),\, p_\theta(\cdot\mid x_i);\, T\big),
        \qquad D = T^2\,\mathrm{KL}\big(p_t^{(T)}\,\|\,p_\theta^{(T)}\big)
        \ \text{(the default, forward KL)}

    The teacher is one of

    - ``table``: log-probabilities ``[N, K]`` of the teacher on the training set, looked up by the
      row index ``batch["index"]`` that :func:`bayeskd.training.fit` adds to every batch (computed
      once before training; an ensemble or posterior teacher is averaged in probability space
      once, by :meth:`from_members`);
    - ``teacher``: a callable ``x -> logits`` evaluated inside the compiled step (function
      matching, online distillation; Beyer et al. 2022). A :class:`ModelTeacher` (or an NNX
      module, wrapped into one) keeps the weights as arguments of the program; any other callable
      is static. ``view`` chooses what the teacher reads: ``"same"`` (default), the student's own
      batch ``batch["x"]`` (with ``fit(..., augment=...)``, the same fresh augmented view:
      *consistent* teaching); ``"independent"``, the second view ``batch["x_alt"]`` that an
      augmenting trainer draws with its own key (*inconsistent* teaching, the control of Beyer
      et al.).

    At :math:`T = 1` with forward KL, the gradient of
    :math:`(1-\alpha)\mathrm{CE}(y) + \alpha\mathrm{KL}(p_t\|p_\theta)` in the logits equals that of
    cross-entropy against :math:`(1-\alpha)\mathrm{onehot}(y) + \alpha p_t`, the posterior mean of
    a Dirichlet-categorical model whose prior is centred on the teacher (Fang et al. 2024; checked
    in ``tests/priors``). Averaged over every example in the batch, labelled or not, so unlabeled
    transfer sets distill as well. ``divergence`` names an entry of the divergence table
    (:data:`bayeskd.losses.DIVERGENCES`: forward and reverse KL, JSD(``beta``), skew KL
    (``lam``), TVD), so the teacher-centred prior can be mode-covering or mode-seeking.
    """

    alpha: float = 0.9
    temperature: float = 4.0
    beta: float = 0.5
    lam: float = 0.1
    table: Any = None
    teacher: Any = None
    divergence: str = "forward_kl"
    view: str = "same"

    def __post_init__(self):
        if not _concrete(self.alpha, self.temperature):
            return  # rebuilt from leaves inside a transformation or a stacked sweep
        check_unit_interval(self.alpha, name="alpha")
        check_temperature(self.temperature)
        check_choice(self.divergence, DIVERGENCES, name="divergence")
        check_choice(self.view, VIEWS, name="view")
        if self.view != "same" and self.table is not None:
            raise ValueError(f"view: a teacher table is read by row, so only view='same' "
                             f"applies; got {self.view!r} (give teacher= to show another view)")
        if (self.table is None) == (self.teacher is None):
            raise ValueError("teacher: give exactly one of table= (log-probabilities [N, K]) or "
                             "teacher= (a callable x -> logits)")
        if self.table is not None and len(np.shape(self.table)) < 2:
            raise ValueError(f"table: teacher log-probabilities must have shape [N, K], got "
                             f"{np.shape(self.table)}")
        if self.teacher is not None and not isinstance(self.teacher, ModelTeacher | _StaticTeacher):
            from flax import nnx

            if isinstance(self.teacher, nnx.Module):
                t = ModelTeacher.from_module(self.teacher)
            elif callable(self.teacher):
                t = _StaticTeacher(self.teacher)
            else:
                raise ValueError(f"teacher: must be callable (x -> logits), got "
                                 f"{type(self.teacher).__name__}")
            object.__setattr__(self, "teacher", t)

    @classmethod
    def from_members(cls, member_logp: ArrayLike, *, member_axis: int = 0, **kwargs) -> TeacherPrior:
        r"""KD from an ensemble or posterior sample, averaged once in *probability* space.

        .. math:: \log p_t = \log \frac1M \sum_{m=1}^M p_m

        ``member_logp``: per-member log-probabilities or logits with the member axis at
        ``member_axis`` (``[M, N, K]`` by default). Averaging logits instead would give a sharper,
        different teacher; the posterior predictive averages probabilities.
        """
        logp = jnp.moveaxis(jnp.asarray(member_logp, jnp.float32), member_axis, -2)
        return cls(table=log_mean_probs(logp), **kwargs)

    @property
    def likelihood_weight(self) -> float:
        return 1.0 - self.alpha

    def check_data(self, *, num_examples: int, num_classes: int, stacked: bool = False,
                   augmented: bool = False, input_shape: tuple[int, ...] | None = None) -> None:
        """Before work: a table must have one row per training example and the student's
        classes; a callable teacher must give ``num_classes`` outputs on inputs of
        ``input_shape``; ``view="independent"`` needs an augmenting trainer (``augmented``)."""
        if self.view == "independent" and not augmented:
            raise ValueError("view: 'independent' shows the teacher a second augmented view, "
                             "which needs fit(..., augment=...)")
        if self.teacher is not None and input_shape is not None:
            _check_teacher_outputs(self.teacher, input_shape, num_classes, stacked=stacked)
        if self.table is None:
            return
        shape = tuple(np.shape(self.table))
        want = 3 if stacked else 2
        if len(shape) != want or shape[-2:] != (num_examples, num_classes):
            lead = "[M, N, K]" if stacked else "[N, K]"
            raise ValueError(f"table: teacher log-probabilities must have shape {lead} with "
                             f"N = {num_examples} training rows and K = {num_classes} classes "
                             f"like the student, got {shape}")
        t = np.asarray(self.table)
        if np.any(np.isnan(t)) or np.any(t == np.inf):
            raise ValueError("table: contains NaN or +inf log-probabilities (-inf, probability "
                             "zero, is allowed)")

    def teacher_logits(self, batch: Batch) -> jax.Array:
        """The teacher's logits (or log-probabilities) ``[B, K]`` on this batch."""
        if self.table is not None:
            return jnp.asarray(self.table)[batch["index"]]
        x = batch["x_alt"] if self.view == "independent" else batch["x"]
        return jax.lax.stop_gradient(self.teacher(x))

    def __call__(self, params: Any, logits: jax.Array, batch: Batch) -> jax.Array:
        teacher = self.teacher_logits(batch)
        if teacher.shape != logits.shape:
            raise ValueError(f"teacher: gives outputs of shape {teacher.shape} for a student "
                             f"whose logits have shape {logits.shape} (the classes must match)")
        d = divergence(teacher, logits, name=self.divergence, temperature=self.temperature,
                       beta=self.beta, lam=self.lam)
        return self.alpha * jnp.mean(d)


VIEWS = ("same", "independent")


def _check_teacher_outputs(teacher, input_shape: tuple[int, ...], num_classes: int, *,
                           stacked: bool) -> None:
    """A callable teacher must map ``[B, *input_shape]`` to logits ``[B, num_classes]``."""
    x = jax.ShapeDtypeStruct((2, *input_shape), jnp.float32)
    if stacked and jax.tree.leaves(teacher):
        out = jax.eval_shape(lambda t: jax.vmap(lambda tt: tt(x))(t), teacher)
        shape = tuple(out.shape[1:])
    else:
        shape = tuple(jax.eval_shape(teacher, x).shape)
    if shape != (2, num_classes):
        raise ValueError(f"teacher: must return logits [B, {num_classes}] (the student's "
                         f"classes) for inputs [B, {', '.join(map(str, input_shape))}], got "
                         f"shape {shape} for B = 2")


def _concrete(*values) -> bool:
    """All ``values`` are plain Python or numpy numbers (not arrays, tracers or placeholders)."""
    return all(isinstance(v, int | float | np.integer | np.floating) for v in values)


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

    def check_data(self, **kwargs) -> None:
        for p in self.priors:
            check = getattr(p, "check_data", None)
            if check is not None:
                check(**kwargs)

    def __call__(self, params: Any, logits: jax.Array, batch: Batch) -> jax.Array:
        return sum((p(params, logits, batch) for p in self.priors), jnp.zeros((), jnp.float32))


def stack_priors(priors) -> Any:
    """Stack equal-structure priors leaf by leaf into one prior with a leading member axis ``[M]``.

    Train member ``m`` under ``priors[m]`` with ``fit(..., prior=stack_priors(priors),
    prior_axis=0)``: a sweep over hyperparameters or teachers in one compiled run.
    """
    priors = list(priors)
    if not priors:
        raise ValueError("priors: need at least one prior to stack")
    return jax.tree.map(lambda *leaves: jnp.stack([jnp.asarray(x, jnp.float32) for x in leaves]),
                        *priors)


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

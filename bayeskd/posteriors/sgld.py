r"""SGLD, cyclical SGLD and Bayesian dark knowledge.

**SGLD** (Welling & Teh, "Bayesian Learning via Stochastic Gradient Langevin Dynamics", ICML 2011)
discretises Langevin dynamics for :math:`U(\theta) = -\log p(\theta) - \sum_n\log p(y_n\mid
x_n,\theta)` with a minibatch gradient:

.. math::
    \theta_{t+1} = \theta_t - \eta_t \nabla\hat U(\theta_t) + \sqrt{2\eta_t T}\,\xi_t,
    \qquad \xi_t\sim\mathcal N(0, I),

so that for small :math:`\eta` the iterates sample :math:`p(\theta\mid\mathcal D)^{1/T}`. The
trainer's objective is in nats *per example* (mean NLL plus :math:`\frac{\lambda}{2}\|\theta\|^2`
with :math:`\lambda = 1/(\sigma^2 N)`), so :math:`\nabla\hat U = N\,\nabla(\text{objective})`.

**Cyclical SGLD** (Zhang, Li, Zhang, Chen & Wilson, "Cyclical Stochastic Gradient MCMC for Bayesian
Deep Learning", ICLR 2020) uses the cosine cycle
:math:`\eta_k = \frac{\eta_0}2\big(\cos\frac{\pi\,\mathrm{mod}(k, L)}{L} + 1\big)`,
:math:`L = \lceil K/M\rceil` for :math:`M` cycles; the first fraction :math:`\beta` of each cycle
explores (no noise, plain gradient steps), the rest samples.

**Bayesian dark knowledge** (Korattikara, Rathod, Murphy & Welling, NeurIPS 2015) distills the
chain *online*: teacher (SGLD) and student steps alternate, and the student fits the current
sample's predictive on inputs :math:`x'` from a *student data generator*, so over time it fits the
running average over :math:`\theta_t`, the posterior predictive, without storing samples. The paper
names two generators: inputs drawn uniformly over the input domain (for low-dimensional problems,
such as its 2-D toy) and training inputs perturbed slightly (for high-dimensional ones):
:func:`uniform_inputs` and :func:`perturbed_inputs`.

The samplers are optax transforms that keep their PRNG key in their state
(:class:`SGLDState`) and run inside the compiled, member-vmapped trainer (parallel chains).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from bayeskd.losses import soft_cross_entropy, softmax_cross_entropy
from bayeskd.posteriors.base import ParamSamples
from bayeskd.priors.priors import objective
from bayeskd.training import (
    TrainConfig,
    TrainingDiverged,
    apply_model,
    batch_stats_graphdef,
    fit,
    init_members,
    with_batch_stats,
)
from bayeskd.validate import check_choice, check_positive_float, check_positive_int

__all__ = ["DarkKnowledge", "SGLDState", "bayesian_dark_knowledge", "chain_arms",
           "cyclical_step_size", "fit_sgld", "perturbed_inputs", "sgld", "uniform_inputs"]


class SGLDState(NamedTuple):
    """The Langevin sampler's state: step counter and its own PRNG key."""

    step: jax.Array
    key: jax.Array


def _param_digest(params) -> jax.Array:
    leaf = jax.tree.leaves(params)[0]
    return jnp.sum(jax.lax.bitcast_convert_type(jnp.asarray(leaf, jnp.float32), jnp.uint32))


def sgld(
    step_size: float | Callable[[jax.Array], jax.Array],
    *,
    num_data: int,
    key: jax.Array,
    temperature: float = 1.0,
    noise_on: Callable[[jax.Array], jax.Array] | None = None,
) -> optax.GradientTransformation:
    r"""The SGLD update as an optax transform: ``updates = -eta N g + sqrt(2 eta T) xi``.

    Args:
      step_size: :math:`\eta > 0`, or a schedule ``step -> eta`` (e.g. :func:`cyclical_step_size`).
      num_data: :math:`N`, the number of training examples (gradients are per-example means).
      key: the noise key. ``init`` folds in a digest of the initial parameters, so chains that
        start from different points draw independent noise when ``init`` is vmapped over members.
      temperature: :math:`T > 0` (1 samples the posterior; < 1 a "cold" posterior).
      noise_on: optional ``step -> bool``; noise is added only where it is true (cyclical SGLD's
        sampling stage).
    """
    schedule = step_size if callable(step_size) else None
    if schedule is None:
        eta0 = check_positive_float(step_size)
    check_positive_int(num_data, name="num_data")
    check_positive_float(temperature, name="temperature")

    def init(params) -> SGLDState:
        return SGLDState(jnp.zeros((), jnp.int32), jax.random.fold_in(key, _param_digest(params)))

    def update(grads, state: SGLDState, params=None):
        eta = schedule(state.step) if schedule is not None else eta0
        leaves, treedef = jax.tree.flatten(grads)
        key, sub = jax.random.split(state.key)
        noise_scale = jnp.sqrt(2.0 * eta * temperature)
        if noise_on is not None:
            noise_scale = jnp.where(noise_on(state.step), noise_scale, 0.0)
        keys = jax.random.split(sub, len(leaves))
        out = [-eta * num_data * g + noise_scale * jax.random.normal(k, g.shape, g.dtype)
               for g, k in zip(leaves, keys, strict=True)]
        return jax.tree.unflatten(treedef, out), SGLDState(state.step + 1, key)

    return optax.GradientTransformation(init, update)


def cyclical_step_size(step_size: float, *, total_steps: int, num_cycles: int) -> Callable:
    r"""The cSG-MCMC cosine cycle :math:`\eta_k = \frac{\eta_0}{2}(\cos(\pi\,\mathrm{mod}(k,L)/L)+1)`."""
    eta0 = check_positive_float(step_size)
    check_positive_int(total_steps, name="total_steps")
    check_positive_int(num_cycles, name="num_cycles")
    length = math.ceil(total_steps / num_cycles)
    return lambda k: 0.5 * eta0 * (jnp.cos(jnp.pi * (k % length) / length) + 1.0)


def fit_sgld(
    model_fn: Callable,
    data: dict,
    *,
    prior,
    key: jax.Array,
    step_size: float,
    num_steps: int,
    burn_in: int,
    thin: int,
    batch_size: int,
    num_chains: int = 1,
    temperature: float = 1.0,
    num_cycles: int | None = None,
    exploration: float = 0.8,
    init_params: Any = None,
    progress: bool | None = None,
    augment: Callable | None = None,
) -> ParamSamples:
    r"""Run ``num_chains`` parallel SGLD chains (or cyclical SGLD) and keep thinned samples.

    Args:
      prior: the weight prior of the objective (a :class:`bayeskd.priors.GaussianPrior` with
        ``weight_decay = 1/(sigma^2 N)`` targets the ``N(0, sigma^2)`` posterior).
      step_size: :math:`\eta_0 > 0`.
      num_steps: total Langevin steps per chain.
      burn_in: steps discarded before the first kept sample.
      thin: steps between kept samples.
      num_cycles: ``None`` for plain SGLD; ``M >= 1`` for cyclical SGLD with ``M`` cycles, keeping
        samples only in each cycle's sampling stage (the last ``1 - exploration`` of it).
      temperature: the posterior temperature :math:`T > 0`: the noise is scaled by
        :math:`\sqrt T`, so the chain samples :math:`p_T(\theta\mid\mathcal D) \propto
        \exp(-U(\theta)/T)`, the posterior tempered as a whole (likelihood and prior:
        Wenzel et al. 2020's "cold posterior" for :math:`T < 1`). :math:`T = 1` is the Bayes
        posterior; :math:`T \to 0` approaches noisy gradient descent to a mode.
      init_params: optional stacked ``[num_chains, ...]`` start (e.g. MAP); default random init.
      augment: optional augmentation ``(key, x) -> x'`` applied to every minibatch
        (:mod:`bayeskd.data.augment`): the likelihood is then that of fresh augmented views, the
        setting in which Izmailov et al. (2021) trace the cold-posterior effect.

    Returns:
      a :class:`ParamSamples` with ``chains = num_chains``, samples ordered chain-major.
    """
    check_positive_float(step_size)
    for name, v in (("num_steps", num_steps), ("thin", thin), ("num_chains", num_chains)):
        check_positive_int(v, name=name)
    if not isinstance(burn_in, int | np.integer) or not 0 <= burn_in < num_steps:
        raise ValueError(f"burn_in: must be an integer in [0, num_steps={num_steps}), got {burn_in!r}")
    n = len(data["x"])
    noise_on, schedule, length = None, step_size, num_steps
    if num_cycles is not None:
        if not 0.0 <= exploration < 1.0:
            raise ValueError(f"exploration: must lie in [0, 1), got {exploration!r}")
        schedule = cyclical_step_size(step_size, total_steps=num_steps, num_cycles=num_cycles)
        length = math.ceil(num_steps / num_cycles)
        noise_on = lambda k: (k % length) >= exploration * length  # noqa: E731
    tx = sgld(schedule, num_data=n, key=jax.random.fold_in(key, 1), temperature=temperature,
              noise_on=noise_on)
    snaps: list = []

    def keep(done: int, state) -> None:
        sampling = num_cycles is None or ((done - 1) % length) >= exploration * length
        if done > burn_in and sampling:
            snaps.append(jax.tree.map(np.asarray, state.params))

    try:
        res = fit(model_fn, data, prior=prior, optimizer=tx, key=key, num_members=num_chains,
                  config=TrainConfig(steps=num_steps, batch_size=batch_size, eval_every=thin),
                  init_params=init_params, on_chunk=keep, progress=progress,
                  desc="csgld" if num_cycles else "sgld", augment=augment)
    except TrainingDiverged as e:
        raise ValueError(f"step_size: SGLD diverged with step_size={step_size}; lower it ({e})"
                         ) from None
    if not snaps:
        raise ValueError(f"thin: no sample was kept (num_steps={num_steps}, burn_in={burn_in}, "
                         f"thin={thin}); lower burn_in or thin")
    # [D, C, ...] -> chain-major [C * D, ...]
    params = jax.tree.map(lambda *a: np.swapaxes(np.stack(a), 0, 1).reshape(-1, *a[0].shape[1:]),
                          *snaps)
    params = jax.tree.map(jnp.asarray, params)
    if jax.tree.leaves(res.model_state):  # batch norm: each sample's statistics over data["x"]
        graph = batch_stats_graphdef(nnx.eval_shape(lambda: model_fn(jax.random.key(0))))
        chain = jnp.repeat(jnp.arange(num_chains), len(snaps))
        params = with_batch_stats(graph, params, res.model_state, chain,
                                  jnp.asarray(data["x"], jnp.float32))
    return ParamSamples(res.graphdef, params, name="csgld" if num_cycles else "sgld",
                        chains=num_chains)


#: The student data generators :func:`bayesian_dark_knowledge` knows by name.
STUDENT_INPUTS = ("perturb", "uniform")


def perturbed_inputs(x, input_noise: float) -> Callable[[jax.Array, int], jax.Array]:
    r"""The student data generator "near the training data": ``(key, m) -> x' [m, ...]`` with
    :math:`x' = x_i + \sigma\epsilon`, :math:`i` uniform over the rows of ``x``,
    :math:`\epsilon\sim\mathcal N(0, I)`; :math:`\sigma` = ``input_noise`` :math:`\ge 0`."""
    ok = isinstance(input_noise, int | float | np.floating) and not isinstance(input_noise, bool)
    if not (ok and math.isfinite(input_noise) and input_noise >= 0):
        raise ValueError(f"input_noise: must be a finite number >= 0, got {input_noise!r}")
    x = jnp.asarray(x, jnp.float32)

    def draw(key, m):
        ki, kn = jax.random.split(key)
        xs = x[jax.random.randint(ki, (m,), 0, x.shape[0])]
        return xs + input_noise * jax.random.normal(kn, xs.shape)

    return draw


def uniform_inputs(low, high) -> Callable[[jax.Array, int], jax.Array]:
    r"""The student data generator "uniform over the input domain": ``(key, m) -> x' [m, D]`` with
    :math:`x'_d \sim \mathcal U(\mathrm{low}_d, \mathrm{high}_d)` independently; ``low``,
    ``high``: ``[D]`` corners of the box, ``low < high`` in every coordinate."""
    low, high = np.asarray(low, np.float32), np.asarray(high, np.float32)
    if low.ndim != 1 or low.shape != high.shape or not (np.all(np.isfinite(low))
                                                         and np.all(np.isfinite(high))
                                                         and np.all(low < high)):
        raise ValueError(f"input_box: must be two finite [D] corners (low, high) with low < high in "
                         f"every coordinate, got {low.tolist()!r}, {high.tolist()!r}")
    lo, hi = jnp.asarray(low), jnp.asarray(high)
    return lambda key, m: jax.random.uniform(key, (m, lo.shape[0]), minval=lo, maxval=hi)


class DarkKnowledge(NamedTuple):
    """A Bayesian-dark-knowledge run: the distilled student and the last teacher sample."""

    student: ParamSamples
    teacher: ParamSamples
    runtime_s: float


def bayesian_dark_knowledge(
    teacher_fn: Callable,
    student_fn: Callable,
    data: dict,
    *,
    prior,
    key: jax.Array,
    step_size: float,
    num_steps: int,
    burn_in: int,
    batch_size: int,
    input_noise: float | None = None,
    student_inputs: str | Callable[[jax.Array, int], jax.Array] = "perturb",
    input_box: tuple | None = None,
    student_learning_rate: float = 1e-3,
    student_weight_decay: float = 0.0,
    init_params: Any = None,
    chunk: int = 1000,
) -> DarkKnowledge:
    r"""Online distillation of an SGLD chain into a student (Korattikara et al. 2015, Alg. 1).

    Each step: one SGLD step of the teacher on a minibatch of ``data``; after ``burn_in``, one Adam
    step of the student (learning rate decayed to zero by a cosine over its ``num_steps - burn_in``
    steps, so late updates average over many teacher samples) on a batch of inputs :math:`x'` from
    the student data generator, with loss
    :math:`-\sum_k p(k\mid x',\theta_t)\log S(k\mid x', w) + \frac{\lambda_s}2\|w\|^2`.
    (The paper's Algorithm 1 takes plain SGD steps of schedule :math:`\rho_t` for the student;
    this function uses Adam.)

    Args:
      teacher_fn, student_fn: ``key -> nnx.Module``.
      prior: the teacher's weight prior (as for :func:`fit_sgld`).
      student_inputs: the student data generator :math:`x'`: ``"perturb"`` (training inputs plus
        :math:`\mathcal N(0, \sigma^2)` noise, :func:`perturbed_inputs`; the paper's choice for
        high-dimensional inputs), ``"uniform"`` (uniform over ``input_box``,
        :func:`uniform_inputs`; its choice for low-dimensional ones), or a callable
        ``(key, m) -> x' [m, ...]``.
      input_noise: :math:`\sigma \ge 0` of the perturbation; needed by ``"perturb"`` only.
      input_box: ``(low, high)`` corners of the box; needed by ``"uniform"`` only.
      init_params: optional teacher start (one member, no leading axis).
    """
    check_positive_float(step_size)
    check_positive_int(num_steps, name="num_steps")
    if not 0 <= burn_in < num_steps:
        raise ValueError(f"burn_in: must lie in [0, num_steps={num_steps}), got {burn_in!r}")
    draw_inputs = _student_inputs(student_inputs, data["x"], input_noise, input_box)
    t0 = time.perf_counter()
    x, y = jnp.asarray(data["x"], jnp.float32), jnp.asarray(data["y"], jnp.int32)
    n = x.shape[0]
    k_t, k_s, k_run = jax.random.split(key, 3)
    t_graph, t_params = init_members(teacher_fn, k_t[None])
    s_graph, s_params = init_members(student_fn, k_s[None])
    t_params = jax.tree.map(lambda a: a[0], t_params) if init_params is None else init_params
    s_params = jax.tree.map(lambda a: a[0], s_params)
    tx_t = sgld(step_size, num_data=n, key=jax.random.fold_in(k_run, 1))
    check_positive_float(student_learning_rate, name="student_learning_rate")
    # cosine decay over the student's own steps: late steps average over many teacher samples
    lr = optax.cosine_decay_schedule(student_learning_rate, num_steps - burn_in)
    tx_s = optax.adamw(lr, weight_decay=student_weight_decay)
    ones = jnp.ones((batch_size,), jnp.float32)

    def teacher_loss(p, xb, yb):
        logits = apply_model(t_graph, p, xb)
        batch = {"x": xb, "y": yb, "label_mask": ones}
        return objective(softmax_cross_entropy(logits, yb), prior, p, logits, batch)

    def student_loss(p, xb, target):
        return jnp.mean(soft_cross_entropy(apply_model(s_graph, p, xb), target))

    def step(carry, _):
        tp, ts, sp, ss, k, i = carry
        k, kb, kx = jax.random.split(k, 3)
        idx = jax.random.randint(kb, (batch_size,), 0, n)
        g = jax.grad(teacher_loss)(tp, x[idx], y[idx])
        upd, ts = tx_t.update(g, ts, tp)
        tp = optax.apply_updates(tp, upd)
        xs = draw_inputs(kx, batch_size)
        target = jax.nn.softmax(apply_model(t_graph, tp, xs), axis=-1)
        gs = jax.grad(student_loss)(sp, xs, target)
        supd, ss_new = tx_s.update(gs, ss, sp)
        on = i >= burn_in
        sp = jax.tree.map(lambda a, u: a + jnp.where(on, u, 0.0), sp, supd)
        ss = jax.tree.map(lambda a, b: jnp.where(on, a, b), ss_new, ss)
        return (tp, ts, sp, ss, k, i + 1), None

    run_chunk = jax.jit(lambda c, length: jax.lax.scan(step, c, length=length)[0],
                        static_argnums=1)
    carry = (t_params, tx_t.init(t_params), s_params, tx_s.init(s_params), k_run,
             jnp.zeros((), jnp.int32))
    done = 0
    while done < num_steps:
        length = min(chunk, num_steps - done)
        carry = run_chunk(carry, length)
        done += length
    if not all(bool(jnp.all(jnp.isfinite(a))) for a in jax.tree.leaves(carry[2])):
        raise ValueError(f"step_size: the dark-knowledge run diverged (step_size={step_size}); "
                         "lower it")
    stack = lambda p: jax.tree.map(lambda a: a[None], p)  # noqa: E731
    return DarkKnowledge(ParamSamples(s_graph, stack(carry[2]), name="bdk"),
                         ParamSamples(t_graph, stack(carry[0]), name="sgld_last"),
                         time.perf_counter() - t0)


def chain_arms(
    teacher_fn: Callable,
    data: dict,
    *,
    prior,
    key: jax.Array,
    sgd: TrainConfig,
    thin: int,
    last: int = 0,
    students: dict | None = None,
    **chain,
) -> dict[str, ParamSamples]:
    r"""The arms of a Bayesian-dark-knowledge comparison (Korattikara et al. 2015, Table 1), every
    one from the same ``key`` and the same ``teacher_fn``, ``data`` and ``prior``:

    - ``"SGD"``: the point estimate, one :func:`bayeskd.training.fit` member with config ``sgd``
      (:math:`q(\theta) = \delta(\theta - \hat\theta_{\rm MAP})`);
    - ``"SGLD"``: one :func:`fit_sgld` chain keeping a draw every ``thin`` steps after burn-in;
    - ``f"SGLD last {last} draws"`` when ``last > 0``: the chain's last ``last`` kept draws, the
      cost of a stored-sample teacher the size of a few students;
    - each online student ``{arm: (student_fn, kwargs)}`` of ``students``: the
      :func:`bayesian_dark_knowledge` student of the chain's sampler (``kwargs``: its student
      options, e.g. ``student_inputs``, ``input_noise``).

    ``chain``: ``step_size``, ``num_steps``, ``burn_in``, ``batch_size`` shared by the chain and the
    students' teacher runs. Returns ``{arm: ParamSamples}`` in the order above.
    """
    check_positive_int(thin, name="thin")
    if not isinstance(last, int) or last < 0:
        raise ValueError(f"last: must be an integer >= 0, got {last!r}")
    sampled = fit_sgld(teacher_fn, data, prior=prior, key=key, thin=thin, progress=False, **chain)
    if last > sampled.num_samples:
        raise ValueError(f"last: {last} exceeds the chain's {sampled.num_samples} kept draws")
    arms = {"SGD": ParamSamples.from_fit(fit(teacher_fn, data, prior=prior, key=key, config=sgd,
                                             num_members=1, progress=False), name="sgd"),
            "SGLD": sampled}
    if last:
        arms[f"SGLD last {last} draws"] = ParamSamples(
            sampled.graphdef, jax.tree.map(lambda a: a[-last:], sampled.params), name="sgld_last")
    for arm, (student_fn, kw) in (students or {}).items():
        arms[arm] = bayesian_dark_knowledge(teacher_fn, student_fn, data, prior=prior, key=key,
                                            **chain, **kw).student
    return arms


def _student_inputs(kind, x, input_noise, input_box) -> Callable[[jax.Array, int], jax.Array]:
    """The student data generator that ``student_inputs`` names (see
    :func:`bayesian_dark_knowledge`), checked before any work."""
    if callable(kind):
        return kind
    check_choice(kind, STUDENT_INPUTS, name="student_inputs")
    if kind == "perturb":
        if input_noise is None:
            raise ValueError("input_noise: student_inputs='perturb' needs the noise std (a "
                             "finite number >= 0), got None")
        return perturbed_inputs(x, input_noise)
    if input_box is None or len(input_box) != 2:
        raise ValueError("input_box: student_inputs='uniform' needs the box's (low, high) "
                         f"corners, got {input_box!r}")
    return uniform_inputs(*input_box)

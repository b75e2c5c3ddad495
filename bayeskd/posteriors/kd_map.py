r"""Knowledge distillation is MAP under a teacher-centred Dirichlet prior (Zhang & Sabuncu
2020, §3; Fang et al. 2024, "Bayesian knowledge distillation", §3), for a softmax regression
:math:`p_W(x) = \mathrm{softmax}(\phi(x)W + b)` with flat weights :math:`\theta = (W, b)`.

The KD objective at :math:`T = 1` with a Gaussian weight prior (:func:`kd_loss`, the library's
:class:`~bayeskd.priors.TeacherPrior` plus :class:`~bayeskd.priors.GaussianPrior`),

.. math::
    L_{KD}(\theta) = \frac1N\sum_i\Big[(1-\alpha)\big(-\log p_{W,y_i}(x_i)\big)
      + \alpha\,\mathrm{KL}\big(t(x_i)\,\|\,p_W(x_i)\big)\Big] + \frac\lambda2\|\theta\|^2,

is, times :math:`N/(1-\alpha)` and up to a constant, the negative log posterior
(:func:`dirichlet_neg_log_posterior`) of the likelihood :math:`\prod_i p_{W,y_i}(x_i)` under a
Dirichlet prior on the student's class probabilities at every training input,

.. math::
    p_W(x_i) \sim \mathrm{Dir}\big(1 + c\,t(x_i)\big),\quad c = \frac{\alpha}{1-\alpha},\qquad
    \theta \sim \mathcal N\Big(0, \frac{1-\alpha}{N\lambda} I\Big):

:math:`\log\mathrm{Dir}(p; 1 + ct) = \sum_k c\,t_k\log p_k + \text{const}` and
:math:`\alpha\,\mathrm{KL}(t\|p) = -\alpha\sum_k t_k\log p_k + \text{const}`. Both have the same
minimiser (:func:`bayeskd.training.logistic.newton_minimize` finds them to machine precision);
at :math:`T \ne 1` the KD objective softens both sides and the identity breaks.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from bayeskd.losses import softmax_cross_entropy
from bayeskd.metrics import classification_metrics
from bayeskd.metrics.coverage import credible_coverages
from bayeskd.posteriors.end2 import dirichlet_nll
from bayeskd.posteriors.langevin import whitened_langevin
from bayeskd.posteriors.reference import predictive_diagnostics
from bayeskd.priors import GaussianPrior, SumPrior, TeacherPrior
from bayeskd.priors.priors import objective
from bayeskd.training.logistic import newton_minimize

__all__ = ["dirichlet_neg_log_posterior", "kd_loss", "map_gaps", "posterior_checks",
           "regression_probs", "sample_kd_posterior", "solve_maps", "unflatten"]


def unflatten(theta, d: int, k: int):
    """``(W [d, k], b [k])`` from flat weights ``theta [(d + 1) k]`` (``W`` first)."""
    return theta[: d * k].reshape(d, k), theta[d * k:]


def kd_loss(theta, phi_ND, y_N, logt_NK, *, alpha: float, temperature: float = 1.0,
            weight_decay: float) -> jax.Array:
    r""":math:`L_{KD}(\theta)` ``[]``: the library's KD objective (:class:`TeacherPrior` with the
    table ``logt_NK`` at ``temperature``, plus :class:`GaussianPrior`) of the softmax regression
    at flat weights ``theta``, features ``phi_ND``, labels ``y_N``."""
    W, b = unflatten(theta, phi_ND.shape[1], logt_NK.shape[1])
    logits = phi_ND @ W + b
    prior = SumPrior((TeacherPrior(alpha=alpha, temperature=temperature, table=logt_NK),
                      GaussianPrior(weight_decay=weight_decay)))
    batch = {"x": phi_ND, "y": y_N, "label_mask": jnp.ones(len(y_N), phi_ND.dtype),
             "index": jnp.arange(len(y_N))}
    return objective(softmax_cross_entropy(logits, y_N), prior, {"W": W, "b": b}, logits, batch)


def dirichlet_neg_log_posterior(theta, phi_ND, y_N, t_NK, *, alpha: float,
                                weight_decay: float) -> jax.Array:
    r""":math:`-\log p(\theta\mid\mathcal D)` ``[]`` up to a constant: the label likelihood, a
    :math:`\mathrm{Dir}(1 + c\,t_i)` prior on each :math:`p_W(x_i)` (teacher probabilities
    ``t_NK``, :func:`bayeskd.posteriors.dirichlet_nll`) and the Gaussian weight prior
    :math:`\mathcal N(0, \frac{1-\alpha}{N\lambda})`; ``alpha < 1``."""
    n, k = t_NK.shape
    W, b = unflatten(theta, phi_ND.shape[1], k)
    logp = jax.nn.log_softmax(phi_ND @ W + b, -1)
    c = alpha / (1 - alpha)
    nll = -jnp.sum(jnp.take_along_axis(logp, y_N[:, None], 1))
    log_prior = -jnp.sum(dirichlet_nll(jnp.log1p(c * t_NK), jnp.exp(logp)[None]))
    gauss = n * weight_decay / (1 - alpha) / 2 * jnp.sum(theta**2)
    return nll - log_prior + gauss


def regression_probs(theta, phi_ND: np.ndarray) -> np.ndarray:
    """Class probabilities ``[N, K]`` of flat weights ``theta`` in float64 NumPy (``K`` from
    ``len(theta) = (D + 1) K``)."""
    theta = np.asarray(theta, np.float64)
    W, b = unflatten(theta, phi_ND.shape[1], len(theta) // (phi_ND.shape[1] + 1))
    z = phi_ND @ W + b
    z = z - z.max(-1, keepdims=True)
    return np.exp(z) / np.exp(z).sum(-1, keepdims=True)


def map_gaps(maps: dict, phi_ND: np.ndarray) -> dict[str, float]:
    """How far :func:`solve_maps`'s KD minimisers lie from the Dirichlet MAP: ``weight_gap`` (the
    largest weight difference of KD at T = 1), ``prob_gap`` and ``prob_gap_T{T}`` (the largest
    difference of class probabilities on ``phi_ND``, at T = 1 and at each control T)."""
    ref = regression_probs(maps["dirichlet"], phi_ND)
    out = {"weight_gap": float(np.max(np.abs(np.asarray(maps["kd"])
                                             - np.asarray(maps["dirichlet"]))))}
    return out | {f"prob_gap{arm[2:]}": float(np.max(np.abs(regression_probs(maps[arm], phi_ND)
                                                             - ref)))
                  for arm in maps if arm.startswith("kd")}


def solve_maps(phi_ND, y_N, t_NK, *, alpha: float, weight_decay: float,
               control_temperature: float = 4.0) -> dict[str, np.ndarray]:
    """The float64 minimisers of one training set (:func:`newton_minimize`): ``kd`` (KD at
    T = 1), ``kd_T{control_temperature:g}``, ``labels`` (alpha = 0) and ``dirichlet`` (the MAP of
    :func:`dirichlet_neg_log_posterior`), each ``[(D + 1) K]``."""
    with jax.enable_x64(True):
        phi, y, t = jnp.asarray(phi_ND), jnp.asarray(y_N), jnp.asarray(t_NK)
        dim, kd = (phi.shape[1] + 1) * t.shape[1], (phi, y, jnp.log(t))

        def solve(a, temperature):
            return newton_minimize(kd_loss, kd, dim, alpha=a, temperature=temperature,
                                   weight_decay=weight_decay)

        return {"kd": solve(alpha, 1.0), f"kd_T{control_temperature:g}": solve(
                    alpha, control_temperature), "labels": solve(0.0, 1.0),
                "dirichlet": newton_minimize(dirichlet_neg_log_posterior, (phi, y, t), dim,
                                             alpha=alpha, weight_decay=weight_decay)}


def sample_kd_posterior(phi_SND, y_SN, t_SNK, theta_SD, *, alpha: float, weight_decay: float,
                        chains: int, burn_in: int, samples: int, thin: int, step_size: float,
                        key: jax.Array) -> np.ndarray:
    r"""Draws ``[S, chains * samples, D]`` of :math:`p(	heta\mid\mathcal D)\propto
    \exp(-	frac{N}{1-lpha}L_{KD}(	heta))` for each of ``S`` training sets, by
    :func:`whitened_langevin` from the modes ``theta_SD``, every set and chain in one compiled,
    vmapped run (float32; chain ``c`` of set ``s`` uses ``split(key, (S, chains))[s, c]``)."""
    phi, logt = jnp.asarray(phi_SND, jnp.float32), jnp.asarray(np.log(t_SNK), jnp.float32)
    n, scale = phi.shape[1], 1.0 / (1.0 - alpha)

    def u(v, *d):  # U / N = L_KD / (1 - alpha)
        return scale * kd_loss(v, *d, alpha=alpha, weight_decay=weight_decay)

    def one(theta, p, y, lt, keys):
        return whitened_langevin(u, theta, (p, y, lt), num_data=n, step_size=step_size,
                                 burn_in=burn_in, samples=samples, thin=thin, keys=keys)

    keys = jax.random.split(key, (phi.shape[0], chains))
    out = jax.jit(jax.vmap(one))(jnp.asarray(theta_SD, jnp.float32), phi, jnp.asarray(y_SN),
                                 logt, keys)
    return np.asarray(out).reshape(phi.shape[0], -1, out.shape[-1])


def posterior_checks(theta_SD: np.ndarray, theta_map_D: np.ndarray, phi_ND: np.ndarray,
                     y_N: np.ndarray, p_true_NK: np.ndarray, *, num_coverage: int,
                     levels: tuple[float, ...], chains: int, main_level: float = 0.9) -> dict:
    """What a softmax-regression posterior's draws ``theta_SD`` (``chains`` chains, chain-major)
    say against the truth ``p_true_NK`` on the test inputs ``phi_ND``:

    * ``coverage_{level}``: :func:`~bayeskd.metrics.coverage.credible_coverages` of the first
      ``num_coverage`` inputs' class probabilities, and ``mean_width_{main_level}``;
    * ``rhat_max``, ``ess_min``: mixing of the predictive on the first 100 of them;
    * ``ece``/``nll`` of the posterior-mean student (``_posterior_mean``) and of the MAP
      ``theta_map_D`` (``_map``) on the labels ``y_N``.
    """
    k = p_true_NK.shape[1]
    th = np.asarray(theta_SD, np.float64)
    W, b = th[:, : phi_ND.shape[1] * k].reshape(len(th), -1, k), th[:, -k:]
    phi_cov, p_cov = phi_ND[:num_coverage], p_true_NK[:num_coverage]
    p_S, mean_p = (np.asarray(jax.nn.softmax(np.einsum("nd,sdk->snk", ph, W) + b[:, None], -1))
                   for ph in (phi_cov, phi_ND))
    row = {f"coverage_{lv:g}": c for lv, c in credible_coverages(p_S, p_cov, levels).items()}
    lo, hi = np.quantile(p_S, [(1 - main_level) / 2, (1 + main_level) / 2], axis=0)
    row[f"mean_width_{main_level:g}"] = float(np.mean(hi - lo))
    diag = predictive_diagnostics(p_S[:, :100].reshape(chains, len(th) // chains, -1, k))
    row |= {"rhat_max": diag["rhat_max"], "ess_min": diag["ess_min"]}
    pm = classification_metrics(mean_p.mean(0).astype(np.float32), y_N)
    mp = classification_metrics(regression_probs(theta_map_D, phi_ND).astype(np.float32), y_N)
    return row | {"ece_posterior_mean": pm["ece"], "nll_posterior_mean": pm["nll"],
                  "ece_map": mp["ece"], "nll_map": mp["nll"]}

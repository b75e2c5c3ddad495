r"""The pieces of a language-model distillation run: teachers (one network, an ensemble or MC
dropout), their tables, students, and how each is scored.

A teacher is trained by :func:`train_lm_teacher` on an :class:`~bayeskd.data.lm_corpus.LMCorpus`;
its predictive is a posterior mean :math:`\bar p = \frac1S \sum_s p_s` over ``S`` members or
dropout masks (:func:`posterior_teacher`). Its epistemic part, per token,

.. math::
    I = H[\bar p] - \frac1S \sum_s H[p_s],

is the mutual information (0 for one deterministic network; :func:`posterior_metrics`).
Students of every seed train in one run (:func:`train_lm_students`) from the teacher as the
trainer's ``prior``: inside the step (``online``), or as a table of its log-probabilities on
every training row (:func:`teacher_prior`; all ``V``, or the top ``k`` with a tail).
A student *method* is a name: ``hard`` (the tokens alone), ``sequence`` (cross-entropy on the
teacher's samples, Kim & Rush 2016), or ``MODE-D`` for a divergence ``D`` of
:data:`bayeskd.losses.DIVERGENCES` with ``MODE`` one of ``token`` (offline table), ``online``
(teacher in the step) and ``on_policy`` (GKD, Agarwal et al. 2024: part of each batch is the
student's own samples); :func:`train_method` trains every seed of one.
Students are scored at their final step and, after the fact, at the evaluation point of lowest
validation NLL (:func:`best_by_validation`, early stopping chosen without the test rows).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from bayeskd.data.hmm import sequence_log_prob
from bayeskd.data.lm_corpus import LMCorpus, unigram_log_prior
from bayeskd.losses.divergences import DIVERGENCES, log_mean_probs
from bayeskd.models.transformer import TransformerConfig, distilbert_init
from bayeskd.training.lm import (
    TAILS,
    HardLabels,
    LMObjective,
    ModelLMTeacher,
    TableLMTeacher,
    expand_topk,
    lm_log_probs,
    sample_lm,
    token_metrics,
    topk_log_probs,
)
from bayeskd.training.trainer import TrainConfig, fit

__all__ = ["METHODS", "POSTERIORS", "TOPK_VALUES", "LMTeacher", "arrays_to_params",
           "best_by_validation", "evaluate_lm",
           "posterior_metrics", "posterior_teacher", "teacher_prior", "teacher_samples",
           "teacher_table", "topk_errors", "train_lm_students", "train_lm_teacher",
           "train_method"]

POSTERIORS = ("single", "ensemble", "mc_dropout")
TOPK_VALUES = (16, 64, 256)
#: every student method: ``hard``, ``sequence`` and ``MODE-D``
METHODS = ("hard", "sequence", *(f"{m}-{d}" for m in ("token", "online", "on_policy")
                                 for d in DIVERGENCES))


def arrays_to_params(model: TransformerConfig, arrays: list) -> tuple[Any, Any]:
    """``(graphdef, params)`` of ``model`` with parameter leaves ``arrays`` (stored units keep
    plain arrays; no arrays: the graphdef and ``None``)."""
    graphdef, abstract = nnx.split(nnx.eval_shape(lambda: model(jax.random.key(0))), nnx.Param)
    if not arrays:
        return graphdef, None
    return graphdef, jax.tree.unflatten(jax.tree.structure(abstract),
                                        [jnp.asarray(a) for a in arrays])


def _arrays(params) -> list[np.ndarray]:
    return [np.asarray(a) for a in jax.tree.leaves(params)]


def _member(params_M, m: int):
    return jax.tree.map(lambda a: a[m], params_M)


def evaluate_lm(graphdef, params, data: LMCorpus, *, key, sample: bool) -> dict:
    """Test NLL and bits per token, :math:`\\mathrm{KL}(p^*\\|q)` (HMM) and, with ``sample``, the
    true NLL per token of the model's own continuations of each test row's first token (HMM)."""
    test = jnp.asarray(data.test)
    row = token_metrics(lm_log_probs(graphdef, params, test), test[:, 1:], data.true_test)
    if sample and data.hmm is not None:
        own = sample_lm(graphdef, params, test[:, :1], key=key, length=test.shape[1])
        row["sample_nll_true"] = float(-jnp.mean(sequence_log_prob(data.hmm, own))
                                       / test.shape[1])
    return row


def posterior_teacher(graphdef, params_M, *, posterior: str, samples: int = 0) -> ModelLMTeacher:
    """The predictive of stacked ``[M, ...]`` teacher parameters: one network (member 0), the
    mean over all ``M`` members (``ensemble``), or over ``samples`` dropout masks of member 0."""
    if posterior == "ensemble":
        return ModelLMTeacher(graphdef, params_M, jax.tree.leaves(params_M)[0].shape[0])
    return ModelLMTeacher(graphdef, _member(params_M, 0),
                          samples=samples if posterior == "mc_dropout" else 0)


def posterior_metrics(teacher: ModelLMTeacher, data: LMCorpus, *, key, batch: int = 16) -> dict:
    """Test metrics of the teacher's predictive and its mutual information per token (nats); the
    masks of row batch ``i`` are drawn from ``fold_in(key, i)``."""

    @jax.jit
    def one(teacher, t, k):
        lps = teacher.draw_log_probs(t[:, :-1], k)  # [B*T, S, V]
        lp = log_mean_probs(lps)
        mi = -jnp.sum(jnp.exp(lp) * lp, -1) + jnp.sum(jnp.exp(lps) * lps, -1).mean(-1)
        return lp.reshape(t.shape[0], t.shape[1] - 1, -1), mi

    test = jnp.asarray(data.test)
    parts = [one(teacher, test[i:i + batch], jax.random.fold_in(key, i))
             for i in range(0, test.shape[0], batch)]
    row = token_metrics(jnp.concatenate([p[0] for p in parts]), test[:, 1:], data.true_test)
    row["mutual_information"] = float(jnp.mean(jnp.concatenate([p[1] for p in parts])))
    return row


def train_lm_teacher(model: TransformerConfig, data: LMCorpus, *, config: TrainConfig, seed: int,
                     posterior: str = "single", members: int = 1, samples: int = 0,
                     progress=None, checkpoint=None) -> dict:
    """Train the teacher (``members`` networks from ``key(seed + 1000)``) on the teacher rows.

    Returns a storable unit: ``params`` (``[M, ...]`` leaves as arrays), ``metrics`` (of the
    predictive: one network's own metrics with its mutual information, or the posterior's),
    ``members`` (each network alone; the sample NLL of the first only) and ``param_count``.
    """
    res = fit(model, {"x": data.teacher_train}, prior=HardLabels(), config=config,
              key=jax.random.key(seed + 1000), num_members=members,
              objective=LMObjective(label_weight=1.0), progress=progress, desc="teacher",
              checkpoint=checkpoint)
    rows = [evaluate_lm(res.graphdef, _member(res.params, m), data, key=jax.random.key(7),
                        sample=m == 0) for m in range(members)]
    post = posterior_metrics(posterior_teacher(res.graphdef, res.params, posterior=posterior,
                                               samples=samples), data,
                             key=jax.random.key(seed + 2000))
    metrics = (rows[0] | {"mutual_information": post["mutual_information"]}
               if posterior == "single" else post)
    return {"params": _arrays(res.params), "metrics": metrics, "members": rows,
            "param_count": int(model.param_count()), "steps_run": res.steps_run}


def teacher_table(teacher: ModelLMTeacher, inputs, *, key=None, batch: int = 64) -> jax.Array:
    """Teacher log-probabilities ``[N, T, V]`` on every row of ``inputs [N, T]`` (an MC-dropout
    teacher draws the masks of row batch ``i`` from ``fold_in(key, i)``)."""
    @jax.jit
    def one(t, k):
        h, w = teacher.head_inputs(t, k)
        return jax.nn.log_softmax(h @ w, axis=-1).reshape(t.shape[0], t.shape[1], -1)

    batch = max(1, batch // teacher.draws)
    key = jax.random.key(0) if key is None else key
    return jnp.concatenate([one(inputs[i:i + batch], jax.random.fold_in(key, i))
                            for i in range(0, inputs.shape[0], batch)])


def teacher_prior(teacher: ModelLMTeacher, data: LMCorpus, *, online: bool, key,
                  top_k: int | None = None, tail: str = "uniform"):
    """The teacher as the trainer's ``prior``: itself (``online``, evaluated in the step) or its
    table on the students' rows, all ``V`` or the ``top_k`` with ``tail``."""
    if online:
        return teacher
    lp = teacher_table(teacher, jnp.asarray(data.train)[:, :-1], key=key)
    if top_k is None:
        return TableLMTeacher(lp, vocab_size=data.vocab_size)
    vals, idx = topk_log_probs(lp, top_k)
    return TableLMTeacher(vals, idx, unigram_log_prior(data.train, data.vocab_size), tail=tail,
                          vocab_size=data.vocab_size)


def teacher_samples(graphdef, params, rows: np.ndarray, *, seed: int,
                    temperature: float = 1.0) -> np.ndarray:
    """Kim & Rush's training set: the teacher's continuations of each row's first token (row
    block ``i`` of 256 sampled from ``key(seed + i)``)."""
    rows = jnp.asarray(rows)
    out = [sample_lm(graphdef, params, rows[i:i + 256, :1], key=jax.random.key(seed + i),
                     length=rows.shape[1], temperature=temperature)
           for i in range(0, rows.shape[0], 256)]
    return np.asarray(jnp.concatenate(out))


def train_lm_students(model: TransformerConfig, data: LMCorpus, *, prior, objective: LMObjective,
                      config: TrainConfig, seeds: int, seed: int, rows: np.ndarray | None = None,
                      init_from: tuple[TransformerConfig, Any] | None = None, sample: bool = True,
                      progress=None, checkpoint=None, desc: str = "student") -> dict:
    """Every seed's student (one run, ``key(seed)``) on ``rows`` (default: the students' rows).

    ``init_from = (teacher model, teacher params)`` starts every seed from the teacher's every
    other block (:func:`~bayeskd.models.transformer.distilbert_init`). Returns a storable unit:
    ``rows`` (per seed: test metrics, then :func:`best_by_validation`), ``param_count``,
    ``steps_run`` and ``curve`` (per evaluation point and seed: validation NLL, test NLL and
    KL; a run resumed from a trainer checkpoint has only the points after the resume).
    """
    init_params = None
    if init_from is not None:
        one = distilbert_init(init_from[1], init_from[0], model)
        init_params = jax.tree.map(lambda a: jnp.stack([a] * seeds), one)
    curve: dict[str, list] = {"step": [], "val_nll": [], "nll": [], "kl_true": []}
    graphdef, _ = arrays_to_params(model, [])
    res = fit(model, {"x": data.train if rows is None else rows}, prior=prior, config=config,
              key=jax.random.key(seed), num_members=seeds, objective=objective,
              progress=progress, desc=desc, checkpoint=checkpoint, init_params=init_params,
              on_chunk=lambda done, state: _record(curve, done, graphdef, state.params, data))
    out = [evaluate_lm(res.graphdef, _member(res.params, s), data, key=jax.random.key(100 + s),
                       sample=sample) | best_by_validation(curve, s) for s in range(seeds)]
    return {"rows": out, "param_count": int(model.param_count()), "steps_run": res.steps_run,
            "curve": curve}


def _record(curve: dict, step: int, graphdef, params_M, data: LMCorpus) -> None:
    """Append each seed's validation NLL and test NLL / KL(p*||.) at ``step`` to ``curve``."""
    test, val = jnp.asarray(data.test), np.asarray(data.val)
    per: dict[str, list] = {"val_nll": [], "nll": [], "kl_true": []}
    for s in range(jax.tree.leaves(params_M)[0].shape[0]):
        params = _member(params_M, s)
        row = token_metrics(lm_log_probs(graphdef, params, test), test[:, 1:], data.true_test)
        per["nll"].append(row["nll"])
        per["kl_true"].append(row.get("kl_true", float("nan")))
        per["val_nll"].append(token_metrics(lm_log_probs(graphdef, params, val), val[:, 1:])["nll"]
                              if len(val) else float("nan"))
    curve["step"].append(int(step))
    for k, v in per.items():
        curve[k].append(v)


def best_by_validation(curve: dict, seed: int) -> dict:
    r"""Early stopping after the fact: the test NLL and :math:`\mathrm{KL}(p^*\|\cdot)` of
    ``seed`` at the evaluation point of lowest validation NLL (``best_step``); the test rows
    take no part in the choice. Empty without evaluation points or validation rows.

    >>> c = {"step": [10, 20, 30], "val_nll": [[3.0], [2.0], [2.5]], "nll": [[4.0], [3.5], [3.0]],
    ...      "kl_true": [[0.3], [0.2], [0.1]]}
    >>> best_by_validation(c, 0)
    {'nll_best': 3.5, 'best_step': 20, 'kl_true_best': 0.2}
    """
    val = [v[seed] for v in curve["val_nll"]]
    if not val or not np.all(np.isfinite(val)):
        return {}
    i = int(np.argmin(val))
    out = {"nll_best": curve["nll"][i][seed], "best_step": curve["step"][i]}
    if np.isfinite(curve["kl_true"][i][seed]):
        out["kl_true_best"] = curve["kl_true"][i][seed]
    return out


def topk_errors(teacher: ModelLMTeacher, data: LMCorpus, *, ks=TOPK_VALUES) -> list[dict]:
    r"""Per ``k < V`` and tail: :math:`\mathrm{KL}(p_T\|q)`, :math:`\mathrm{KL}(q\|p_T)`, TVD and
    the missing mass per token of the treated top-k teacher :math:`q` against the full teacher
    :math:`p_T` on the test rows, and the bytes per token of the table (float32 values and int32
    ids, against the full float32 row). ``KL(p_T||q)`` is infinite where ``q`` is 0 and
    :math:`p_T` is not (the ``zero`` tail)."""
    v = data.vocab_size
    lp = teacher_table(teacher, jnp.asarray(data.test)[:, :-1]).reshape(-1, v)
    prior = unigram_log_prior(data.train, v)
    out = []
    for k in [k for k in ks if k < v]:
        vals, idx = topk_log_probs(lp, k)
        for tail in TAILS:
            q = expand_topk(idx, vals, vocab_size=v, tail=tail, tail_log_prior=prior)
            p_t, p_q = jnp.exp(lp), jnp.exp(q)
            fwd = jnp.sum(p_t * (lp - q), -1)
            fwd = jnp.where(jnp.any((p_q == 0) & (p_t > 0), -1), jnp.inf, fwd)
            out.append({"k": k, "tail": tail, "kl_full_to_topk": float(jnp.mean(fwd)),
                        "kl_topk_to_full": float(jnp.mean(jnp.sum(p_q * (q - lp), -1))),
                        "tvd": float(jnp.mean(0.5 * jnp.sum(jnp.abs(p_t - p_q), -1))),
                        "missing_mass": float(jnp.mean(1 - jnp.exp(jax.nn.logsumexp(vals, -1)))),
                        "bytes_per_token": 8 * k, "full_bytes_per_token": 4 * v})
    return out


@dataclasses.dataclass(frozen=True)
class LMTeacher:
    """A trained teacher, ready to teach: its model, stacked ``[M, ...]`` parameters, predictive
    (:func:`posterior_teacher`) and stored unit (:func:`train_lm_teacher`)."""

    model: TransformerConfig
    graphdef: Any
    params_M: Any
    predictive: ModelLMTeacher
    unit: dict

    @classmethod
    def from_unit(cls, model: TransformerConfig, unit: dict, *, posterior: str,
                  samples: int = 0) -> LMTeacher:
        graphdef, params = arrays_to_params(model, unit["params"])
        return cls(model, graphdef, params, posterior_teacher(graphdef, params,
                                                             posterior=posterior, samples=samples),
                   unit)

    @property
    def first(self):
        """Member 0's parameters (the network sampled by ``sequence``, copied by DistilBERT)."""
        return _member(self.params_M, 0)


def train_method(method: str, teacher: LMTeacher, data: LMCorpus, *, student: TransformerConfig,
                 objective: LMObjective, config: TrainConfig, seeds: int, seed: int,
                 top_k: int | None = None, tail: str = "uniform", distilbert: bool = False,
                 sample: bool = True, progress=None, checkpoint=None) -> dict:
    """:func:`train_lm_students` for one method of :data:`METHODS`.

    ``objective`` carries the distillation settings; its ``divergence`` is the method's, its
    ``on_policy`` share applies to ``on_policy`` only and its ``hidden_weight`` to ``online``
    only. ``hard`` and ``sequence`` train on tokens alone (``LMObjective(label_weight=1)``;
    ``sequence`` on the first teacher network's samples at ``objective.sample_temperature``);
    ``token`` trains on the predictive's table on the students' rows (key ``seed + 3000``),
    ``top_k`` of it with ``tail``. ``distilbert`` starts from the teacher's blocks.
    """
    if method not in METHODS:
        raise ValueError(f"method: must be one of {', '.join(METHODS)}, got {method!r}")
    mode, _, div = method.partition("-")
    rows, prior, obj = None, HardLabels(), LMObjective(label_weight=1.0)
    if mode == "sequence":
        rows = teacher_samples(teacher.graphdef, teacher.first, data.train, seed=seed,
                               temperature=objective.sample_temperature)
    elif mode != "hard":
        prior = teacher_prior(teacher.predictive, data, online=mode != "token", top_k=top_k,
                              tail=tail, key=jax.random.key(seed + 3000))
        obj = dataclasses.replace(objective, divergence=div,
                                  on_policy=objective.on_policy if mode == "on_policy" else 0.0,
                                  hidden_weight=objective.hidden_weight if mode == "online"
                                  else 0.0)
    return train_lm_students(student, data, prior=prior, objective=obj, config=config,
                             seeds=seeds, seed=seed, rows=rows, sample=sample, progress=progress,
                             init_from=(teacher.model, teacher.first) if distilbert else None,
                             checkpoint=checkpoint, desc=f"student {method}")

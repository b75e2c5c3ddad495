r"""``bayeskd lm-distill``: distil a small transformer into a smaller one, against the exact predictive.

On the HMM language (:mod:`bayeskd.data.hmm`) the best possible model is known: the posterior
predictive :math:`p^*(x_t\mid x_{<t})` of the forward algorithm. The job trains a teacher on
sampled sequences, then the same student, with the same seeds and steps, as

==================  =========================================================================
``hard``            the sampled tokens alone (cross-entropy)
``token``           offline token-level KD: the teacher's precomputed next-token distributions
                    (all ``V``, or the top ``k`` with a tail treatment), one run per divergence
``online``          token-level KD with the teacher inside the compiled step
``sequence``        sequence-level KD (Kim & Rush 2016): cross-entropy on teacher samples
``on_policy``       GKD (Agarwal et al. 2024): a fraction of each batch is the student's own
                    samples, scored by the teacher
==================  =========================================================================

and reports per token, on held-out sequences: NLL (nats), bits, :math:`\mathrm{KL}(p^*\|\cdot)`
(HMM only) and the true NLL of the model's own samples (HMM only: lower is higher-quality text,
MiniLLM's claim for reverse KL). Real text (``--data text``: the standard library's docstrings;
``--data FILE``: any UTF-8 file) reports bits per token. Every loss goes through the chunked
kernel (:func:`bayeskd.losses.fused.fused_linear_distillation`).

Teachers may be posterior predictives (``--teacher-posterior``): one network, an ensemble
(mean in probability space over members) or MC dropout (mean over dropout masks), each with its
per-token mutual information; a comma-separated list compares them and their students. Every
student is scored at its final step and at its lowest validation NLL (early stopping). The
configuration and its checks are :mod:`bayeskd.experiments.lm_distill_config`.

Command: ``bayeskd lm-distill`` (quick HMM, 3 seeds; a few minutes on 2 cores).
Resumable and atomic like ``compare-priors``: the teacher and each method's students are units
of a :class:`bayeskd.checkpoint.SweepStore` in ``<out>/.checkpoints``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import pathlib
import sys
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from bayeskd.checkpoint import SweepStore
from bayeskd.data.hmm import predictive_log_probs, random_hmm, sample_hmm, sequence_log_prob
from bayeskd.experiments.figures._base import Units
from bayeskd.experiments.lm_distill_config import (  # noqa: F401  (re-exported)
    DEFAULT_DIVERGENCES,
    ENSEMBLE_MEMBERS,
    INITS,
    METRICS,
    MODES,
    POSTERIOR_METHOD,
    POSTERIORS,
    SIZE_TABLE,
    TOPK_VALUES,
    LMDistillConfig,
    LMSize,
    method_name,
    model_config,
    posterior_config,
    teacher_unit,
)
from bayeskd.io import locked_output, save_figure, write_csv, write_json
from bayeskd.losses.divergences import DIVERGENCES, log_mean_probs
from bayeskd.metrics import format_mean_std, summarize
from bayeskd.models.transformer import TransformerConfig, distilbert_init
from bayeskd.training import TrainConfig, fit
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
from bayeskd.validate import (
    check_choice,
)

# --------------------------------------------------------------------------------------------------
# Data.
# --------------------------------------------------------------------------------------------------


def load_lm_data(cfg: LMDistillConfig) -> dict:
    """Train/validation/test rows, vocabulary and (HMM) the exact predictive of the held-out rows.

    The validation rows are teacher rows after the students' ``num_train`` (unseen by the
    students; empty when the text is too short); the students' early-stopping point is chosen
    on them.
    """
    size, length = cfg.sizes, cfg.seq_length
    if cfg.data == "hmm":
        key = jax.random.key(cfg.seed)
        k_hmm, k_train, k_test = jax.random.split(key, 3)
        hmm = random_hmm(key=k_hmm, num_states=size.num_states, vocab_size=cfg.hmm_vocab,
                         zipf_exponent=size.zipf_exponent, concentration=size.concentration)
        teacher_rows = np.asarray(sample_hmm(hmm, key=k_train, num_sequences=size.teacher_rows,
                                             length=length))
        test = sample_hmm(hmm, key=k_test, num_sequences=size.num_test, length=length)
        true = predictive_log_probs(hmm, test)[:, 1:]
        val = teacher_rows[size.num_train:size.num_train + size.num_test]
        return {"teacher_train": teacher_rows, "train": teacher_rows[:size.num_train],
                "test": np.asarray(test), "vocab_size": cfg.hmm_vocab, "true_test": true,
                "val": val,
                "hmm": hmm,
                "meta": {"kind": "hmm", "num_states": size.num_states, "vocab_size": cfg.hmm_vocab,
                         "zipf_exponent": size.zipf_exponent, "concentration": size.concentration,
                         # first token excluded, like the models' scores
                         "true_nll": token_metrics(true, test[:, 1:])["nll"]}}
    from bayeskd.data.text import read_text_file, stdlib_docstrings, token_rows

    if cfg.data == "text":
        text, source = stdlib_docstrings(max_files=size.text_files), "python stdlib docstrings"
    else:
        text, source = read_text_file(cfg.data), pathlib.Path(cfg.data).name
    vocab = cfg.vocab_size if cfg.vocab_size is not None else size.bpe_vocab
    rows = token_rows(text, seq_len=length, tokenizer=cfg.tokenizer, vocab_size=vocab,
                      max_train_rows=size.teacher_rows, max_test_rows=size.num_test)
    if cfg.top_k is not None and cfg.top_k > rows["vocab_size"]:
        raise ValueError(f"top_k: must be at most the vocabulary size {rows['vocab_size']}, "
                         f"got {cfg.top_k}")
    return {"teacher_train": rows["train"], "train": rows["train"][:size.num_train],
            "test": rows["test"], "vocab_size": rows["vocab_size"],
            "true_test": None, "hmm": None,
            "val": rows["train"][size.num_train:size.num_train + size.num_test],
            "meta": {"kind": "text", "source": source, "sha256": rows["sha256"],
                     "num_chars": rows["num_chars"], "tokenizer": rows["tokenizer"],
                     "python": sys.version.split()[0]}}


# --------------------------------------------------------------------------------------------------
# Units.
# --------------------------------------------------------------------------------------------------


def _params_to_arrays(params) -> list[np.ndarray]:
    return [np.asarray(a) for a in jax.tree.leaves(params)]


def _arrays_to_params(model_cfg: TransformerConfig, arrays: list) -> tuple[Any, Any]:
    """``(graphdef, params)`` of ``model_cfg`` with leaves ``arrays`` (no arrays: the graphdef
    and ``None``)."""
    graphdef, abstract = nnx.split(nnx.eval_shape(lambda: model_cfg(jax.random.key(0))), nnx.Param)
    if not arrays:
        return graphdef, None
    treedef = jax.tree.structure(abstract)
    return graphdef, jax.tree.unflatten(treedef, [jnp.asarray(a) for a in arrays])


def _evaluate(graphdef, params, data: dict, *, key, sample: bool) -> dict:
    """Test metrics of one model: NLL, bits, KL(p*||model) and the true NLL of its samples."""
    test = jnp.asarray(data["test"])
    lp = lm_log_probs(graphdef, params, test)
    row = token_metrics(lp, test[:, 1:], data["true_test"])
    if sample and data["hmm"] is not None:
        own = sample_lm(graphdef, params, test[:, :1], key=key, length=test.shape[1])
        row["sample_nll_true"] = float(-jnp.mean(sequence_log_prob(data["hmm"], own))
                                       / test.shape[1])
    return row


def posterior_metrics(teacher: ModelLMTeacher, data: dict, *, key, batch: int = 16) -> dict:
    r"""Test metrics of a teacher's predictive :math:`\bar p = \frac1S\sum_s p_s` and its
    epistemic part, the mutual information per token (nats; 0 for one deterministic network),

    .. math::
        I = H[\bar p] - \frac1S \sum_s H[p_s],

    over the ``S`` members or dropout masks (:meth:`ModelLMTeacher.draw_log_probs`; the masks of
    row batch ``i`` are drawn from ``fold_in(key, i)``)."""

    @jax.jit
    def one(teacher, t, k):
        lps = teacher.draw_log_probs(t[:, :-1], k)  # [B*T, S, V]
        lp = log_mean_probs(lps)
        mi = -jnp.sum(jnp.exp(lp) * lp, -1) + jnp.sum(jnp.exp(lps) * lps, -1).mean(-1)
        return lp.reshape(t.shape[0], t.shape[1] - 1, -1), mi

    test = jnp.asarray(data["test"])
    parts = [one(teacher, test[i:i + batch], jax.random.fold_in(key, i))
             for i in range(0, test.shape[0], batch)]
    lp = jnp.concatenate([p[0] for p in parts])
    row = token_metrics(lp, test[:, 1:], data["true_test"])
    row["mutual_information"] = float(jnp.mean(jnp.concatenate([p[1] for p in parts])))
    return row


def posterior_teacher(cfg: LMDistillConfig, graphdef, params_M) -> ModelLMTeacher:
    """The teacher's predictive from its stacked ``[M, ...]`` parameters: one network, the
    ensemble's mean, or the mean over ``teacher_samples`` dropout masks of one network."""
    if cfg.posterior == "ensemble":
        return ModelLMTeacher(graphdef, params_M, cfg.teacher_members)
    one = jax.tree.map(lambda a: a[0], params_M)
    return ModelLMTeacher(graphdef, one,
                          samples=cfg.teacher_samples if cfg.posterior == "mc_dropout" else 0)


def train_teacher(cfg: LMDistillConfig, data: dict, *, checkpoint, progress, log) -> dict:
    """The teacher unit: parameters (``[M, ...]`` leaves) and test metrics."""
    size = cfg.sizes
    tcfg = model_config(cfg, "teacher", data["vocab_size"])
    config = TrainConfig(steps=size.teacher_steps, batch_size=size.batch_size,
                         learning_rate=cfg.learning_rate, eval_every=size.eval_every)
    t0 = time.perf_counter()
    res = fit(tcfg, {"x": data["teacher_train"]}, prior=HardLabels(), config=config,
              key=jax.random.key(cfg.seed + 1000), num_members=cfg.teacher_members,
              objective=LMObjective(label_weight=1.0), progress=progress, desc="teacher",
              checkpoint=checkpoint)
    # each member alone (an MC-dropout teacher: its deterministic network; the true NLL of the
    # samples of the first only), then the predictive
    rows = [_evaluate(res.graphdef, jax.tree.map(lambda a, m=m: a[m], res.params), data,
                      key=jax.random.key(7), sample=m == 0) for m in range(cfg.teacher_members)]
    post = posterior_metrics(posterior_teacher(cfg, res.graphdef, res.params), data,
                             key=jax.random.key(cfg.seed + 2000))
    metrics = rows[0] | {"mutual_information": post["mutual_information"]} \
        if cfg.posterior == "single" else post
    log(f"[lm-distill] teacher {cfg.arch('teacher')} ({cfg.posterior_label}): NLL "
        f"{metrics['nll']:.4f}, "
        + (f"KL(p*||q) {metrics['kl_true']:.4f}, " if "kl_true" in metrics else "")
        + f"MI {metrics['mutual_information']:.4f}, "
        + f"{time.perf_counter() - t0:.0f} s, {res.steps_run} of {size.teacher_steps} steps "
        "trained here")
    return {"params": _params_to_arrays(res.params), "metrics": metrics, "members": rows,
            "param_count": int(tcfg.param_count())}


def _teacher_prior(cfg: LMDistillConfig, data: dict, teacher: dict, mode: str):
    """The teacher as the trainer's ``prior`` for ``mode``."""
    tcfg = model_config(cfg, "teacher", data["vocab_size"])
    online = posterior_teacher(cfg, *_arrays_to_params(tcfg, teacher["params"]))
    if mode in ("online", "on_policy"):
        return online
    lp = _teacher_table(online, jnp.asarray(data["train"])[:, :-1],
                        key=jax.random.key(cfg.seed + 3000))
    if cfg.top_k is None:
        return TableLMTeacher(lp, vocab_size=data["vocab_size"])
    vals, idx = topk_log_probs(lp, cfg.top_k)
    return TableLMTeacher(vals, idx, unigram_log_prior(data), tail=cfg.tail,
                          vocab_size=data["vocab_size"])


def _teacher_table(teacher: ModelLMTeacher, inputs: jax.Array, batch: int = 64,
                   key: jax.Array | None = None) -> jax.Array:
    """Teacher log-probabilities ``[N, T, V]`` on every training row (computed once; an
    MC-dropout teacher draws the masks of row batch ``i`` from ``fold_in(key, i)``)."""
    @jax.jit
    def one(t, k):
        h, w = teacher.head_inputs(t, k)
        return jax.nn.log_softmax(h @ w, axis=-1).reshape(t.shape[0], t.shape[1], -1)

    batch = max(1, batch // teacher.draws)
    key = jax.random.key(0) if key is None else key
    return jnp.concatenate([one(inputs[i:i + batch], jax.random.fold_in(key, i))
                            for i in range(0, inputs.shape[0], batch)])


def unigram_log_prior(data: dict) -> jax.Array:
    """Log of the add-one smoothed unigram frequencies of the training tokens (the Dirichlet tail)."""
    counts = np.bincount(np.asarray(data["train"]).reshape(-1), minlength=data["vocab_size"])
    return jnp.log(jnp.asarray(counts + 1.0, jnp.float32))


def train_students(cfg: LMDistillConfig, data: dict, teacher: dict, mode: str, div: str | None,
                   *, checkpoint, progress, sample: bool = True) -> dict:
    """Every seed's student for one method; returns the unit (rows per seed, parameter count);
    ``sample=False`` skips the true NLL of the students' own samples."""
    size = cfg.sizes
    scfg = model_config(cfg, "student", data["vocab_size"])
    config = TrainConfig(steps=size.student_steps, batch_size=size.batch_size,
                         learning_rate=cfg.learning_rate, eval_every=size.eval_every)
    rows_data = data["train"]
    if mode in ("hard", "sequence"):
        prior, objective = HardLabels(), LMObjective(label_weight=1.0)
        if mode == "sequence":
            rows_data = teacher_samples(cfg, data, teacher)
    else:
        prior = _teacher_prior(cfg, data, teacher, mode)
        objective = LMObjective(
            divergence=div, temperature=cfg.temperature,
            beta=min(max(cfg.beta, 1e-6), 1 - 1e-6), lam=cfg.lam, label_weight=cfg.label_weight,
            on_policy=cfg.on_policy if mode == "on_policy" else 0.0,
            sample_temperature=cfg.sample_temperature,
            hidden_weight=cfg.hidden_weight if mode == "online" else 0.0)
    init_params = None
    if cfg.init == "distilbert":
        tcfg = model_config(cfg, "teacher", data["vocab_size"])
        _, params_M = _arrays_to_params(tcfg, teacher["params"])
        one = distilbert_init(jax.tree.map(lambda a: a[0], params_M), tcfg, scfg)
        init_params = jax.tree.map(lambda a: jnp.stack([a] * cfg.num_seeds), one)
    # evaluated after every chunk (on_chunk); a run resumed from a trainer checkpoint has only
    # the points after the resume
    curve: dict[str, list] = {"step": [], "val_nll": [], "nll": [], "kl_true": []}
    graphdef, _ = _arrays_to_params(scfg, [])
    res = fit(scfg, {"x": rows_data}, prior=prior, config=config, key=jax.random.key(cfg.seed),
              num_members=cfg.num_seeds, objective=objective, progress=progress,
              desc=f"student {method_name(mode, div)}", checkpoint=checkpoint,
              init_params=init_params,
              on_chunk=lambda done, state: _record_curve(curve, done, graphdef, state.params, data))
    rows = []
    for s in range(cfg.num_seeds):
        params = jax.tree.map(lambda a, s=s: a[s], res.params)
        row = {"method": method_name(mode, div), "mode": mode, "divergence": div or "", "seed": s}
        row |= _evaluate(res.graphdef, params, data, key=jax.random.key(100 + s), sample=sample)
        row |= best_by_validation(curve, s)
        rows.append(row)
    return {"rows": rows, "param_count": int(scfg.param_count()), "steps_run": res.steps_run,
            "curve": curve}


def _record_curve(curve: dict, step: int, graphdef, params_M, data: dict) -> None:
    """Append each seed's validation NLL and test NLL / KL(p*||.) at ``step`` to ``curve``."""
    m = jax.tree.leaves(params_M)[0].shape[0]
    test, val = jnp.asarray(data["test"]), np.asarray(data["val"])
    per = {"val_nll": [], "nll": [], "kl_true": []}
    for s in range(m):
        params = jax.tree.map(lambda a, s=s: a[s], params_M)
        row = token_metrics(lm_log_probs(graphdef, params, test), test[:, 1:], data["true_test"])
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
    take no part in the choice. Empty without evaluation points or validation rows."""
    val = [v[seed] for v in curve["val_nll"]]
    if not val or not np.all(np.isfinite(val)):
        return {}
    i = int(np.argmin(val))
    out = {"nll_best": curve["nll"][i][seed], "best_step": curve["step"][i]}
    if np.isfinite(curve["kl_true"][i][seed]):
        out["kl_true_best"] = curve["kl_true"][i][seed]
    return out


def teacher_samples(cfg: LMDistillConfig, data: dict, teacher: dict) -> np.ndarray:
    """Kim & Rush's training set: the teacher's continuations of each row's first token."""
    tcfg = model_config(cfg, "teacher", data["vocab_size"])
    graphdef, params_M = _arrays_to_params(tcfg, teacher["params"])
    params = jax.tree.map(lambda a: a[0], params_M)
    train = jnp.asarray(data["train"])
    out = [sample_lm(graphdef, params, train[i:i + 256, :1], key=jax.random.key(cfg.seed + i),
                     length=train.shape[1], temperature=cfg.sample_temperature)
           for i in range(0, train.shape[0], 256)]
    return np.asarray(jnp.concatenate(out))


def topk_errors(cfg: LMDistillConfig, data: dict, teacher: dict) -> list[dict]:
    r"""For each ``k`` and tail: :math:`\mathrm{KL}(p_T\|q)`, :math:`\mathrm{KL}(q\|p_T)` and TVD
    per token of the treated top-k teacher :math:`q` against the full one, on the test rows,
    and the bytes per token of the table (float32 values + int32 ids, or the full float32 row)."""
    tcfg = model_config(cfg, "teacher", data["vocab_size"])
    graphdef, params_M = _arrays_to_params(tcfg, teacher["params"])
    online = ModelLMTeacher(graphdef, jax.tree.map(lambda a: a[0], params_M))
    lp = _teacher_table(online, jnp.asarray(data["test"])[:, :-1]).reshape(-1, data["vocab_size"])
    prior = unigram_log_prior(data)
    v = data["vocab_size"]
    out = []
    for k in [k for k in TOPK_VALUES if k < v]:
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


# --------------------------------------------------------------------------------------------------
# The job.
# --------------------------------------------------------------------------------------------------


def checkpoint_config(cfg: LMDistillConfig) -> dict:
    out = {"job": "lm_distill", "config": dataclasses.asdict(cfg),
           "sizes": dataclasses.asdict(cfg.sizes)}
    if cfg.data not in ("hmm", "text"):
        out["data_sha256"] = hashlib.sha256(pathlib.Path(cfg.data).read_bytes()).hexdigest()
    return out


def compare_to_hard(summary: dict, metric: str, base: str = "hard") -> dict:
    r"""Each method against ``base`` (lower is better) on ``metric``: the difference of means and
    whether it exceeds two standard deviations, :math:`\bar d > 2\sqrt{s_h^2 + s_m^2}` (seeds
    independent)."""
    if base not in summary or metric not in summary[base]:
        return {}
    h = summary[base][metric]
    out = {}
    for name, s in summary.items():
        if name == base or metric not in s:
            continue
        diff = h["mean"] - s[metric]["mean"]
        sd = math.sqrt(h["std"] ** 2 + s[metric]["std"] ** 2)
        out[name] = {"improvement": diff, "two_std": 2 * sd, "better_by_2std": bool(diff > 2 * sd)}
    return out


def teacher_part(cfg: LMDistillConfig, data: dict, units: Units, *, progress=None,
                 log=print) -> dict:
    """The teacher of ``cfg`` as a unit (trained, or reloaded from ``units``)."""
    name = teacher_unit(cfg)
    return units(name, lambda: train_teacher(cfg, data, checkpoint=units.trainer(name),
                                             progress=progress, log=log))


def distill(cfg: LMDistillConfig, data: dict, units: Units, *, prefix: str = "", progress=None,
            log=print, methods: list | None = None, teacher: dict | None = None,
            topk: bool = True) -> dict:
    """Teacher and every method's students of ``cfg`` as units; returns the results (no files).

    ``units`` (:class:`bayeskd.experiments.figures._base.Units`) stores each finished part and
    its trainer checkpoints; ``prefix`` names the students' parts (figures that run several
    configurations with one teacher). ``methods`` (``(mode, divergence)`` pairs) replaces
    ``cfg.methods()``; ``teacher`` is an already trained :func:`teacher_part`; ``topk=False``
    skips the top-k table errors. With ``cfg.compare_posteriors`` the results also hold
    ``posteriors`` (:func:`compare_posteriors`).
    """
    if teacher is None:
        teacher = teacher_part(cfg, data, units, progress=progress, log=log)
    rows: list[dict] = []
    student_params = None
    finished: dict[str, dict] = {}
    methods = list(cfg.methods() if methods is None else methods)
    for mode, div in methods:
        name = f"{prefix}student-{method_name(mode, div)}"
        t1 = time.perf_counter()
        unit = units(name, lambda mode=mode, div=div, name=name: train_students(
            cfg, data, teacher, mode, div, progress=progress, checkpoint=units.trainer(name)))
        finished[method_name(mode, div)] = unit
        student_params = int(unit["param_count"])
        rows.extend(unit["rows"])
        log(f"[lm-distill] {method_name(mode, div):22s} NLL "
            f"{np.mean([r['nll'] for r in unit['rows']]):.4f}"
            + (f"  KL(p*||q) {np.mean([r['kl_true'] for r in unit['rows']]):.4f}"
               if "kl_true" in unit["rows"][0] else "")
            + f"  ({time.perf_counter() - t1:.0f} s)")
    metrics = [m for m in METRICS if m in rows[0]]
    summary = summarize(rows, group="method", metrics=metrics)
    out = {
        "experiment": "lm_distill", "size": cfg.size, "config": dataclasses.asdict(cfg)
        | {"seeds": cfg.num_seeds, "seq_len": cfg.seq_length, "teacher": cfg.arch("teacher"),
           "student": cfg.arch("student"), "methods": [method_name(*m) for m in methods],
           "teacher_steps": cfg.sizes.teacher_steps, "student_steps": cfg.sizes.student_steps,
           "eval_every": cfg.sizes.eval_every},
        "data": data["meta"] | {"num_train": len(data["train"]), "num_test": len(data["test"]),
                                "num_val": len(data["val"]),
                                "num_teacher_train": len(data["teacher_train"]),
                                "vocab_size": data["vocab_size"]},
        "teacher": teacher["metrics"] | {"param_count": int(teacher["param_count"]),
                                         "members": teacher["members"],
                                         "posterior": cfg.posterior_label},
        "student": {"param_count": student_params},
        "rows": rows, "summary": summary,
        "curves": {name: u["curve"] for name, u in finished.items()},
        "versus_hard": {m: compare_to_hard(summary, m)
                        for m in ("nll", "kl_true", "nll_best", "kl_true_best") if m in metrics},
        "topk_error": units(f"{prefix}topk-error", lambda: {"rows": topk_errors(cfg, data,
                                                                                 teacher)})["rows"]
        if topk else [],
    }
    if cfg.compare_posteriors:
        out["posteriors"] = compare_posteriors(
            cfg, data, units, prefix=prefix, progress=progress, log=log,
            reuse={cfg.posterior_label: (teacher, finished.get(method_name(*POSTERIOR_METHOD)))})
    return out


def compare_posteriors(cfg: LMDistillConfig, data: dict, units: Units, *, prefix: str = "",
                       progress=None, log=print, reuse: dict | None = None) -> dict:
    r"""A teacher of each posterior of ``cfg.compare_posteriors`` and the student distilled from it.

    Per posterior: the teacher predictive's test NLL, :math:`\mathrm{KL}(p^*\|\bar p)` and mutual
    information (:func:`posterior_metrics`), and the :data:`POSTERIOR_METHOD` students' metrics
    (one row per seed, ``teacher_posterior`` naming the teacher). Verdicts against the single
    teacher (lower is better): for the students, :func:`compare_to_hard` with the single-teacher
    students as the base (difference against two standard deviations over seeds); for the
    teachers, the difference against two standard deviations of :math:`\mathrm{KL}(p^*\|\cdot)`
    over the ensemble's members (each an independently seeded single teacher; absent without an
    ensemble). ``reuse`` maps a posterior label to an already trained ``(teacher, student unit)``.
    """
    reuse = reuse or {}
    mode, div = POSTERIOR_METHOD
    rows, teachers, member_kl = [], {}, None
    for post in cfg.compare_posteriors:
        pcfg = posterior_config(cfg, post)
        label = pcfg.posterior_label
        teacher, unit = reuse.get(label, (None, None))
        if teacher is None:
            teacher = teacher_part(pcfg, data, units, progress=progress, log=log)
        if unit is None:
            name = f"{prefix}{label}-student-{method_name(mode, div)}"
            unit = units(name, lambda pcfg=pcfg, teacher=teacher, name=name: train_students(
                pcfg, data, teacher, mode, div, progress=progress, sample=False,
                checkpoint=units.trainer(name)))
        rows += [r | {"teacher_posterior": label} for r in unit["rows"]]
        teachers[label] = {k: v for k, v in teacher["metrics"].items()} | {"posterior": post}
        if post == "ensemble":
            member_kl = [m["kl_true"] for m in teacher["members"] if "kl_true" in m]
    metrics = [m for m in METRICS if all(m in r for r in rows)]
    summary = summarize(rows, group="teacher_posterior", metrics=metrics)
    single = posterior_config(cfg, "single").posterior_label
    students = {m: compare_to_hard(summary, m, base=single)
                for m in ("kl_true", "nll", "kl_true_best", "nll_best") if m in metrics}
    teacher_verdict = {}
    if single in teachers and member_kl and "kl_true" in teachers[single]:
        spread = 2 * float(np.std(member_kl, ddof=1))
        for label, t in teachers.items():
            if label != single:
                diff = teachers[single]["kl_true"] - t["kl_true"]
                teacher_verdict[label] = {"improvement": diff, "two_std": spread,
                                          "better_by_2std": bool(diff > spread)}
    for label, t in teachers.items():
        log(f"[lm-distill] posterior {label:14s} teacher KL(p*||q) "
            f"{t.get('kl_true', float('nan')):.4f}, MI {t['mutual_information']:.4f}; student "
            f"KL {summary[label].get('kl_true', {}).get('mean', float('nan')):.4f}")
    return {"method": method_name(mode, div), "teachers": teachers, "rows": rows,
            "summary": summary, "single_member_kl_true": member_kl,
            "teacher_versus_single": teacher_verdict, "student_versus_single": students}


def run(cfg: LMDistillConfig, *, out, progress: bool | None = None, log=print,
        fresh: bool = False) -> dict:
    """Run the job and write ``results.json``, ``results.csv`` and ``lm_distillation.png``.

    Resumable: the teacher and each method's students are units of a
    :class:`bayeskd.checkpoint.SweepStore` in ``out/.checkpoints`` (students also checkpoint
    every ``eval_every`` steps), so the same call after a kill continues where it stopped.
    """
    from bayeskd.provenance import provenance

    t0 = time.perf_counter()
    data = load_lm_data(cfg)  # files and sizes checked before any output
    with locked_output(out) as out_dir:
        store = SweepStore.for_output(out_dir, config=checkpoint_config(cfg), fresh=fresh, log=log)
        if store.active:
            log(f"[lm-distill] {store.describe()}")
        log(f"[lm-distill] {data['meta']['kind']}: V = {data['vocab_size']}, "
            f"{len(data['teacher_train'])} teacher / {len(data['train'])} student / "
            f"{len(data['test'])} test rows of {cfg.seq_length} "
            f"tokens, size {cfg.size}, {cfg.num_seeds} seeds")
        results = distill(cfg, data, Units(store), progress=progress, log=log)
        results["provenance"] = provenance()
        write_csv(out_dir / "results.csv", results["rows"],
                  fields=["method", "mode", "divergence", "seed",
                          *[m for m in METRICS if m in results["rows"][0]]])
        save_figure(figure(results), out_dir / "lm_distillation.png")
        results["timing"] = {"runtime_s": time.perf_counter() - t0}
        write_json(out_dir / "results.json", results)
        log(format_table(results))
        log(f"[lm-distill] wrote {out_dir}/results.json, results.csv, lm_distillation.png in "
            f"{results['timing']['runtime_s']:.0f} s")
        return results


def figure(results: dict):
    """Bars of bits per token and KL(p*||.) per method, the teacher dashed; with a posterior
    comparison, KL(p*||.) of each posterior teacher and of its student."""
    import matplotlib.pyplot as plt

    summary = results["summary"]
    metrics = [m for m in ("bits_per_token", "kl_true", "sample_nll_true")
               if m in next(iter(summary.values()))]
    post = results.get("posteriors")
    extra = 1 if post and "kl_true" in metrics else 0
    fig, axes = plt.subplots(1, len(metrics) + extra, figsize=(4.2 * (len(metrics) + extra), 3.6),
                             squeeze=False)
    if extra:
        _posterior_panel(axes[0][-1], post)
    names = list(summary)
    for ax, m in zip(axes[0][:len(metrics)], metrics, strict=True):
        means = [summary[n][m]["mean"] for n in names]
        stds = [summary[n][m]["std"] for n in names]
        ax.barh(range(len(names)), means, xerr=stds, color=["0.6"] + ["C0"] * (len(names) - 1))
        if all(f"{m}_best" in summary[n] for n in names):
            ax.plot([summary[n][f"{m}_best"]["mean"] for n in names], range(len(names)), "kx",
                    label="at lowest validation NLL")
        ax.set_yticks(range(len(names)), names, fontsize=8)
        ax.invert_yaxis()
        if m in results["teacher"]:
            ax.axvline(results["teacher"][m], color="k", ls="--", lw=1, label="teacher")
        lo = min(np.array(means) - np.array(stds))
        ax.set_xlim(left=max(0.0, lo - 0.1 * abs(lo)) if m != "kl_true" else 0.0)
        ax.set_title({"bits_per_token": "held-out bits per token",
                      "kl_true": "KL(p* || model) per token",
                      "sample_nll_true": "true NLL of own samples"}[m], fontsize=9)
    axes[0][0].legend(fontsize=7)
    if len(metrics) > 1:
        axes[0][1].legend(fontsize=7)
    fig.suptitle(f"lm-distill on {results['data']['kind']} ({results['size']}, "
                 f"{results['config']['seeds']} seeds; grey: hard labels)", fontsize=10)
    fig.tight_layout()
    return fig


def _posterior_panel(ax, post: dict) -> None:
    """KL(p*||teacher predictive) and KL(p*||student) (mean and std over seeds) per posterior."""
    labels = list(post["teachers"])
    x = np.arange(len(labels))
    teacher = [post["teachers"][a]["kl_true"] for a in labels]
    student = [post["summary"][a]["kl_true"] for a in labels]
    ax.bar(x - 0.2, teacher, 0.4, color="0.4", label="teacher predictive")
    ax.bar(x + 0.2, [s["mean"] for s in student], 0.4, yerr=[s["std"] for s in student],
           color="C1", label=f"student ({post['method']})")
    for i, a in enumerate(labels):
        ax.annotate(f"MI {post['teachers'][a]['mutual_information']:.3f}", (x[i] - 0.2, teacher[i]),
                    ha="center", va="bottom", fontsize=6)
    ax.set_xticks(x, labels, fontsize=7)
    ax.set_title("posterior teachers: KL(p* || .) per token", fontsize=9)
    ax.set_ylim(top=1.25 * max(teacher + [s["mean"] + s["std"] for s in student]))
    ax.legend(fontsize=7, loc="upper center", ncol=2)


def format_table(results: dict) -> str:
    cols = [m for m in METRICS if m in next(iter(results["summary"].values()))]
    head = f"{'method':22s}" + "".join(f"{c:>20s}" for c in cols)
    lines = [head, "-" * len(head)]
    for name, s in results["summary"].items():
        lines.append(f"{name:22s}" + "".join(f"{format_mean_std(s[c], digits=4):>20s}" for c in cols))
    t = results["teacher"]
    lines.append(f"{'teacher':22s}" + "".join(f"{t.get(c, float('nan')):>20.4f}" for c in cols))
    if "posteriors" in results:
        post = results["posteriors"]
        lines += ["", f"{'teacher posterior':22s}{'teacher KL(p*||q)':>20s}{'teacher MI':>20s}"
                      f"{'student KL(p*||q)':>20s}", "-" * 82]
        for label, t in post["teachers"].items():
            st = post["summary"][label]
            lines.append(f"{label:22s}{t.get('kl_true', float('nan')):>20.4f}"
                         f"{t['mutual_information']:>20.4f}"
                         + (f"{format_mean_std(st['kl_true'], digits=4):>20s}"
                            if "kl_true" in st else ""))
    return "\n".join(lines)


def add_cli(sub) -> None:
    """Add the ``lm-distill`` subcommand."""
    p = sub.add_parser("lm-distill", help="distil a small transformer LM (HMM language or text)",
                       description=sys.modules[__name__].__doc__.split("\n\n")[0])
    p.add_argument("--data", default="hmm", help="hmm | text (stdlib docstrings) | FILE (UTF-8)")
    p.add_argument("--mode", default=",".join(MODES),
                   help=f"comma-separated subset of {','.join(MODES)} (default: all)")
    p.add_argument("--divergence", default=None,
                   help=f"comma-separated subset of {','.join(DIVERGENCES)} (default: five for "
                        "token mode, forward_kl otherwise)")
    p.add_argument("--teacher", default=None, help="teacher LAYERSxWIDTH (default: by size)")
    p.add_argument("--student", default=None, help="student LAYERSxWIDTH (default: by size)")
    p.add_argument("--teacher-posterior", default=None,
                   help=f"the teacher's predictive: {' | '.join(POSTERIORS)} (default: single, or "
                        "ensemble with --teacher-members > 1); a comma-separated list also trains "
                        "a teacher of each and the token/forward-KL student from each, compared "
                        "with the first")
    p.add_argument("--teacher-members", type=int, default=None,
                   help="members of an ensemble teacher (the predictive averages probabilities; "
                        f"default {ENSEMBLE_MEMBERS} for --teacher-posterior ensemble, else 1)")
    p.add_argument("--teacher-dropout", type=float, default=0.1,
                   help="MC-dropout teacher: drop probability in (0, 1) while training and "
                        "predicting")
    p.add_argument("--teacher-samples", type=int, default=8,
                   help="MC-dropout teacher: dropout masks averaged by the predictive (>= 1)")
    p.add_argument("--top-k", type=int, default=None, help="offline table keeps the top k logits")
    p.add_argument("--tail", default="uniform", help=f"top-k missing mass: {', '.join(TAILS)}")
    p.add_argument("--temperature", type=float, default=1.0, help="distillation temperature")
    p.add_argument("--sample-temperature", type=float, default=1.0,
                   help="sampling temperature of teacher/student samples")
    p.add_argument("--beta", type=float, default=0.5, help="JSD beta in [0, 1]")
    p.add_argument("--lam", type=float, default=0.1, help="skew KL lambda in [0, 1]")
    p.add_argument("--label-weight", type=float, default=0.0, help="hard-label share in [0, 1]")
    p.add_argument("--on-policy", type=float, default=0.5,
                   help="GKD: fraction of each batch that is the student's own samples")
    p.add_argument("--seq-len", type=int, default=None, help="tokens per row (default: by size)")
    p.add_argument("--max-len", type=int, default=None, help="model positions (default: seq-len)")
    p.add_argument("--vocab-size", type=int, default=None, help="HMM vocabulary or BPE size")
    p.add_argument("--tokenizer", default="bpe", help="bpe | byte (text data)")
    p.add_argument("--init", default="random",
                   help="random | distilbert (student blocks copied from every other teacher block)")
    p.add_argument("--hidden-weight", type=float, default=0.0,
                   help="DistilBERT cosine loss on final hidden states (online mode), in [0, 1]")
    p.add_argument("--size", default="quick", help="smoke | quick | full (default quick)")
    p.add_argument("--seeds", type=int, default=None, help="number of seeds (default: by size)")
    p.add_argument("--out", default="paper_figures/lm_distill", help="output folder")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--fresh", action="store_true", help="ignore checkpoints in --out")
    p.set_defaults(func=_run_cli)


def _split(value: str | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(v.strip() for v in value.split(",") if v.strip())


def _run_cli(args) -> int:
    from bayeskd.data.text import TOKENIZERS, read_text_file
    from bayeskd.io import check_out_dir

    check_choice(args.tokenizer, TOKENIZERS, name="--tokenizer")
    if args.data not in ("hmm", "text"):
        read_text_file(args.data)
    posteriors = _split(args.teacher_posterior) or ()
    main = posteriors[0] if posteriors else None
    members = args.teacher_members if args.teacher_members is not None else (
        ENSEMBLE_MEMBERS if main == "ensemble" else 1)
    cfg = LMDistillConfig(
        data=args.data, modes=_split(args.mode) or (), divergences=_split(args.divergence),
        size=args.size, seeds=args.seeds, teacher=args.teacher, student=args.student,
        seq_len=args.seq_len, max_len=args.max_len, temperature=args.temperature,
        beta=args.beta, lam=args.lam, label_weight=args.label_weight, top_k=args.top_k,
        tail=args.tail, on_policy=args.on_policy, sample_temperature=args.sample_temperature,
        teacher_members=members, teacher_posterior=main,
        compare_posteriors=posteriors if len(posteriors) > 1 else (),
        teacher_dropout=args.teacher_dropout, teacher_samples=args.teacher_samples,
        tokenizer=args.tokenizer,
        vocab_size=args.vocab_size, init=args.init, hidden_weight=args.hidden_weight)
    check_out_dir(args.out)
    run(cfg, out=args.out, progress=False if args.no_progress else None, fresh=args.fresh)
    return 0

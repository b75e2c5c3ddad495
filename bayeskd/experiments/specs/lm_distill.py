r"""``bayeskd lm-distill``: a small transformer distilled into a smaller one, against the exact
predictive of an HMM language (:mod:`bayeskd.data.hmm`) or on real text (``--data text``).

The same student, seeds and steps under every method of
:data:`bayeskd.training.lm_distill.METHODS` (``hard``: the tokens alone), scored per held-out
token at the final step and at the lowest validation NLL; teachers may be posterior predictives,
compared with ``--compare-posteriors`` by the ``token-forward_kl`` student of each.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from bayeskd.data.lm_corpus import load_corpus
from bayeskd.data.text import TOKENIZERS, read_text_file
from bayeskd.experiments import kit
from bayeskd.models.transformer import TransformerConfig
from bayeskd.training import TrainConfig
from bayeskd.training import lm_distill as L
from bayeskd.training.lm import TAILS, LMObjective
from bayeskd.training.memory import check_fits_memory, estimate_lm_fit_bytes

POST_METHOD = "token-forward_kl"  # the student of each teacher of a posterior comparison
M = ("nll", "bits_per_token", "kl_true", "sample_nll_true", "nll_best", "kl_true_best",
     "best_step")


@dataclasses.dataclass(frozen=True)
class Config:
    data: str = kit.option("hmm", "hmm, text (stdlib docstrings) or a UTF-8 FILE")
    methods: tuple[str, ...] = kit.choice(("hard", *(f"token-{d}" for d in (
        "forward_kl", "reverse_kl", "jsd", "skew_kl", "tvd")), "online-forward_kl", "sequence",
        "on_policy-forward_kl"), L.METHODS, "student methods")
    seeds: int = kit.count(3, "students per method")
    seed: int = kit.option(0, "seed of the data and students (teacher: + 1000)", min=0)
    vocab_size: int = kit.count(512, "HMM vocabulary")
    num_states: int = kit.count(32, "HMM hidden states")
    bpe_vocab: int = kit.count(2048, "BPE vocabulary (text)")
    tokenizer: str = kit.choice("bpe", TOKENIZERS, "text tokenizer")
    text_files: int | None = kit.count(None, "stdlib files read for --data text (none: all)")
    seq_len: int = kit.count(32, "tokens per row (and model positions)")
    teacher_rows: int = kit.count(8000, "teacher training rows")
    num_train: int = kit.count(1000, "student rows (the first teacher rows)")
    num_test: int = kit.count(200, "test rows (and validation rows)")
    teacher_layers: int = kit.count(2, "teacher blocks")
    teacher_width: int = kit.count(128, "teacher width (4 heads)")
    student_layers: int = kit.count(1, "student blocks")
    student_width: int = kit.count(64, "student width (4 heads)")
    teacher_steps: int = kit.count(2000, "teacher steps")
    student_steps: int = kit.count(1000, "student steps")
    batch_size: int = kit.count(32, "rows per step")
    eval_every: int = kit.count(250, "steps between evaluations")
    learning_rate: float = kit.positive(3e-3, "learning rate")
    temperature: float = kit.positive(1.0, "distillation temperature")
    beta: float = kit.unit(0.5, "JSD beta (0: forward KL, 1: reverse KL)")
    lam: float = kit.unit(0.1, "skew KL lambda")
    label_weight: float = kit.unit(0.0, "hard-label share")
    top_k: int | None = kit.count(None, "offline table keeps the top k (none: all)")
    tail: str = kit.choice("uniform", TAILS, "top-k missing mass")
    on_policy: float = kit.unit(0.5, "GKD: share of each batch that is student samples")
    sample_temperature: float = kit.positive(1.0, "temperature of teacher/student samples")
    teacher_posterior: str = kit.choice("single", L.POSTERIORS, "the teacher's predictive")
    ensemble_members: int = kit.option(4, "members of an ensemble teacher", min=2)
    teacher_dropout: float = kit.option(0.1, "MC-dropout rate", min=0, max=0.99, open_min=True)
    teacher_samples: int = kit.count(8, "MC-dropout masks averaged")
    compare_posteriors: tuple[str, ...] = kit.choice((), L.POSTERIORS, "teachers compared")
    init: str = kit.choice("random", ("random", "distilbert"), "student initialisation")
    hidden_weight: float = kit.unit(0.0, "DistilBERT cosine loss weight (online)")


def check(cfg: Config) -> None:
    t, s = (cfg.teacher_layers, cfg.teacher_width), (cfg.student_layers, cfg.student_width)
    if (cfg.init == "distilbert" or cfg.hidden_weight > 0) and (s[1] != t[1] or s[0] > t[0]):
        raise ValueError(f"student_width: a DistilBERT student needs the teacher's width {t[1]} "
                         f"and at most {t[0]} layers, got {s[0]}x{s[1]}")
    if cfg.data == "hmm" and cfg.top_k is not None and cfg.top_k > cfg.vocab_size:
        raise ValueError(f"top_k: must be at most the vocabulary {cfg.vocab_size}, got {cfg.top_k}")
    if cfg.data not in ("hmm", "text"):
        read_text_file(cfg.data)
    vocab = cfg.vocab_size if cfg.data == "hmm" else cfg.bpe_vocab
    check_fits_memory(estimate_lm_fit_bytes(
        layers=max(cfg.teacher_layers, cfg.student_layers), vocab=vocab, seq_len=cfg.seq_len,
        width=max(cfg.teacher_width, cfg.student_width), batch_size=cfg.batch_size,
        members=cfg.seeds, table_rows=cfg.num_train + cfg.num_test, table_width=cfg.top_k,
        extra_values=2 * cfg.num_test * cfg.seq_len * vocab + cfg.num_states * (vocab + 1)),
        name="seeds", data_name=max(  # the data setting grown most from its default
            ("num_train", "num_test", "seq_len", "vocab_size" if cfg.data == "hmm" else "bpe_vocab"),
            key=lambda k: getattr(cfg, k) / getattr(Config(), k)),
        what=f"{cfg.seeds} students (vocabulary {vocab})")


def model(cfg: Config, who: str, vocab: int, dropout: float = 0.0) -> TransformerConfig:
    return TransformerConfig(vocab_size=vocab, num_layers=getattr(cfg, f"{who}_layers"),
                             width=getattr(cfg, f"{who}_width"), num_heads=4, max_len=cfg.seq_len,
                             dropout=dropout)


def recipe(cfg: Config, steps: int) -> TrainConfig:
    return TrainConfig(steps=steps, batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
                       eval_every=cfg.eval_every)


def teacher(cfg: Config, data, ctx, post: str) -> tuple[str, L.LMTeacher]:
    """``(label, teacher)`` of posterior ``post``: ``single``, ``ensemble-M``, ``mc_dropout-S``."""
    label = {"single": "single", "ensemble": f"ensemble-{cfg.ensemble_members}",
             "mc_dropout": f"mc_dropout-{cfg.teacher_samples}"}[post]
    name = "teacher" if post == "single" else f"teacher-{label}"
    tm = model(cfg, "teacher", data.vocab_size, cfg.teacher_dropout * (post == "mc_dropout"))
    unit = ctx.unit(name, lambda: L.train_lm_teacher(
        tm, data, config=recipe(cfg, cfg.teacher_steps), seed=cfg.seed, posterior=post,
        members=cfg.ensemble_members if post == "ensemble" else 1, samples=cfg.teacher_samples,
        progress=ctx.progress, checkpoint=ctx.trainer(name)))
    return label, L.LMTeacher.from_unit(tm, unit, posterior=post, samples=cfg.teacher_samples)


def measure(cfg: Config, ctx, prefix: str = "", topk: bool = True) -> kit.Measured:
    """Every method's students (rows ``part=student``), the posterior comparison (``posterior``,
    ``member``, ``teacher``) and the top-k tables' errors (``topk``); ``prefix`` names the
    students' units (figures that run several configurations with one teacher unit)."""
    data = load_corpus(cfg.data, seed=cfg.seed, seq_len=cfg.seq_len, teacher_rows=cfg.teacher_rows,
                       num_train=cfg.num_train, num_test=cfg.num_test, num_states=cfg.num_states,
                       vocab_size=cfg.vocab_size, bpe_vocab=cfg.bpe_vocab, tokenizer=cfg.tokenizer,
                       text_files=cfg.text_files)
    label, t = teacher(cfg, data, ctx, cfg.teacher_posterior)
    obj = LMObjective(temperature=cfg.temperature, beta=cfg.beta, lam=cfg.lam,
                      label_weight=cfg.label_weight, on_policy=cfg.on_policy,
                      sample_temperature=cfg.sample_temperature, hidden_weight=cfg.hidden_weight)

    def students(method, tt, name, sample=True):
        return ctx.unit(name, lambda: L.train_method(
            method, tt, data, student=model(cfg, "student", data.vocab_size), objective=obj,
            config=recipe(cfg, cfg.student_steps), seeds=cfg.seeds, seed=cfg.seed, top_k=cfg.top_k,
            tail=cfg.tail, distilbert=cfg.init == "distilbert", sample=sample,
            progress=ctx.progress, checkpoint=ctx.trainer(name)))

    rows, done = [], {}
    for m in cfg.methods:
        done[m] = u = students(m, t, f"{prefix}student-{m}")
        rows += [{"part": "student", "method": m, "seed": s} | r for s, r in enumerate(u["rows"])]
        ctx.log(f"{m:22s} NLL {np.mean([r['nll'] for r in u['rows']]):.4f}")
    for post in cfg.compare_posteriors:
        pl, pt = (label, t) if post == cfg.teacher_posterior else teacher(cfg, data, ctx, post)
        u = (done.get(POST_METHOD) if pt is t else None) or students(
            POST_METHOD, pt, f"{prefix}{pl}-student-{POST_METHOD}", sample=False)
        key = {"teacher_posterior": pl}
        rows += [{"part": "posterior", "seed": s} | key | r for s, r in enumerate(u["rows"])]
        rows += [{"part": "member", "seed": s} | key | r
                 for s, r in enumerate(pt.unit["members"]) if post == "ensemble"]
        rows.append({"part": "teacher", "seed": 0} | key | pt.unit["metrics"])
    rows.append({"part": "teacher", "seed": 0, "teacher_posterior": f"{label} (main)"}
                | t.unit["metrics"] | {"param_count": t.unit["param_count"]})
    if topk:
        rows += [{"part": "topk", "seed": 0} | r for r in ctx.unit(
            f"{prefix}topk-error", lambda: {"rows": L.topk_errors(L.posterior_teacher(
                t.graphdef, t.params_M, posterior="single"), data)})["rows"]]
    return kit.Measured(rows, {"curves": {m: u["curve"] for m, u in done.items()},
                               "data": data.meta | data.sizes(),
                               "student_params": next(iter(done.values()))["param_count"]})


TK = ("kl_full_to_topk", "kl_topk_to_full", "tvd", "missing_mass", "bytes_per_token",
      "full_bytes_per_token")
TABLES = {"methods": kit.Table("method", M, {"part": "student"}),
          "posteriors": kit.Table("teacher_posterior", M, {"part": "posterior"}),
          "teachers": kit.Table("teacher_posterior", M[:4] + ("mutual_information",
                                                              "param_count"), {"part": "teacher"}),
          "members": kit.Table("part", ("kl_true",), {"part": "member"}),
          "topk": kit.Table(("k", "tail"), TK, {"part": "topk"})}
C = tuple((m, m, 1, 4) for m in M[:-1] + ("mutual_information",))
REPORT = {"methods": C[:-1], "teachers": C[:4] + (C[-1],), "posteriors": C[:3]}


def plot(v, cfg: Config) -> dict:
    P, s = kit.panels, v.summary["methods"]
    t = next(iter(r for r in v.rows if r["part"] == "teacher" and "(main)" in r[
        "teacher_posterior"]))
    shown = [m for m in ("bits_per_token", "kl_true", "sample_nll_true") if m in s["hard"]]
    fig, axes = P.grid(len(shown))
    for ax, m in zip(axes, shown, strict=True):
        P.bars(ax, list(s), {m: [s[k][m] for k in s]}, rotate=True, title=m, refs={
            "teacher": t[m]} if m in t else None, ylabel=f"{m} per held-out token")
    return {"lm_distillation": P.finish(fig, f"{cfg.data}: students by method (mean ± std)")}


SPEC = kit.Spec(
    name="lm_distill", command="lm-distill", title="distil a small transformer language model",
    paper="", mirrors="", claim="Distilled students of one teacher, compared with the same "
    "student on the tokens alone, against the exact predictive of the language.",
    sizes=kit.sizes(Config(), smoke=dict(
        vocab_size=64, num_states=8, seq_len=16, num_train=64, teacher_rows=256, num_test=32,
        teacher_layers=1, teacher_width=32, student_width=16, teacher_steps=60, student_steps=40,
        seeds=2, batch_size=16, eval_every=20, text_files=8, bpe_vocab=300), full=dict(
        vocab_size=4096, num_states=64, seq_len=64, num_train=4000, teacher_rows=32000,
        num_test=500, teacher_layers=4, teacher_width=256, student_layers=2, student_width=128,
        teacher_steps=8000, student_steps=4000, seeds=5, eval_every=500, bpe_vocab=4096)),
    measure=measure, check=check, tables=TABLES, plot=plot, report=REPORT)

#: the committed run on real text: the standard library's docstrings, online KD against hard labels
TEXT = dataclasses.replace(SPEC, name="lm_distill_text", title="distil a small transformer "
                           "language model on the standard library's docstrings",
                           preset={"data": "text", "methods": ("hard", "online-forward_kl")})

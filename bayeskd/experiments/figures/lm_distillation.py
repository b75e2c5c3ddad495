r"""``lm_distillation``: a small transformer distilled on the HMM language, against the exact predictive.

The ``bayeskd lm-distill`` job at a fixed configuration: a teacher transformer trained on
sampled sequences of a random HMM language; the same student, same seeds, same steps, trained
on the sampled tokens alone (``hard``), by offline token-level KD under each divergence, online,
sequence-level (Kim & Rush 2016) and on-policy (GKD). Measured per held-out token: bits,
:math:`\mathrm{KL}(p^*\|\cdot)` to the exact posterior predictive of the forward algorithm, and
the true NLL of each model's own samples (sample quality). Every student is scored at its final
step and at the evaluation point of lowest validation NLL (early stopping: the hard-label student
over-fits at equal steps). Also the top-k teacher tables' error against the full teacher, per
tail treatment, and posterior teachers: one network, an ensemble of 4 and MC dropout (8 masks),
with :math:`\mathrm{KL}(p^*\|\cdot)` and the mutual information of each teacher's predictive and
:math:`\mathrm{KL}(p^*\|\cdot)` of the token-level forward-KL student distilled from each.

Command: ``bayeskd reproduce lm_distillation --size quick`` (3 seeds; teacher 2 x 64 for 600
steps, students 500; hard, token-level forward and reverse KL, sequence-level and on-policy forward KL, and the
posterior teachers; the job ``bayeskd lm-distill`` covers every mode and divergence; about 5 min
on 2 otherwise idle cores: 310 s of CPU time).
"""

from __future__ import annotations

import dataclasses

from bayeskd.experiments.figures._base import Comparison, FigureInfo, Report, Units
from bayeskd.experiments.lm_distill import LMDistillConfig, distill, figure, load_lm_data
from bayeskd.metrics import format_mean_std, mean_std

INFO = FigureInfo(
    name="lm_distillation",
    title="distilling a transformer LM on a language with a known predictive",
    paper="Y. Kim, A. Rush. Sequence-Level Knowledge Distillation. EMNLP 2016; Y. Gu et al. "
          "MiniLLM. ICLR 2024; R. Agarwal et al. GKD. ICLR 2024; Arcee DistillKit (top-k logits)",
    mirrors="Kim & Rush Table 1 (word- vs sequence-level KD), MiniLLM Table 1 (reverse KL), "
            "GKD Fig. 1 (on-policy data), DistillKit's top-k logit tables",
    claim="Distilled students beat students trained on the data alone; sequence-level KD beats "
          "word-level; reverse KL gives higher-quality samples; on-policy data helps; top-k "
          "logits keep most of the teacher at a small fraction of the bytes.",
    runtime={"smoke": "~3 min", "quick": "~5 min", "full": "~3 h"},
)

POSTERIORS = ("single", "ensemble", "mc_dropout")


@dataclasses.dataclass(frozen=True)
class Size:
    seeds: int
    config: LMDistillConfig
    methods: tuple | None = None  # (mode, divergence) pairs; None: every one of the config


SIZES = {
    "smoke": Size(seeds=2, config=LMDistillConfig(
        size="smoke", modes=("token", "online", "sequence", "on_policy"),
        divergences=("forward_kl",), compare_posteriors=POSTERIORS)),
    # quick: a 2 x 64 teacher trained 600 steps and students trained 500 (the job's quick
    # teacher is 2 x 128, 2,000 steps; its students 1,000) and five methods, so that the figure
    # and its two extra posterior teachers fit about five minutes; online KD is left out (with
    # the full table it is the same loss as token-level KD: equal numbers in the job) and the
    # job, `bayeskd lm-distill`, covers every mode and divergence
    "quick": Size(seeds=3, config=LMDistillConfig(
        size="quick", teacher="2x64", teacher_steps=600, student_steps=500,
        compare_posteriors=POSTERIORS),
        methods=(("hard", None), ("token", "forward_kl"), ("token", "reverse_kl"),
                 ("sequence", None), ("on_policy", "forward_kl"))),
    "full": Size(seeds=5, config=LMDistillConfig(size="full", compare_posteriors=POSTERIORS)),
}


def _mean(summary, method, metric):
    return summary.get(method, {}).get(metric, {}).get("mean", float("nan"))


def run(size: Size, *, seeds: int, log=None, progress=None, units: Units | None = None) -> Report:
    units = units or Units()
    log = log or (lambda msg: None)
    cfg = dataclasses.replace(size.config, seeds=seeds)
    res = distill(cfg, load_lm_data(cfg), units, progress=progress, log=log,
                  methods=size.methods)
    s = res["summary"]
    distilled = [m for m in s if m != "hard"]
    vs = res["versus_hard"]
    comparisons = []
    for suffix, when in (("", "at the final step (equal steps)"),
                         ("_best", "each at its lowest validation NLL (early stopping)")):
        kl, nll = f"kl_true{suffix}", f"nll{suffix}"
        beat = [m for m in distilled if vs[kl][m]["better_by_2std"] and vs[nll][m]["better_by_2std"]]
        best = min(distilled, key=lambda m, kl=kl: _mean(s, m, kl))
        comparisons.append(Comparison(
            f"distilled students vs the same student on the tokens alone, {when} "
            "(KL(p*‖q) and NLL, > 2 std, 3+ seeds)", "distillation helps",
            f"{len(beat)} of {len(distilled)} methods better by > 2 std; hard KL "
            f"{format_mean_std(s['hard'][kl])}, best {best} {format_mean_std(s[best][kl])}",
            agrees=len(beat) == len(distilled)))
    if "sequence" in s and "token-forward_kl" in s:
        comparisons.append(Comparison(
            "sequence-level vs word-level KD (KL(p*‖q))", "sequence-level better (Kim & Rush)",
            f"sequence {format_mean_std(s['sequence']['kl_true'])}, token {format_mean_std(s['token-forward_kl']['kl_true'])}",
            agrees=_mean(s, "sequence", "kl_true") < _mean(s, "token-forward_kl", "kl_true")))
    if "token-reverse_kl" in s and "token-forward_kl" in s:
        comparisons.append(Comparison(
            "sample quality: true NLL of the student's own samples", "reverse KL better (MiniLLM)",
            f"reverse {format_mean_std(s['token-reverse_kl']['sample_nll_true'])}, forward "
            f"{format_mean_std(s['token-forward_kl']['sample_nll_true'])}",
            agrees=_mean(s, "token-reverse_kl", "sample_nll_true")
            < _mean(s, "token-forward_kl", "sample_nll_true")))
    # off-policy reference: online KD, or token-level KD with the full table (the same loss)
    off = next((m for m in ("online-forward_kl", "token-forward_kl") if m in s), None)
    if "on_policy-forward_kl" in s and off is not None:
        comparisons.append(Comparison(
            f"on-policy (GKD) vs off-policy KD ({off.split('-')[0]}), KL(p*‖q)",
            "on-policy better (GKD)",
            f"on-policy {format_mean_std(s['on_policy-forward_kl']['kl_true'])}, off-policy "
            f"{format_mean_std(s[off]['kl_true'])}",
            agrees=_mean(s, "on_policy-forward_kl", "kl_true") < _mean(s, off, "kl_true")))
    topk = [r for r in res["topk_error"] if r["tail"] == "uniform"]
    if topk:
        r = max(topk, key=lambda r: r["k"])
        comparisons.append(Comparison(
            f"top-{r['k']} logits (uniform tail): bytes and error",
            "most of the teacher at a small fraction of the bytes (DistillKit)",
            f"{r['bytes_per_token'] / r['full_bytes_per_token']:.1%} of the bytes, "
            f"KL(full‖top-k) {r['kl_full_to_topk']:.4f} nats, TVD {r['tvd']:.4f}",
            agrees=None))
    if "posteriors" in res:
        comparisons += posterior_comparisons(res["posteriors"])
    t = res["teacher"]
    best = min(distilled, key=lambda m: _mean(s, m, "kl_true"))
    headline = (f"KL(p*‖q): teacher {t['kl_true']:.3f}, hard {_mean(s, 'hard', 'kl_true'):.3f} "
                f"(early-stopped {_mean(s, 'hard', 'kl_true_best'):.3f}),"
                f" {best} {_mean(s, best, 'kl_true'):.3f} nats/token")
    notes = [f"HMM language: V = {res['data']['vocab_size']}, {res['data']['num_states']} states; "
             f"teacher {res['config']['teacher']} (layers, width) trained on "
             f"{res['data']['num_teacher_train']} sequences; students "
             f"{res['config']['student']} on the first {res['data']['num_train']} of them. The "
             f"exact predictive's NLL on the test rows is {res['data']['true_nll']:.3f} nats.",
             f"Teacher {res['config']['teacher_steps']} steps, students "
             f"{res['config']['student_steps']}, evaluated every {res['config']['eval_every']} "
             f"steps on {res['data']['num_val']} validation rows (teacher rows the students did "
             "not see); `_best` metrics are test metrics at each seed's lowest validation NLL."]
    return Report(rows=res["rows"], summary=s, comparisons=comparisons,
                  figures={"lm_distillation": figure(res)}, headline=headline,
                  extra={"teacher": t, "topk_error": res["topk_error"], "versus_hard": vs,
                         "data": res["data"], "posteriors": res.get("posteriors"),
                         "curves": res["curves"], "config": res["config"]}, notes=notes)


def posterior_comparisons(post: dict) -> list[Comparison]:
    """Is each posterior teacher's predictive closer to p* than one network's, and its student?"""
    teachers, summary = post["teachers"], post["summary"]
    single = next(a for a, t in teachers.items() if t["posterior"] == "single")
    out = []
    for label, t in teachers.items():
        if label == single:
            continue
        tv = post["teacher_versus_single"].get(label)
        out.append(Comparison(
            f"teacher predictive: {label} vs one network, KL(p*‖·) (> 2 std of the ensemble's "
            "members, each one network)", "the posterior predictive is closer to p*",
            f"{t['kl_true']:.4f} vs {teachers[single]['kl_true']:.4f} (one network: "
            f"{_members(post)}); mutual information "
            f"{t['mutual_information']:.4f} nats/token",
            agrees=None if tv is None else tv["better_by_2std"]))
        sv = post["student_versus_single"]["kl_true"][label]
        out.append(Comparison(
            f"student of the {label} teacher vs of one network ({post['method']}), KL(p*‖q), "
            "> 2 std over seeds", "a better teacher predictive gives a better student",
            f"{format_mean_std(summary[label]['kl_true'])} vs "
            f"{format_mean_std(summary[single]['kl_true'])}", agrees=sv["better_by_2std"]))
    return out


def _members(post: dict) -> str:
    kl = post["single_member_kl_true"]
    return format_mean_std(mean_std(kl), digits=4) + f" over {len(kl)}" if kl else "-"


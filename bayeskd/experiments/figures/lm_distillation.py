r"""``lm_distillation``: a small transformer distilled on the HMM language, against the exact predictive.

The ``bayeskd lm-distill`` job at a fixed configuration: a teacher transformer trained on
sampled sequences of a random HMM language; the same student, same seeds, same steps, trained
on the sampled tokens alone (``hard``), by offline token-level KD under each divergence, online,
sequence-level (Kim & Rush 2016) and on-policy (GKD). Measured per held-out token: bits,
:math:`\mathrm{KL}(p^*\|\cdot)` to the exact posterior predictive of the forward algorithm, and
the true NLL of each model's own samples (sample quality). Also the top-k teacher tables'
error against the full teacher, per tail treatment.

Command: ``bayeskd reproduce lm_distillation --size quick`` (3 seeds, forward and reverse KL in
every mode; about 12 min on 2 otherwise idle cores).
"""

from __future__ import annotations

import dataclasses

from bayeskd.experiments.figures._base import Comparison, FigureInfo, Report, Units
from bayeskd.experiments.lm_distill import LMDistillConfig, distill, figure, load_lm_data
from bayeskd.metrics import format_mean_std

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
    runtime={"smoke": "~1 min", "quick": "~12 min", "full": "~2 h"},
)


@dataclasses.dataclass(frozen=True)
class Size:
    seeds: int
    config: LMDistillConfig


SIZES = {
    "smoke": Size(seeds=2, config=LMDistillConfig(
        size="smoke", modes=("token", "online", "sequence", "on_policy"),
        divergences=("forward_kl",))),
    # quick: the job's quick size with forward and reverse KL only (every mode; the job itself,
    # `bayeskd lm-distill`, adds JSD, skew KL and TVD)
    "quick": Size(seeds=3, config=LMDistillConfig(size="quick",
                                                  divergences=("forward_kl", "reverse_kl"))),
    "full": Size(seeds=5, config=LMDistillConfig(size="full")),
}


def _mean(summary, method, metric):
    return summary.get(method, {}).get(metric, {}).get("mean", float("nan"))


def run(size: Size, *, seeds: int, log=None, progress=None, units: Units | None = None) -> Report:
    units = units or Units()
    log = log or (lambda msg: None)
    cfg = dataclasses.replace(size.config, seeds=seeds)
    res = distill(cfg, load_lm_data(cfg), units, progress=progress, log=log)
    s = res["summary"]
    distilled = [m for m in s if m != "hard"]
    vs = res["versus_hard"]
    beat = [m for m in distilled if vs["kl_true"][m]["better_by_2std"]
            and vs["nll"][m]["better_by_2std"]]
    comparisons = [Comparison(
        "distilled students vs the same student on the tokens alone (KL(p*‖q) and NLL, "
        "> 2 std, 3+ seeds)", "distillation helps",
        f"{len(beat)} of {len(distilled)} methods better by > 2 std; hard KL "
        f"{format_mean_std(s['hard']['kl_true'])}, best {min(distilled, key=lambda m: _mean(s, m, 'kl_true'))}"
        f" {format_mean_std(s[min(distilled, key=lambda m: _mean(s, m, 'kl_true'))]['kl_true'])}",
        agrees=len(beat) == len(distilled))]
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
    if "on_policy-forward_kl" in s and "online-forward_kl" in s:
        comparisons.append(Comparison(
            "on-policy (GKD) vs online off-policy KD, KL(p*‖q)", "on-policy better (GKD)",
            f"on-policy {format_mean_std(s['on_policy-forward_kl']['kl_true'])}, off-policy "
            f"{format_mean_std(s['online-forward_kl']['kl_true'])}",
            agrees=_mean(s, "on_policy-forward_kl", "kl_true")
            < _mean(s, "online-forward_kl", "kl_true")))
    topk = [r for r in res["topk_error"] if r["tail"] == "uniform"]
    if topk:
        r = max(topk, key=lambda r: r["k"])
        comparisons.append(Comparison(
            f"top-{r['k']} logits (uniform tail): bytes and error",
            "most of the teacher at a small fraction of the bytes (DistillKit)",
            f"{r['bytes_per_token'] / r['full_bytes_per_token']:.1%} of the bytes, "
            f"KL(full‖top-k) {r['kl_full_to_topk']:.4f} nats, TVD {r['tvd']:.4f}",
            agrees=None))
    t = res["teacher"]
    best = min(distilled, key=lambda m: _mean(s, m, "kl_true"))
    headline = (f"KL(p*‖q): teacher {t['kl_true']:.3f}, hard {_mean(s, 'hard', 'kl_true'):.3f},"
                f" {best} {_mean(s, best, 'kl_true'):.3f} nats/token")
    notes = [f"HMM language: V = {res['data']['vocab_size']}, {res['data']['num_states']} states; "
             f"teacher {res['config']['teacher']} (layers, width) trained on "
             f"{res['data']['num_teacher_train']} sequences; students "
             f"{res['config']['student']} on the first {res['data']['num_train']} of them. The "
             f"exact predictive's NLL on the test rows is {res['data']['true_nll']:.3f} nats."]
    return Report(rows=res["rows"], summary=s, comparisons=comparisons,
                  figures={"lm_distillation": figure(res)}, headline=headline,
                  extra={"teacher": t, "topk_error": res["topk_error"],
                         "versus_hard": vs, "data": res["data"]}, notes=notes)

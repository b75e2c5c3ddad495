r"""``lm_distillation``: the ``bayeskd lm-distill`` job at a fixed configuration, against the
published directions of word- vs sequence-level KD, reverse KL, on-policy data, top-k logits and
posterior teachers.

On the HMM language the exact predictive :math:`p^*` is known, so every student is scored by
:math:`\mathrm{KL}(p^*\|q)` per held-out token, at its final step and at its lowest validation
NLL (``_best``). The quick size trains a narrower teacher for fewer steps than the job and five
methods (online KD with the full table is the same loss as token-level KD), plus one network,
an ensemble and MC dropout as teachers of the token-level forward-KL student.
"""
from __future__ import annotations

import dataclasses
import math

from bayeskd.experiments import kit
from bayeskd.experiments.specs import lm_distill as job
from bayeskd.training.lm_distill import POSTERIORS

QUICK = dataclasses.replace(job.Config(), teacher_width=64, teacher_steps=600, student_steps=500,
                            compare_posteriors=POSTERIORS, methods=(
                                "hard", "token-forward_kl", "token-reverse_kl", "sequence",
                                "on_policy-forward_kl"))
SMOKE = ("hard", *(f"{m}-forward_kl" for m in ("token", "online")), "sequence",
         "on_policy-forward_kl")


def margin(a: dict, b: dict, metric: str) -> float:
    """``a``'s mean minus ``b``'s, less two standard deviations of the difference (independent
    seeds): positive when ``b`` is lower by more than two std."""
    x, y = a.get(metric), b.get(metric)
    if x is None or y is None:
        return math.nan
    return x["mean"] - y["mean"] - 2 * math.hypot(x["std"], y["std"])


def labels(cfg) -> dict:
    return {"ensemble": f"ensemble-{cfg.ensemble_members}",
            "mc_dropout": f"mc_dropout-{cfg.teacher_samples}", "single": "single"}


def derive(s: dict, measured, cfg) -> dict:
    m, t, p = s["methods"], s["teachers"], s["posteriors"]
    hard, kd = m.get("hard", {}), [k for k in m if k != "hard"]
    off = next((k for k in ("online-forward_kl", "token-forward_kl") if k in m), "")
    out = {f"margin{x}": min((margin(hard, m[k], f"{q}{x}") for k in kd
                              for q in ("kl_true", "nll")), default=math.nan) for x in ("", "_best")}
    out |= kit.cells(m, "kl_true", hard_kl="hard", sequence_kl="sequence",
                     token_kl="token-forward_kl", on_policy_kl="on_policy-forward_kl",
                     off_policy_kl=off, best_kl=min(kd, key=lambda k: m[k]["kl_true"]["mean"]))
    out |= kit.cells(m, "sample_nll_true", reverse_samples="token-reverse_kl",
                     forward_samples="token-forward_kl")
    member = s["members"].get("member", {}).get("kl_true", {"std": math.nan})
    lab = labels(cfg)
    for post in POSTERIORS:
        out |= kit.cells(t, "kl_true", **{f"{post}_teacher_kl": lab[post]})
        out |= kit.cells(p, "kl_true", **{f"{post}_student_kl": lab[post]})
        out[f"{post}_student_sd"] = math.hypot(p.get(lab[post], {}).get("kl_true", {}).get(
            "std", math.nan), p.get("single", {}).get("kl_true", {}).get("std", math.nan))
    top = [k for k in s["topk"] if k[1] == "uniform"]
    r = s["topk"][max(top)] if top else {}
    return out | {"member_kl_std": member["std"], "topk_kl": r.get("kl_full_to_topk", {}).get(
        "mean", math.nan), "topk_bytes": r["bytes_per_token"]["mean"] / r[
        "full_bytes_per_token"]["mean"] if r else math.nan}


E = kit.Expectation
KR, BAYES = "Kim & Rush 2016, Table 1", "the source (a posterior-predictive teacher)"
EXPECTATIONS = (
    *(E(f"distilled students vs the same student on the tokens alone, {when}: every method "
        "lower in KL(p*‖q) and NLL by > 2 std (smallest margin)", "distillation helps", KR,
        f"margin{x}", kit.Above(0), show=("hard_kl", "best_kl"), fmt=".4f")
      for x, when in (("", "final step"), ("_best", "each at its lowest validation NLL"))),
    E("sequence-level vs word-level KD, KL(p*‖q)", "sequence-level better", KR, "sequence_kl",
      kit.Below("token_kl"), show=("token_kl",), fmt=".4f"),
    E("sample quality: true NLL of the student's own samples", "reverse KL better",
      "Gu et al. 2024 (MiniLLM), Table 1", "reverse_samples", kit.Below("forward_samples"),
      show=("forward_samples",), fmt=".4f"),
    E("on-policy (GKD) vs off-policy KD, KL(p*‖q)", "on-policy better",
      "Agarwal et al. 2024 (GKD), Fig. 1", "on_policy_kl", kit.Below("off_policy_kl"),
      show=("off_policy_kl",), fmt=".4f"),
    E("top-k logits (largest k, uniform tail): share of the bytes", "most of the teacher at a "
      "small fraction of the bytes", "Arcee DistillKit", "topk_bytes", kit.Describe(),
      show=("topk_kl",), fmt=".4f"),
    *(E(f"teacher predictive: {p} vs one network, KL(p*‖·) lower by > 2 std of the ensemble's "
        "members", "the posterior predictive is closer to p*", BAYES, f"{p}_teacher_kl",
        kit.Below("single_teacher_kl", sd="member_kl_std"), show=("single_teacher_kl",),
        fmt=".4f") for p in POSTERIORS[1:]),
    *(E(f"student of the {p} teacher vs of one network (token-forward_kl), KL(p*‖q) lower by "
        "> 2 std", "a better teacher predictive gives a better student", BAYES,
        f"{p}_student_kl", kit.Below("single_student_kl", sd=f"{p}_student_sd"),
        show=("single_student_kl",), fmt=".4f") for p in POSTERIORS[1:]),
)


def plot(v, cfg) -> dict:
    P, t, p = kit.panels, v.summary["teachers"], v.summary["posteriors"]
    fig, (ax,) = P.grid(1)
    names = [n for n in p if n in t]
    P.bars(ax, names, {"teacher predictive": [t[n]["kl_true"] for n in names],
                       "student (token-forward_kl)": [p[n]["kl_true"] for n in names]},
           title="posterior teachers", ylabel="KL(p* ‖ ·) per token")
    return job.plot(v, cfg) | {"posteriors": P.finish(fig, "posterior teachers and students")}


SPEC = kit.Spec(
    name="lm_distillation", title="distilling a transformer LM on a language with a known "
    "predictive", paper="Y. Kim, A. Rush. Sequence-Level Knowledge Distillation. EMNLP 2016; "
    "Y. Gu et al. MiniLLM. ICLR 2024; R. Agarwal et al. GKD. ICLR 2024; Arcee DistillKit",
    mirrors="Kim & Rush Table 1, MiniLLM Table 1 (reverse KL), GKD Fig. 1 (on-policy data), "
    "DistillKit's top-k logit tables",
    claim="Distilled students beat students trained on the data alone; sequence-level KD beats "
          "word-level; reverse KL gives higher-quality samples; on-policy data helps; top-k "
          "logits keep most of the teacher at a small fraction of the bytes.",
    sizes={"quick": QUICK, "smoke": dataclasses.replace(
        job.SPEC.sizes["smoke"], methods=SMOKE, compare_posteriors=POSTERIORS),
           "full": dataclasses.replace(job.SPEC.sizes["full"], compare_posteriors=POSTERIORS)},
    measure=job.measure, check=job.check, tables=job.TABLES, derive=derive,
    expectations=EXPECTATIONS, plot=plot, report=job.REPORT)

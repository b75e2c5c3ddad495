r"""``mode_seeking``: where a unimodal student puts its mass when fitted to a bimodal teacher.

The teacher is a distribution over ``V`` tokens with two modes; the student a discretised
Gaussian, fitted by Adam to minimise each divergence of :data:`bayeskd.losses.DIVERGENCES` (the
table the chunked kernel uses) from ``seeds`` random starting means
(:mod:`bayeskd.losses.unimodal_fit`). Reported: the student's mass on each mode, in the valley
between them, and its entropy. The student family is unimodal by construction, the simplest
stand-in for a student too small to represent every mode of its teacher.
"""

import dataclasses

import jax
import numpy as np

from bayeskd.experiments import kit
from bayeskd.losses.unimodal_fit import (
    bimodal_teacher,
    fit_unimodal,
    gaussian_logits,
    region_masses,
)

#: (divergence, JSD beta) of every arm, in plot order (beta matters only for the JSD)
DIVS = (("forward_kl", 0.5), ("jsd", 0.1), ("jsd", 0.5), ("jsd", 0.9), ("reverse_kl", 0.5),
        ("skew_kl", 0.5), ("tvd", 0.5))


def label(name: str, beta: float) -> str:
    return f"jsd(beta={beta:g})" if name == "jsd" else name


@dataclasses.dataclass(frozen=True)
class Config:
    seeds: int = kit.count(5, "random starting means per divergence")
    vocab_size: int = kit.option(128, "tokens V of the teacher", min=4)
    steps: int = kit.count(1500, "Adam steps of every fit")


def measure(cfg: Config, ctx) -> kit.Measured:
    teacher, regions = bimodal_teacher(cfg.vocab_size)

    def students() -> list[dict]:
        return [{"divergence": label(name, beta), "seed": s} | region_masses(fit_unimodal(
                    teacher, name=name, beta=beta, key=jax.random.key(s), steps=cfg.steps),
                    regions)
                for name, beta in DIVS for s in range(cfg.seeds)]

    p = np.exp(np.asarray(teacher, np.float64))
    return kit.Measured(ctx.unit("students", students),
                        extra={"teacher_valley": float(p[regions["valley"]].sum())})


TABLES = {"students": kit.Table("divergence", ("mass_major_mode", "mass_valley", "entropy",
                                               "sigma"))}


def derive(s: dict, measured, cfg: Config) -> dict:
    st = s["students"]
    return {"teacher_valley": measured.extra["teacher_valley"],
            **kit.cells(st, "mass_valley", valley_forward="forward_kl",
                        valley_reverse="reverse_kl", valley_jsd_01="jsd(beta=0.1)",
                        valley_jsd_05="jsd(beta=0.5)", valley_jsd_09="jsd(beta=0.9)"),
            **kit.cells(st, "mass_major_mode", major_forward="forward_kl",
                        major_reverse="reverse_kl")}


E = kit.Expectation
MINILLM = "Gu et al. 2024 (MiniLLM), Fig. 2"
EXPECTATIONS = (
    E("mass in the valley between the modes, forward vs reverse KL", "forward KL overestimates "
      "the teacher's low-probability regions", MINILLM, "valley_forward",
      kit.Above("valley_reverse"), show=("valley_reverse", "teacher_valley"), fmt=".3f"),
    E("mass on one mode, reverse vs forward KL", "reverse KL seeks the teacher's major modes",
      MINILLM, "major_reverse", kit.Above("major_forward"), show=("major_forward",), fmt=".3f"),
    E("valley mass of JSD(β), β = 0.1 vs 0.9", "JSD(β) interpolates from forward-like to "
      "reverse-like", "Agarwal et al. 2024 (GKD), §3", "valley_jsd_01",
      kit.Above("valley_jsd_09"), show=("valley_jsd_05", "valley_jsd_09"), fmt=".3f"),
)


def plot(v, cfg: Config) -> dict:
    P, st = kit.panels, v.summary["students"]
    fig, (a, b) = P.grid(2, width=5.0)
    tokens = np.arange(cfg.vocab_size)
    teacher, _ = bimodal_teacher(cfg.vocab_size)
    def one(q):  # a single distribution: no spread to draw
        return [{"mean": x, "std": np.nan} for x in np.asarray(q)]

    P.curve(a, tokens, one(np.exp(teacher)), label="teacher", color="0.6", marker="")
    for r in (r for r in v.rows if r["seed"] == 0):
        theta = np.array([r["mu"] / cfg.vocab_size, np.log(r["sigma"] / cfg.vocab_size)])
        q = jax.nn.softmax(gaussian_logits(theta, cfg.vocab_size))
        P.curve(a, tokens, one(q), label=r["divergence"], marker="")
    P.style(a, title="(a) unimodal students fitted to a bimodal teacher (seed 0)",
            xlabel="token", ylabel="probability")
    arms = [label(*d) for d in DIVS]
    P.bars(b, arms, {"one mode": [st[x]["mass_major_mode"] for x in arms],
                     "valley": [st[x]["mass_valley"] for x in arms]}, rotate=True,
           refs={"teacher's valley mass": v.values["teacher_valley"]},
           title="(b) where the student's mass goes (mean ± std)", ylabel="probability mass")
    return {"mode_seeking": P.finish(fig, "Forward vs reverse KL vs JSD on a bimodal teacher")}


SPEC = kit.Spec(
    name="mode_seeking",
    title="forward vs reverse KL vs JSD fitted to a bimodal teacher: where the mass goes",
    paper="Y. Gu, L. Dong, F. Wei, M. Huang. MiniLLM: Knowledge Distillation of Large Language "
          "Models. ICLR 2024; R. Agarwal et al. On-Policy Distillation of Language Models (GKD). "
          "ICLR 2024",
    mirrors="MiniLLM Fig. 2 (forward KL overestimates the low-probability regions of the "
            "teacher; reverse KL seeks its major modes); GKD §3 (JSD(β) interpolates)",
    claim="Forward KL makes a small student cover every mode of the teacher, putting mass where "
          "the teacher has little; reverse KL makes it seek one mode.",
    sizes=kit.sizes(Config(), smoke=dict(seeds=2, vocab_size=64, steps=300),
                    full=dict(seeds=10, vocab_size=256, steps=3000)),
    measure=measure, tables=TABLES, derive=derive, expectations=EXPECTATIONS, plot=plot)

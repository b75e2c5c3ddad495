r"""``mode_seeking``: where a unimodal student puts its mass when fitted to a bimodal teacher.

The teacher is a distribution over ``V`` tokens with two modes (two discretised Gaussian bumps
at tokens :math:`V/4` and :math:`3V/4`, weights 0.6 and 0.4). The student can only be unimodal:
:math:`q_v \propto \exp(-(v - \mu)^2 / 2\sigma^2)`, parameters :math:`(\mu, \log\sigma)`. It is
fitted by Adam to minimise each divergence of :data:`bayeskd.losses.DIVERGENCES` (the same
table the chunked kernel uses), from ``seeds`` random starting means. We report the mass the
student puts on each mode (within :math:`\pm 2` teacher standard deviations of its centre) and
in the valley between them, and its entropy.

The published reading (Minka 2005; MiniLLM, Gu et al. 2024; GKD, Agarwal et al. 2024): forward
KL is mode-covering (the student spreads over both modes and fills the valley), reverse KL is
mode-seeking (it locks onto one mode), and the generalised JSD interpolates.

Command: ``bayeskd reproduce mode_seeking --size quick`` (seconds).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax

from bayeskd.experiments.figures._base import (
    Comparison,
    FigureInfo,
    Report,
    Units,
)
from bayeskd.losses.divergences import divergence
from bayeskd.metrics import format_mean_std, summarize

INFO = FigureInfo(
    name="mode_seeking",
    title="forward vs reverse KL vs JSD fitted to a bimodal teacher: where the mass goes",
    paper="Y. Gu, L. Dong, F. Wei, M. Huang. MiniLLM: Knowledge Distillation of Large Language "
          "Models. ICLR 2024; R. Agarwal et al. On-Policy Distillation of Language Models (GKD). "
          "ICLR 2024",
    mirrors="MiniLLM Fig. 2 (forward KL overestimates the low-probability regions of the "
            "teacher; reverse KL seeks its major modes); GKD §3 (JSD(β) interpolates)",
    claim="Forward KL makes a small student cover every mode of the teacher, putting mass where "
          "the teacher has little; reverse KL makes it seek one mode.",
    runtime={"smoke": "~10 s", "quick": "~20 s", "full": "~40 s"},
)

DIVS = (("forward_kl", 0.5), ("jsd", 0.1), ("jsd", 0.5), ("jsd", 0.9), ("reverse_kl", 0.5),
        ("skew_kl", 0.5), ("tvd", 0.5))


@dataclasses.dataclass(frozen=True)
class Size:
    seeds: int
    vocab_size: int
    steps: int


SIZES = {
    "smoke": Size(seeds=2, vocab_size=64, steps=300),
    "quick": Size(seeds=5, vocab_size=128, steps=1500),
    "full": Size(seeds=10, vocab_size=256, steps=3000),
}


def bimodal_teacher(vocab_size: int) -> tuple[jax.Array, dict]:
    """Teacher log-probabilities ``[V]`` and the token sets of its two modes and its valley."""
    v = jnp.arange(vocab_size, dtype=jnp.float32)
    width = vocab_size / 16
    c1, c2 = vocab_size / 4, 3 * vocab_size / 4
    p = (0.6 * jnp.exp(-0.5 * ((v - c1) / width) ** 2)
         + 0.4 * jnp.exp(-0.5 * ((v - c2) / width) ** 2) + 1e-6)
    regions = {"mode_a": np.abs(np.arange(vocab_size) - c1) <= 2 * width,
               "mode_b": np.abs(np.arange(vocab_size) - c2) <= 2 * width}
    regions["valley"] = ~(regions["mode_a"] | regions["mode_b"])
    return jnp.log(p / p.sum()), regions


def _student_logits(theta, vocab_size):
    """``theta = (mu / V, log(sigma / V))``: both of order one for any ``V``."""
    v = jnp.arange(vocab_size, dtype=jnp.float32) / vocab_size
    return -0.5 * ((v - theta[0]) / jnp.exp(theta[1])) ** 2


def fit_student(teacher_logp, *, name: str, beta: float, key, steps: int) -> jax.Array:
    """``(mu, log sigma)`` minimising ``divergence(teacher, student)``, from a random mean."""
    vocab = teacher_logp.shape[0]
    mu0 = jax.random.uniform(key, (), minval=0.1, maxval=0.9)
    theta = jnp.stack([mu0, jnp.log(1 / 8.0)])
    tx = optax.adam(0.02)

    def loss(t):
        return divergence(teacher_logp, _student_logits(t, vocab), name=name, beta=beta)

    def step(carry, _):
        t, s = carry
        g = jax.grad(loss)(t)
        u, s = tx.update(g, s, t)
        return (optax.apply_updates(t, u), s), None

    (theta, _), _ = jax.lax.scan(step, (theta, tx.init(theta)), length=steps)
    return theta


def run(size: Size, *, seeds: int, log=None, progress=None, units: Units | None = None) -> Report:
    units = units or Units()
    teacher, regions = bimodal_teacher(size.vocab_size)
    p_t = np.exp(np.asarray(teacher))

    def compute():
        rows = []
        for name, beta in DIVS:
            label = name if name != "jsd" else f"jsd(beta={beta:g})"
            for s in range(seeds):
                theta = fit_student(teacher, name=name, beta=beta, key=jax.random.key(s),
                                    steps=size.steps)
                q = np.asarray(jax.nn.softmax(_student_logits(theta, size.vocab_size)), np.float64)
                major = max(q[regions["mode_a"]].sum(), q[regions["mode_b"]].sum())
                rows.append({"divergence": label, "seed": s,
                             "mu": float(theta[0]) * size.vocab_size,
                             "sigma": float(np.exp(theta[1])) * size.vocab_size,
                             "mass_mode_a": float(q[regions["mode_a"]].sum()),
                             "mass_mode_b": float(q[regions["mode_b"]].sum()),
                             "mass_major_mode": float(major),
                             "mass_valley": float(q[regions["valley"]].sum()),
                             "entropy": float(-(q * np.log(q + 1e-30)).sum())})
        return {"rows": rows}

    rows = units("students", compute)["rows"]
    metrics = ["mass_major_mode", "mass_valley", "entropy", "sigma"]
    stats = summarize(rows, group="divergence", metrics=metrics)
    fwd, rev = stats["forward_kl"], stats["reverse_kl"]
    teacher_valley = float(p_t[regions["valley"]].sum())
    comparisons = [
        Comparison("mass in the valley between the modes (teacher: "
                   f"{teacher_valley:.3f})", "forward KL puts more there than reverse KL",
                   f"forward {format_mean_std(fwd['mass_valley'])}, reverse {format_mean_std(rev['mass_valley'])}",
                   agrees=fwd["mass_valley"]["mean"] > rev["mass_valley"]["mean"]),
        Comparison("mass on one mode", "reverse KL concentrates on a single mode",
                   f"reverse {format_mean_std(rev['mass_major_mode'])}, forward "
                   f"{format_mean_std(fwd['mass_major_mode'])}",
                   agrees=rev["mass_major_mode"]["mean"] > fwd["mass_major_mode"]["mean"]),
        Comparison("JSD(β) from β=0.1 to 0.9", "moves from forward-like to reverse-like",
                   " → ".join(f"{stats[f'jsd(beta={b:g})']['mass_valley']['mean']:.3f}"
                              for b in (0.1, 0.5, 0.9)) + " valley mass",
                   agrees=stats["jsd(beta=0.1)"]["mass_valley"]["mean"]
                   >= stats["jsd(beta=0.9)"]["mass_valley"]["mean"]),
    ]
    fig = _figure(rows, teacher, size)
    headline = (f"valley mass forward KL {fwd['mass_valley']['mean']:.2f} vs reverse KL "
                f"{rev['mass_valley']['mean']:.2f}; one-mode mass {fwd['mass_major_mode']['mean']:.2f}"
                f" vs {rev['mass_major_mode']['mean']:.2f}")
    return Report(rows=rows, summary=stats, comparisons=comparisons,
                  figures={"mode_seeking": fig}, headline=headline,
                  notes=["The student family is unimodal by construction (a discretised Gaussian "
                         "over token ids), the simplest stand-in for a student too small to "
                         "represent every mode of its teacher."])


def _figure(rows, teacher, size: Size):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    v = np.arange(size.vocab_size)
    ax.fill_between(v, np.exp(np.asarray(teacher)), color="0.8", label="teacher")
    shown = set()
    for i, r in enumerate(x for x in rows if x["seed"] == 0):
        if r["divergence"] in shown:
            continue
        shown.add(r["divergence"])
        q = np.exp(-0.5 * ((v - r["mu"]) / r["sigma"]) ** 2)
        ax.plot(v, q / q.sum(), color=f"C{i}", lw=1.3, label=r["divergence"])
    ax.set_xlabel("token")
    ax.set_ylabel("probability")
    ax.set_title("unimodal students fitted to a bimodal teacher (seed 0)", fontsize=10)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig

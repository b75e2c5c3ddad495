r"""``temperature_tempering``: the KD temperature and the posterior temperature are two knobs.

On 8x8 digits: (a) MLP students of one MLP teacher distilled at each KD temperature, beside the
entropy of the softened targets; (b) SGLD chains under an :math:`\mathcal N(0, 1)` weight prior at
each posterior temperature, on plain and augmented minibatches, with split :math:`\hat R` and ESS.
"""

import dataclasses

import jax
import numpy as np

from bayeskd.data import CropFlip
from bayeskd.experiments import kit
from bayeskd.posteriors import tempering as tp
from bayeskd.priors import GaussianPrior

ALPHA, HIDDEN, PRIOR_STD, BATCH = 0.9, (30,), 1.0, 100
SETS = {"plain": None, "aug": CropFlip(pad=1, flip=False)}  # digits are not mirror-symmetric


@dataclasses.dataclass(frozen=True)
class Config:
    seeds: int = kit.count(3, "students per KD temperature, SGLD chains per setting")
    teacher_steps: int = kit.count(2000, "steps of the MLP teacher")
    student_steps: int = kit.count(2000, "steps of every student")
    kd_temperatures: tuple[float, ...] = kit.positive((1.0, 2.0, 4.0, 8.0, 16.0), "(a) KD T")
    posterior_temperatures: tuple[float, ...] = kit.positive((1.0, 0.3, 0.1, 0.03, 0.01),
                                                             "(b) posterior temperatures")
    sgld_steps: int = kit.count(6000, "SGLD steps of every chain")
    burn_in: float = kit.option(1 / 3, "share of the SGLD steps discarded", min=0, max=0.9)
    thin: int = kit.count(100, "keep every thin-th draw")
    step_size: float = kit.positive(1e-4, "SGLD step size")


def measure(cfg: Config, ctx) -> kit.Measured:
    ds = kit.load_job_dataset("digits")
    t = kit.train_teacher(ds, model="mlp", steps=cfg.teacher_steps, progress=ctx.progress)
    data, Ts = {"x": ds.x_train, "y": ds.y_train}, cfg.kd_temperatures
    priors = kit.kd_priors(t.logp_train[0], *[(ALPHA, T) for T in Ts])
    kd = kit.arm_rows(ctx, "a-kd", ds, data, priors, arms=[f"KD T={T:g}" for T in Ts],
                      seeds=cfg.seeds, steps=cfg.student_steps, key=0, extra={"part": "a"},
                      teacher_probs=t.probs_test(), model_kwargs={"hidden": HIDDEN})
    rows = [r | {"kd_temperature": T, "target_entropy": tp.softened_entropy(t.logp_test[0], T)}
            for r, T in zip(kd, kit.repeat_each(Ts, cfg.seeds), strict=True)]
    sgld = dict(num_chains=cfg.seeds, prior=GaussianPrior.from_sigma(PRIOR_STD, len(ds.x_train)),
                step_size=cfg.step_size, thin=cfg.thin, num_steps=cfg.sgld_steps,
                burn_in=int(cfg.burn_in * cfg.sgld_steps), batch_size=BATCH, progress=ctx.progress)

    def chains(tag: str, key: int, T: float) -> list[dict]:  # one SGLD chain per seed
        return [{"part": tag, "arm": f"T_post={T:g}"} | r for r in tp.tempered_chain_metrics(
            kit.model_fn("mlp", ds), data, ds.x_test, ds.y_test, temperature=T,
            key=jax.random.key(key), augment=SETS[tag], **sgld)]

    for j, tag in enumerate(SETS):
        for i, T in enumerate(cfg.posterior_temperatures):
            rows += ctx.unit(f"b-{tag}{i}", lambda tag=tag, k=10 * i + j, T=T: chains(tag, k, T))
    return kit.Measured(rows)


M = ("accuracy", "nll", "ece", "entropy")
POST = (*M, "mutual_information", "rhat_max", "ess_min")
TABLES = {"a": kit.Table("arm", (*M, "target_entropy", "agreement"), {"part": "a"})} | {
    tag: kit.Table("arm", POST, {"part": tag}) for tag in SETS}


def derive(s: dict, measured, cfg: Config) -> dict:
    Ts, Tp = cfg.kd_temperatures, cfg.posterior_temperatures
    kd = {m: [s["a"][f"KD T={T:g}"][m]["mean"] for T in Ts] for m in ("entropy", "target_entropy")}
    out = {"target_rise": float(np.min(np.diff(kd["target_entropy"]))) if len(Ts) > 1 else None}
    for tag in SETS:
        post = {m: [s[tag][f"T_post={T:g}"][m]["mean"] for T in Tp] for m in (*M, "rhat_max")}
        found = tp.cold_posterior_effect(Tp, post["nll"], post["entropy"]) | tp.entropy_meetings(
            Ts, kd["entropy"], kd["target_entropy"], Tp, post["entropy"])
        out |= {f"{k}_{tag}": v for k, v in found.items()}
        out[f"rhat_max_{tag}"] = max(post["rhat_max"])
    out["rhat_max"] = max(out["rhat_max_plain"], out["rhat_max_aug"])
    return out


E, WENZEL, IZMAILOV = kit.Expectation, "Wenzel et al. 2020, Fig. 1", "Izmailov et al. 2021, §6"
EXPECTATIONS = (
    E("KD temperature: smallest rise of the softened targets' entropy from one T to the next",
      "T > 1 softens the targets", "Hinton et al. 2015, §2", "target_rise", kit.Above(0.0)),
    E("posterior temperature: predictive entropy, warmest minus coldest T_post (augmented)",
      "a cold posterior is sharper", WENZEL, "entropy_drop_aug", kit.Above(0.0),
      show=("entropy_drop_plain",), fmt=".3f"),
    E("with augmentation: test NLL at T_post = 1 minus at the best T_post < 1",
      "cold posteriors (T ≈ 0.01–0.1) beat T = 1 (ResNet-20, CIFAR-10)", WENZEL, "nll_gain_aug",
      kit.Above(0.0), show=("nll_T1_aug", "best_cold_T_aug"), fmt=".3f"),
    E("without augmentation: the same NLL gain", "the cold-posterior effect largely disappears "
      "without augmentation (HMC)", IZMAILOV, "nll_gain_plain", kit.Below("nll_gain_aug"),
      show=("nll_gain_aug", "best_cold_T_plain"), fmt=".3f"),
    E("chains mixed: largest split R-hat of the predictive over every setting", "R-hat < 1.01 "
      "for reliable estimates", "Vehtari et al. 2021 (rank-normalised R-hat)", "rhat_max",
      kit.Below(1.01), show=("rhat_max_plain", "rhat_max_aug"), fmt=".3f"),
)


def plot(v, cfg: Config) -> dict:
    P, s, Ts, Tp = kit.panels, v.summary, cfg.kd_temperatures, cfg.posterior_temperatures
    fig, axes = P.grid(8, ncols=4, width=3.8, height=3.2)
    for j, m in enumerate(M):
        cols = {"student": m} | ({"softened targets": "target_entropy"} if m == "entropy" else {})
        a = {k: [s["a"][f"KD T={T:g}"][col] for T in Ts] for k, col in cols.items()}
        P.lines(axes[j], Ts, a, logx=True, title=f"(a) student {m}", xlabel="KD temperature T")
        P.lines(axes[4 + j], Tp, {tag: [s[tag][f"T_post={T:g}"][m] for T in Tp] for tag in SETS},
                logx=True, title=f"(b) SGLD predictive {m}", xlabel="posterior temperature")
    return {"temperature_tempering": P.finish(fig, "KD vs posterior temperature (mean ± std)")}


SPEC = kit.Spec(
    name="temperature_tempering",
    title="the KD temperature softens, the posterior temperature sharpens: two different knobs",
    paper="F. Wenzel et al. How good is the Bayes posterior in deep neural networks really? ICML "
          "2020; P. Izmailov et al. What are Bayesian neural network posteriors really like? 2021",
    mirrors="the cold-posterior sweeps of Wenzel et al. Fig. 1 and Izmailov et al. §6, on digits",
    claim="A KD temperature T > 1 adds uncertainty to the targets; a posterior temperature T < 1 "
          "removes it from the posterior, and predicts better only with augmentation.",
    sizes=kit.sizes(Config(), full=dict(seeds=5, teacher_steps=4000, student_steps=4000,
                                        sgld_steps=20000, burn_in=0.25),
                    smoke=dict(seeds=2, teacher_steps=300, student_steps=300, sgld_steps=700,
                               burn_in=0.4, kd_temperatures=(1.0, 4.0, 16.0),
                               posterior_temperatures=(1.0, 0.1))),
    measure=measure, tables=TABLES, derive=derive, expectations=EXPECTATIONS, plot=plot)

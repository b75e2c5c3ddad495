r"""The configuration of ``bayeskd lm-distill``: sizes, methods, teacher posteriors, and their checks.

:class:`LMDistillConfig` holds everything that defines a run and refuses bad settings on
construction (before any data is read or any output written); :class:`LMSize` and
:data:`SIZE_TABLE` give the data, model and run lengths of each size. The job itself is
:mod:`bayeskd.experiments.lm_distill`.
"""

from __future__ import annotations

import dataclasses

from bayeskd.experiments.common import SIZE_NAMES
from bayeskd.losses.divergences import DIVERGENCES
from bayeskd.models.transformer import TransformerConfig
from bayeskd.training.lm import TAILS, LMObjective
from bayeskd.validate import (
    check_choice,
    check_num_samples,
    check_positive_int,
    check_temperature,
    check_unit_interval,
)

MODES = ("token", "online", "sequence", "on_policy")
INITS = ("random", "distilbert")
DEFAULT_DIVERGENCES = ("forward_kl", "reverse_kl", "jsd", "skew_kl", "tvd")
POSTERIORS = ("single", "ensemble", "mc_dropout")
ENSEMBLE_MEMBERS = 4  # an ensemble teacher's size in a posterior comparison (unless given)
#: the student method of a posterior comparison
POSTERIOR_METHOD = ("token", "forward_kl")
#: per seed: the final step's test metrics, then (``_best``) the test metrics at the evaluation
#: point of lowest validation NLL and that point's step (early stopping, chosen without the test
#: rows)
METRICS = ("nll", "bits_per_token", "kl_true", "sample_nll_true", "nll_best", "kl_true_best",
           "best_step")
TOPK_VALUES = (16, 64, 256)


@dataclasses.dataclass(frozen=True)
class LMSize:
    """Run lengths and model sizes of one size.

    The teacher trains on ``teacher_rows`` sequences; the students on the first ``num_train`` of
    them (the teacher has seen the student's rows, as a large model distilled on a smaller
    transfer set). HMM: ``vocab_size``, ``num_states``, ``zipf_exponent``, ``concentration``.
    """

    vocab_size: int
    num_states: int
    seq_len: int
    num_train: int
    teacher_rows: int
    num_test: int
    teacher: tuple[int, int]  # (layers, width)
    student: tuple[int, int]
    teacher_steps: int
    student_steps: int
    seeds: int
    batch_size: int
    eval_every: int
    text_files: int | None  # stdlib files read for --data text (None: all)
    bpe_vocab: int
    zipf_exponent: float = 1.5
    concentration: float = 0.05


SIZE_TABLE = {
    "smoke": LMSize(vocab_size=64, num_states=8, seq_len=16, num_train=64, teacher_rows=256,
                    num_test=32,
                    teacher=(1, 32), student=(1, 16), teacher_steps=60, student_steps=40, seeds=2,
                    batch_size=16, eval_every=20, text_files=8, bpe_vocab=300),
    "quick": LMSize(vocab_size=512, num_states=32, seq_len=32, num_train=1000, teacher_rows=8000,
                    num_test=200, teacher=(2, 128), student=(1, 64), teacher_steps=2000, student_steps=1000,
                    seeds=3, batch_size=32, eval_every=250, text_files=None, bpe_vocab=2048),
    "full": LMSize(vocab_size=4096, num_states=64, seq_len=64, num_train=4000, teacher_rows=32000,
                   num_test=500,
                   teacher=(4, 256), student=(2, 128), teacher_steps=8000, student_steps=4000,
                   seeds=5, batch_size=32, eval_every=500, text_files=None, bpe_vocab=4096),
}


def _parse_arch(spec: str | None, name: str) -> tuple[int, int] | None:
    """``"LAYERSxWIDTH"`` (e.g. ``2x128``) as ``(layers, width)``."""
    if spec is None:
        return None
    try:
        layers, width = (int(s) for s in str(spec).lower().split("x"))
    except ValueError:
        raise ValueError(f"{name}: must be LAYERSxWIDTH like 2x128, got {spec!r}") from None
    if layers < 1 or width < 4 or width % 4:
        raise ValueError(f"{name}: needs >= 1 layer and a width divisible by 4 (4 heads), "
                         f"got {spec!r}")
    return layers, width


@dataclasses.dataclass(frozen=True)
class LMDistillConfig:
    """Everything that defines an ``lm-distill`` run (validated on construction)."""

    data: str = "hmm"
    modes: tuple[str, ...] = ("token", "online", "sequence", "on_policy")
    divergences: tuple[str, ...] | None = None
    size: str = "quick"
    seeds: int | None = None
    seed: int = 0
    teacher: str | None = None
    student: str | None = None
    seq_len: int | None = None
    max_len: int | None = None
    temperature: float = 1.0
    beta: float = 0.5
    lam: float = 0.1
    label_weight: float = 0.0
    top_k: int | None = None
    tail: str = "uniform"
    on_policy: float = 0.5
    sample_temperature: float = 1.0
    learning_rate: float = 3e-3
    teacher_members: int = 1
    teacher_posterior: str | None = None
    teacher_dropout: float = 0.1
    teacher_samples: int = 8
    compare_posteriors: tuple[str, ...] = ()
    teacher_steps: int | None = None
    student_steps: int | None = None
    tokenizer: str = "bpe"
    vocab_size: int | None = None
    init: str = "random"
    hidden_weight: float = 0.0

    def __post_init__(self):
        check_choice(self.size, SIZE_NAMES, name="size")
        if not self.modes:
            raise ValueError(f"mode: give at least one of: {', '.join(MODES)}")
        for m in self.modes:
            check_choice(m, MODES, name="mode")
        for d in self.divergences or ():
            check_choice(d, DIVERGENCES, name="divergence")
        if self.seeds is not None:
            check_positive_int(self.seeds, name="seeds")
        _parse_arch(self.teacher, "--teacher")
        _parse_arch(self.student, "--student")
        for name in ("seq_len", "max_len", "top_k", "vocab_size"):
            if getattr(self, name) is not None:
                check_positive_int(getattr(self, name), name=name)
        if self.seq_length > self.model_positions:
            raise ValueError(f"seq_len: {self.seq_length} is longer than the model's "
                             f"{self.model_positions} positions (max_len)")
        check_temperature(self.temperature)
        check_temperature(self.sample_temperature, name="sample_temperature")
        check_unit_interval(self.beta, name="beta")
        check_unit_interval(self.lam, name="lam")
        check_unit_interval(self.label_weight, name="label_weight")
        check_unit_interval(self.on_policy, name="on_policy")
        check_choice(self.tail, TAILS, name="tail")
        check_positive_int(self.teacher_members, name="teacher_members")
        if self.teacher_posterior is not None:
            check_choice(self.teacher_posterior, POSTERIORS, name="teacher_posterior")
        if self.posterior == "ensemble" and self.teacher_members < 2:
            raise ValueError(f"teacher_members: an ensemble teacher needs at least 2 members, "
                             f"got {self.teacher_members}")
        if self.posterior != "ensemble" and self.teacher_members != 1:
            raise ValueError(f"teacher_members: a {self.posterior} teacher is one network, got "
                             f"{self.teacher_members} members (use an ensemble teacher)")
        for p in self.compare_posteriors:
            check_choice(p, POSTERIORS, name="teacher_posterior")
        check_unit_interval(self.teacher_dropout, name="teacher_dropout", open_ends=True)
        check_num_samples(self.teacher_samples, name="teacher_samples")
        for name in ("teacher_steps", "student_steps"):
            if getattr(self, name) is not None:
                check_positive_int(getattr(self, name), name=name)
        check_choice(self.init, INITS, name="init")
        check_unit_interval(self.hidden_weight, name="hidden_weight")
        t, s = self.arch("teacher"), self.arch("student")
        if self.init == "distilbert" or self.hidden_weight > 0:
            what = "DistilBERT initialisation" if self.init == "distilbert" else "hidden_weight"
            if s[1] != t[1]:
                raise ValueError(f"--student: {what} needs the teacher's width {t[1]}, got "
                                 f"{self.student or f'{s[0]}x{s[1]}'}")
            if s[0] > t[0]:
                raise ValueError(f"--student: {what} needs a student no deeper than the teacher "
                                 f"({t[0]} layers), got {s[0]}")
        if s[0] > t[0] and s[1] > t[1]:
            raise ValueError(f"--student: {self.student} is larger than the teacher "
                             f"{t[0]}x{t[1]} in both depth and width")
        if self.data == "hmm" and self.top_k is not None and self.top_k > self.hmm_vocab:
            raise ValueError(f"top_k: must be at most the vocabulary size {self.hmm_vocab}, "
                             f"got {self.top_k}")
        LMObjective(divergence="jsd", beta=min(max(self.beta, 1e-6), 1 - 1e-6), lam=self.lam,
                    temperature=self.temperature)

    @property
    def sizes(self) -> LMSize:
        """The size's table entry, with ``teacher_steps`` / ``student_steps`` if given."""
        size = SIZE_TABLE[self.size]
        return dataclasses.replace(
            size, teacher_steps=self.teacher_steps or size.teacher_steps,
            student_steps=self.student_steps or size.student_steps)

    @property
    def posterior(self) -> str:
        """The teacher's predictive: ``teacher_posterior``, or an ensemble when it has members."""
        if self.teacher_posterior is not None:
            return self.teacher_posterior
        return "ensemble" if self.teacher_members > 1 else "single"

    @property
    def posterior_label(self) -> str:
        """``single``, ``ensemble-M`` or ``mc_dropout-S`` (names the teacher's unit)."""
        return {"single": "single", "ensemble": f"ensemble-{self.teacher_members}",
                "mc_dropout": f"mc_dropout-{self.teacher_samples}"}[self.posterior]

    @property
    def num_seeds(self) -> int:
        return self.seeds if self.seeds is not None else self.sizes.seeds

    @property
    def seq_length(self) -> int:
        return self.seq_len if self.seq_len is not None else self.sizes.seq_len

    @property
    def model_positions(self) -> int:
        return self.max_len if self.max_len is not None else self.seq_length

    @property
    def hmm_vocab(self) -> int:
        return self.vocab_size if self.vocab_size is not None else self.sizes.vocab_size

    def arch(self, who: str) -> tuple[int, int]:
        spec = _parse_arch(getattr(self, who), f"--{who}")
        return spec if spec is not None else getattr(self.sizes, who)

    def methods(self) -> list[tuple[str, str | None]]:
        """``(mode, divergence)`` of every student run; ``("hard", None)`` first."""
        divs = self.divergences
        out: list[tuple[str, str | None]] = [("hard", None)]
        for mode in self.modes:
            if mode == "sequence":
                out.append((mode, None))
            elif mode == "token":
                out += [(mode, d) for d in (divs or DEFAULT_DIVERGENCES)]
            else:
                out += [(mode, d) for d in (divs or ("forward_kl",))]
        return out


def posterior_config(cfg: LMDistillConfig, posterior: str) -> LMDistillConfig:
    """``cfg`` with a ``posterior`` teacher: an ensemble has ``cfg.teacher_members`` members if
    ``cfg``'s teacher is one, else :data:`ENSEMBLE_MEMBERS`."""
    members = 1 if posterior != "ensemble" else (
        cfg.teacher_members if cfg.posterior == "ensemble" else ENSEMBLE_MEMBERS)
    return dataclasses.replace(cfg, teacher_posterior=posterior, teacher_members=members,
                               compare_posteriors=())


def teacher_unit(cfg: LMDistillConfig) -> str:
    """The teacher's unit name: ``teacher`` for one network, else ``teacher-<posterior>``."""
    return "teacher" if cfg.posterior == "single" else f"teacher-{cfg.posterior_label}"


def method_name(mode: str, div: str | None) -> str:
    return mode if div is None else f"{mode}-{div}"


def model_config(cfg: LMDistillConfig, who: str, vocab_size: int) -> TransformerConfig:
    layers, width = cfg.arch(who)
    dropout = cfg.teacher_dropout if who == "teacher" and cfg.posterior == "mc_dropout" else 0.0
    return TransformerConfig(vocab_size=vocab_size, num_layers=layers, width=width, num_heads=4,
                             max_len=cfg.model_positions, dropout=dropout)

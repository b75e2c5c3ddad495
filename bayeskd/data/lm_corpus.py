r"""Token rows for language-model distillation: a random HMM language or real text.

An :class:`LMCorpus` holds the rows every part of a distillation run reads:

- ``teacher_train [Nt, L]``: the teacher's training rows;
- ``train [N, L]``: the students' rows, the *first* ``N`` teacher rows (the teacher has seen
  them, as a large model distilled on a smaller transfer set);
- ``val``: the teacher rows after the students' ``N`` (the students never see them; their
  early-stopping point is chosen on them; empty when the text is too short);
- ``test``: held-out rows; on the HMM language also ``true_test [B, L-1, V]``, the exact
  predictive :math:`\log p^*(x_{t+1}\mid x_{\le t})` of the forward algorithm at positions
  ``1..L-1`` (:func:`bayeskd.data.hmm.predictive_log_probs`), the first token excluded like the
  models' scores.

Example:
  >>> c = hmm_corpus(seed=0, num_states=4, vocab_size=16, seq_len=8, teacher_rows=20,
  ...                num_train=10, num_test=5)
  >>> c.teacher_train.shape, c.train.shape, c.val.shape, c.test.shape, c.true_test.shape
  ((20, 8), (10, 8), (5, 8), (5, 8), (5, 7, 16))
"""

from __future__ import annotations

import dataclasses
import pathlib
import sys
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from bayeskd.data.hmm import HMM, predictive_log_probs, random_hmm, sample_hmm
from bayeskd.data.text import read_text_file, stdlib_docstrings, token_rows

__all__ = ["LMCorpus", "hmm_corpus", "load_corpus", "text_corpus", "unigram_log_prior"]


@dataclasses.dataclass(frozen=True)
class LMCorpus:
    """The rows of one run (see the module docstring); ``meta`` describes the source."""

    teacher_train: np.ndarray
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    vocab_size: int
    meta: dict
    true_test: Any = None
    hmm: HMM | None = None

    def sizes(self) -> dict:
        """Row counts and the vocabulary, for results."""
        return {"num_train": len(self.train), "num_test": len(self.test),
                "num_val": len(self.val), "num_teacher_train": len(self.teacher_train),
                "vocab_size": self.vocab_size}


def hmm_corpus(*, seed: int, num_states: int, vocab_size: int, seq_len: int, teacher_rows: int,
               num_train: int, num_test: int, zipf_exponent: float = 1.5,
               concentration: float = 0.05) -> LMCorpus:
    """Rows of a random HMM language (:func:`bayeskd.data.hmm.random_hmm`) drawn from
    ``key(seed)`` split three ways (language, teacher rows, test rows)."""
    key = jax.random.key(seed)
    k_hmm, k_train, k_test = jax.random.split(key, 3)
    hmm = random_hmm(key=k_hmm, num_states=num_states, vocab_size=vocab_size,
                     zipf_exponent=zipf_exponent, concentration=concentration)
    rows = np.asarray(sample_hmm(hmm, key=k_train, num_sequences=teacher_rows, length=seq_len))
    test = sample_hmm(hmm, key=k_test, num_sequences=num_test, length=seq_len)
    true = predictive_log_probs(hmm, test)[:, 1:]
    true_nll = -float(jnp.mean(jnp.take_along_axis(true, test[:, 1:, None], -1)))
    meta = {"kind": "hmm", "num_states": num_states, "vocab_size": vocab_size,
            "zipf_exponent": zipf_exponent, "concentration": concentration,
            "true_nll": true_nll}
    return LMCorpus(rows, rows[:num_train], rows[num_train:num_train + num_test],
                    np.asarray(test), vocab_size, meta, true_test=true, hmm=hmm)


def text_corpus(text: str, *, source: str, seq_len: int, tokenizer: str, vocab_size: int,
                teacher_rows: int, num_train: int, num_test: int) -> LMCorpus:
    """Rows of ``text`` tokenised by :func:`bayeskd.data.text.token_rows` (its last tenth held
    out); ``meta`` records the source, the text's sha256 and the Python version (the stdlib's
    docstrings change with it)."""
    rows = token_rows(text, seq_len=seq_len, tokenizer=tokenizer, vocab_size=vocab_size,
                      max_train_rows=teacher_rows, max_test_rows=num_test)
    meta = {"kind": "text", "source": source, "sha256": rows["sha256"],
            "num_chars": rows["num_chars"], "tokenizer": rows["tokenizer"],
            "python": sys.version.split()[0]}
    train = rows["train"]
    return LMCorpus(train, train[:num_train], train[num_train:num_train + num_test],
                    rows["test"], rows["vocab_size"], meta)


def load_corpus(source: str, *, seed: int, seq_len: int, teacher_rows: int, num_train: int,
                num_test: int, num_states: int, vocab_size: int, bpe_vocab: int,
                tokenizer: str = "bpe", text_files: int | None = None) -> LMCorpus:
    """The corpus named by ``source``: ``"hmm"`` (:func:`hmm_corpus` of ``num_states`` states
    and ``vocab_size`` tokens), ``"text"`` (the standard library's docstrings, the first
    ``text_files`` files) or the path of a UTF-8 file (both :func:`text_corpus` with a
    ``bpe_vocab`` vocabulary)."""
    rows = {"seq_len": seq_len, "teacher_rows": teacher_rows, "num_train": num_train,
            "num_test": num_test}
    if source == "hmm":
        return hmm_corpus(seed=seed, num_states=num_states, vocab_size=vocab_size, **rows)
    text, name = ((stdlib_docstrings(max_files=text_files), "python stdlib docstrings")
                  if source == "text" else (read_text_file(source), pathlib.Path(source).name))
    return text_corpus(text, source=name, tokenizer=tokenizer, vocab_size=bpe_vocab, **rows)


def unigram_log_prior(tokens: np.ndarray, vocab_size: int) -> jax.Array:
    r"""Log of the add-one smoothed token counts, :math:`\log(c_v + 1)` (unnormalised; the
    Dirichlet tail's base measure of a top-k teacher table).

    >>> [round(float(v), 3) for v in unigram_log_prior(np.array([[0, 0, 2]]), 3)]
    [1.099, 0.0, 0.693]
    """
    counts = np.bincount(np.asarray(tokens).reshape(-1), minlength=vocab_size)
    return jnp.log(jnp.asarray(counts + 1.0, jnp.float32))

r"""Real text offline: the Python standard library's docstrings, or any UTF-8 file, as token rows.

**The corpus every machine has.** :func:`stdlib_docstrings` walks the standard library's ``.py``
files (sorted, tests and ``site-packages`` left out), parses each with :mod:`ast` and joins the
module, class and function docstrings, about 1.8 M characters. The text depends on the Python
version, so :func:`sha256_text` identifies the corpus in every result. Any local UTF-8 text file
can stand in for it (:func:`read_text_file`).

**Tokenisers.** ``"bpe"``: a byte-level BPE trained on the training part of the text with the
Hugging Face ``tokenizers`` library (vocabulary size a parameter, nothing downloaded);
``"byte"``: the UTF-8 bytes (``V = 256``), the fallback when ``tokenizers`` is absent.

**Rows.** :func:`token_rows` cuts the token stream into non-overlapping rows of ``L`` tokens;
the last ``test_fraction`` of the *text* is held out (split before tokenising, so the BPE never
sees the test part).
"""

from __future__ import annotations

import ast
import hashlib
import os
import pathlib
import sysconfig

import numpy as np

from bayeskd.validate import check_choice, check_positive_int, check_unit_interval

TOKENIZERS = ("bpe", "byte")

__all__ = ["TOKENIZERS", "read_text_file", "sha256_text", "stdlib_docstrings", "token_rows",
           "tokenize"]


def sha256_text(text: str) -> str:
    """SHA-256 of the UTF-8 text (identifies the corpus in results)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def stdlib_docstrings(*, max_files: int | None = None) -> str:
    """Every docstring of the standard library's modules, in sorted file order.

    ``max_files`` keeps only the first files (smoke sizes). Files that do not parse under this
    Python are skipped.
    """
    root = pathlib.Path(sysconfig.get_paths()["stdlib"])
    skip = {"site-packages", "test", "tests", "idlelib", "lib2to3", "__pycache__"}
    files = sorted(p for p in root.rglob("*.py")
                   if not skip.intersection(p.relative_to(root).parts))
    if max_files is not None:
        files = files[:max_files]
    parts = []
    for path in files:
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError, OSError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                doc = ast.get_docstring(node)
                if doc:
                    parts.append(doc)
    return "\n\n".join(parts)


def read_text_file(path: str | os.PathLike, *, name: str = "--data") -> str:
    """A UTF-8 text file's contents; one-line errors for a missing, empty or non-UTF-8 file."""
    p = pathlib.Path(path)
    if not p.is_file():
        raise ValueError(f"{name}: no such text file {str(p)!r}")
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{name}: {p.name} is not UTF-8 text (byte {e.start}: "
                         f"{e.reason})") from None
    if not text.strip():
        raise ValueError(f"{name}: {p.name} is empty (no text to train on)")
    return text


def tokenize(train_text: str, texts: list[str], *, tokenizer: str = "bpe",
             vocab_size: int = 2048) -> tuple[list[np.ndarray], int, str]:
    """Token ids of each of ``texts`` with a tokeniser fitted to ``train_text``.

    Returns ``(ids per text, vocabulary size, tokenizer description)``. ``"bpe"`` falls back to
    ``"byte"`` (and says so in the description) when ``tokenizers`` is not installed.
    """
    check_choice(tokenizer, TOKENIZERS, name="tokenizer")
    vocab_size = check_positive_int(vocab_size, name="vocab_size")
    if tokenizer == "bpe":
        try:
            from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
        except ImportError:
            tokenizer = "byte"
        else:
            if vocab_size < 257:
                raise ValueError(f"vocab_size: a byte-level BPE needs at least 257 tokens, "
                                 f"got {vocab_size}")
            tok = Tokenizer(models.BPE())
            tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
            tok.decoder = decoders.ByteLevel()
            trainer = trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False,
                                          initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
            chunks = [train_text[i:i + 10_000] for i in range(0, len(train_text), 10_000)]
            tok.train_from_iterator(chunks, trainer=trainer)
            ids = [np.asarray(tok.encode(t).ids, np.int32) for t in texts]
            return ids, int(tok.get_vocab_size()), f"bpe-{tok.get_vocab_size()}"
    ids = [np.frombuffer(t.encode("utf-8"), np.uint8).astype(np.int32) for t in texts]
    return ids, 256, "byte" if tokenizer == "byte" else "byte (tokenizers not installed)"


def token_rows(text: str, *, seq_len: int, tokenizer: str = "bpe", vocab_size: int = 2048,
               test_fraction: float = 0.1, max_train_rows: int | None = None,
               max_test_rows: int | None = None) -> dict:
    """Train and test rows ``[N, seq_len]`` of token ids from ``text``.

    Returns a dict with ``train``, ``test`` (int32), ``vocab_size``, ``tokenizer``,
    ``sha256`` (of ``text``) and ``num_chars``.
    """
    seq_len = check_positive_int(seq_len, name="seq_len")
    check_unit_interval(test_fraction, name="test_fraction", open_ends=True)
    if not text.strip():
        raise ValueError("text: is empty (no text to train on)")
    cut = int(len(text) * (1.0 - test_fraction))
    train_text, test_text = text[:cut], text[cut:]
    (train_ids, test_ids), v, desc = tokenize(train_text, [train_text, test_text],
                                              tokenizer=tokenizer, vocab_size=vocab_size)
    out = {"vocab_size": v, "tokenizer": desc, "sha256": sha256_text(text), "num_chars": len(text)}
    for name, ids, cap in (("train", train_ids, max_train_rows), ("test", test_ids, max_test_rows)):
        n = len(ids) // seq_len
        if n == 0:
            raise ValueError(f"text: its {name} part has {len(ids)} tokens, fewer than one row of "
                             f"seq_len = {seq_len}")
        rows = ids[: n * seq_len].reshape(n, seq_len)
        out[name] = rows[:cap] if cap is not None else rows
    return out

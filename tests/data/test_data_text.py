"""Real text offline: the stdlib docstrings corpus, UTF-8 files, tokenisers and rows."""

import numpy as np
import pytest

from bayeskd.data.text import read_text_file, sha256_text, stdlib_docstrings, token_rows, tokenize


def test_stdlib_docstrings_is_text_identified_by_its_hash():
    a = stdlib_docstrings(max_files=5)
    assert len(a) > 1000 and a == stdlib_docstrings(max_files=5)
    assert sha256_text(a) == sha256_text(stdlib_docstrings(max_files=5))
    assert sha256_text(a) != sha256_text(stdlib_docstrings(max_files=6))


def test_bad_text_files_get_one_line_errors(tmp_path):
    (tmp_path / "empty.txt").write_text("  \n")
    (tmp_path / "latin.txt").write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(ValueError, match=r"^--data: empty.txt is empty"):
        read_text_file(tmp_path / "empty.txt")
    with pytest.raises(ValueError, match=r"^--data: latin.txt is not UTF-8 text \(byte 3"):
        read_text_file(tmp_path / "latin.txt")
    with pytest.raises(ValueError, match=r"^--data: no such text file"):
        read_text_file(tmp_path / "missing.txt")


def test_byte_tokenizer_is_the_utf8_bytes():
    (ids,), v, desc = tokenize("é a", ["é a"], tokenizer="byte")
    assert v == 256 and desc == "byte"
    np.testing.assert_array_equal(ids, list("é a".encode()))


def test_rows_split_the_text_before_tokenising():
    text = "".join(chr(97 + i % 26) for i in range(1000))
    r = token_rows(text, seq_len=10, tokenizer="byte", test_fraction=0.1)
    assert r["train"].shape == (90, 10) and r["test"].shape == (10, 10)
    np.testing.assert_array_equal(r["test"].reshape(-1), list(text[900:].encode()))
    with pytest.raises(ValueError, match="fewer than one row"):
        token_rows("abc", seq_len=10, tokenizer="byte")


def test_bpe_is_trained_locally_and_round_trips():
    pytest.importorskip("tokenizers")
    text = stdlib_docstrings(max_files=5)
    r = token_rows(text, seq_len=16, tokenizer="bpe", vocab_size=300)
    assert r["vocab_size"] == 300 and r["tokenizer"] == "bpe-300"
    assert r["train"].max() < 300 and r["train"].min() >= 0
    # BPE compresses: fewer tokens than bytes
    assert r["train"].size < 0.9 * len(text[: int(len(text) * 0.9)].encode())

"""Fidelity on the transfer set: exact agreements, invariance to the representation, bad input."""

import jax
import numpy as np
import pytest

from bayeskd.metrics import transfer_agreement


def test_exact_agreements():
    s = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7], [0.1, 0.9]])
    t = np.array([[0.8, 0.2], [0.7, 0.3], [0.9, 0.1], [0.4, 0.6], [0.6, 0.4]])
    # top classes: student 0 1 0 1 1, teacher 0 0 0 1 0: rows 0, 2 and 3 agree
    assert transfer_agreement(s, t, num_train=2) == pytest.approx(
        {"train_agreement": 1 / 2, "fit_agreement": 3 / 5})
    assert transfer_agreement(s, t, num_train=5) == pytest.approx(
        {"train_agreement": 3 / 5, "fit_agreement": 3 / 5})


def test_probabilities_logits_and_log_probabilities_agree():
    rng = np.random.default_rng(0)
    zs, zt = rng.normal(size=(50, 4)), rng.normal(size=(50, 4))
    want = transfer_agreement(jax.nn.softmax(zs), jax.nn.softmax(zt), num_train=20)
    assert transfer_agreement(zs, jax.nn.log_softmax(zt), num_train=20) == want
    assert transfer_agreement(zs, zs + 3.0, num_train=20) == {"train_agreement": 1.0,
                                                              "fit_agreement": 1.0}


@pytest.mark.parametrize(("n_teacher", "num_train", "message"), [
    (3, 2, "teacher: must have the student's 4 rows, got 3"),
    (4, 0, "num_train: must lie in \\[1, 4\\], got 0"),
    (4, 5, "num_train: must lie in \\[1, 4\\], got 5"),
])
def test_bad_input(n_teacher, num_train, message):
    with pytest.raises(ValueError, match=message):
        transfer_agreement(np.zeros((4, 2)), np.zeros((n_teacher, 2)), num_train=num_train)

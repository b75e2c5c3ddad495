"""The virtual teacher of Tf-KD: exact probabilities, a proper distribution, and bad input."""

import numpy as np
import pytest

from bayeskd.priors import TeacherPrior, virtual_teacher


def test_exact_probabilities():
    logp = virtual_teacher(np.array([0, 2, 2]), num_classes=4, correct=0.7)
    expected = np.array([[0.7, 0.1, 0.1, 0.1], [0.1, 0.1, 0.7, 0.1], [0.1, 0.1, 0.7, 0.1]])
    assert logp.dtype == np.float32 and logp.shape == (3, 4)
    np.testing.assert_allclose(np.exp(logp), expected, rtol=1e-6)
    np.testing.assert_allclose(np.exp(logp).sum(-1), 1.0, rtol=1e-6)


def test_one_hot_and_uniform_ends():
    np.testing.assert_array_equal(np.exp(virtual_teacher([1], num_classes=3, correct=1.0)),
                                  [[0.0, 1.0, 0.0]])
    np.testing.assert_allclose(np.exp(virtual_teacher([1], num_classes=3, correct=1 / 3)),
                               [[1 / 3] * 3], rtol=1e-6)


def test_is_a_teacher_table():
    prior = TeacherPrior(alpha=0.9, temperature=4.0,
                         table=virtual_teacher(np.arange(10) % 5, num_classes=5, correct=0.9))
    assert prior.table.shape == (10, 5)


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(labels=[0], num_classes=3, correct=1.5), "correct: must lie in \\[0, 1\\], got 1.5"),
    (dict(labels=[3], num_classes=3, correct=0.9), "labels: must lie in \\[0, 3\\)"),
    (dict(labels=[0], num_classes=1, correct=0.9), "num_classes: must be >= 2, got 1"),
])
def test_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        virtual_teacher(**kwargs)

"""The Dataset container: dtype conversion, validation messages naming the field, take()."""

import dataclasses

import numpy as np
import pytest

from bayeskd.data import Dataset


def _fields(**overrides):
    rng = np.random.default_rng(0)
    fields = dict(
        name="toy",
        x_train=rng.normal(size=(6, 3)),
        y_train=np.array([0, 1, 2, 0, 1, 2]),
        x_test=rng.normal(size=(4, 3)),
        y_test=np.array([2, 1, 0, 9]),
        num_classes=10,
        x_transfer=rng.normal(size=(5, 3)),
        bayes_probs_test=np.full((4, 10), 0.1),
    )
    fields.update(overrides)
    return fields


def test_valid_dataset_is_converted_to_float32_and_int32():
    ds = Dataset(**_fields())
    assert ds.x_train.dtype == ds.x_test.dtype == ds.x_transfer.dtype == np.float32
    assert ds.y_train.dtype == ds.y_test.dtype == np.int32
    assert ds.bayes_probs_test.dtype == np.float64
    assert ds.input_shape == (3,)
    assert (ds.num_train, ds.num_test) == (6, 4)
    assert ds.meta == {}
    assert repr(ds) == (
        "Dataset(name='toy', train=(6, 3), test=(4, 3), num_classes=10, transfer=(5, 3))"
    )


def test_images_and_integer_inputs_are_accepted():
    ds = Dataset(
        "img",
        np.zeros((2, 4, 4, 1), np.uint8),
        np.array([0, 1], np.int64),
        np.ones((1, 4, 4, 1)),
        np.array([1], np.uint8),
        num_classes=2,
    )
    assert ds.input_shape == (4, 4, 1)
    assert ds.x_train.dtype == np.float32 and ds.y_test.dtype == np.int32
    assert ds.x_transfer is None and ds.bayes_probs_test is None


def test_label_out_of_range_message_is_exact():
    with pytest.raises(ValueError, match=r"^y_train: labels must lie in \[0, 10\), found 12$"):
        Dataset(**_fields(y_train=np.array([0, 1, 12, 0, 1, 2])))


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"y_test": np.array([0, 1, -1, 0])}, "y_test"),
        ({"y_train": np.array([0.0, 1, 2, 0, 1, 2])}, "y_train"),
        ({"y_train": np.array([0, 1, 2])}, "y_train"),
        ({"x_test": np.zeros((4, 2))}, "x_test"),
        ({"x_test": np.zeros((0, 3)), "y_test": np.zeros(0, int)}, "x_test"),
        ({"x_train": np.full((6, 3), np.nan)}, "x_train"),
        ({"x_train": np.arange(6.0)}, "x_train"),
        ({"x_train": np.full((6, 3), "a")}, "x_train"),
        ({"x_transfer": np.zeros((5, 4))}, "x_transfer"),
        ({"x_transfer": np.array([[np.inf, 0, 0]])}, "x_transfer"),
        ({"bayes_probs_test": np.full((4, 9), 1 / 9)}, "bayes_probs_test"),
        ({"bayes_probs_test": np.full((4, 10), 0.2)}, "bayes_probs_test"),
        ({"bayes_probs_test": np.full((4, 10), -0.1) + np.eye(4, 10) * 2}, "bayes_probs_test"),
        ({"num_classes": 1}, "num_classes"),
        ({"num_classes": 2.0}, "num_classes"),
        ({"name": ""}, "name"),
        ({"meta": None}, "meta"),
    ],
)
def test_invalid_fields_raise_value_error_naming_the_field(overrides, field):
    with pytest.raises(ValueError, match=rf"^{field}: "):
        Dataset(**_fields(**overrides))


def test_dataset_is_frozen():
    ds = Dataset(**_fields())
    with pytest.raises(dataclasses.FrozenInstanceError):
        ds.x_train = np.zeros((1, 3))


def test_take_keeps_prefixes_of_every_split():
    ds = Dataset(**_fields(meta={"a": 1}))
    small = ds.take(num_train=2, num_test=3, num_transfer=1)
    np.testing.assert_array_equal(small.x_train, ds.x_train[:2])
    np.testing.assert_array_equal(small.y_train, ds.y_train[:2])
    np.testing.assert_array_equal(small.x_test, ds.x_test[:3])
    np.testing.assert_array_equal(small.y_test, ds.y_test[:3])
    np.testing.assert_array_equal(small.x_transfer, ds.x_transfer[:1])
    assert small.bayes_probs_test.shape == (3, 10)
    assert small.meta == {"a": 1} and small.meta is not ds.meta
    assert ds.take().x_train.shape == ds.x_train.shape
    with pytest.raises(ValueError, match="^num_test: "):
        ds.take(num_test=0)

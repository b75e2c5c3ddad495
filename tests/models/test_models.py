"""Models: shapes, parameter counts, the patch-based conv equals nnx.Conv, dropout behaviour."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from bayeskd.models import MLP, make_model, param_count
from bayeskd.models.cnn import ResNet, conv1d_same, conv2d_same


@pytest.mark.parametrize(
    "name, shape, count",
    [
        ("mlp", (40,), 40 * 100 + 100 + 100 * 100 + 100 + 100 * 10 + 10),
        ("mlp-small", (40,), 40 * 30 + 30 + 30 * 10 + 10),
        ("cnn", (40,), (5 * 25 + 25) + 2 * (5 * 25 * 25 + 25) + (25 * 5 * 10 + 10)),
    ],
)
def test_param_counts_by_hand(name, shape, count):
    m = make_model(name, shape, 10, key=jax.random.key(0))
    assert param_count(m) == count
    assert m(jnp.zeros((3, *shape))).shape == (3, 10)


@pytest.mark.parametrize("shape", [(8, 8, 1), (28, 28, 1), (32, 32, 3)])
def test_image_models(shape):
    m = make_model("cnn", shape, 10, key=jax.random.key(0))
    assert m(jnp.zeros((2, *shape))).shape == (2, 10)
    assert param_count(m) > 1000


@pytest.mark.parametrize("length, stride", [(40, 2), (39, 2), (10, 1), (11, 3)])
def test_conv1d_same_equals_nnx_conv(length, stride):
    conv = nnx.Conv(3, 7, (5,), strides=(stride,), padding="SAME", rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(1), (4, length, 3))
    got = conv1d_same(x, conv.kernel[...], conv.bias[...], stride=stride)
    np.testing.assert_allclose(got, conv(x), atol=1e-5)


@pytest.mark.parametrize("kernel, size", [((3, 3), 8), ((1, 1), 5), ((3, 5), 6), ((2, 2), 4)])
def test_conv2d_same_equals_nnx_conv(kernel, size):
    conv = nnx.Conv(3, 7, kernel, padding="SAME", rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(1), (4, size, size, 3))
    got = conv2d_same(x, conv.kernel[...], conv.bias[...])
    np.testing.assert_allclose(got, conv(x), atol=1e-5)


def test_resnet_on_digits_is_the_small_cnn():
    """8x8 images get one stage of 16 channels: stem, one residual block, head."""
    m = make_model("cnn", (8, 8, 1), 10, key=jax.random.key(0))
    assert isinstance(m, ResNet) and m.head.in_features == 16
    convs = (3 * 3 * 1 * 16 + 16) + 2 * (3 * 3 * 16 * 16 + 16)
    assert param_count(m) == convs + 2 * (2 * 16) + (16 * 10 + 10)


def test_dropout_only_with_key():
    m = MLP(5, 3, hidden=(50,), dropout=0.5, rngs=nnx.Rngs(0))
    x = jnp.ones((2, 5))
    np.testing.assert_array_equal(m(x), m(x))
    a, b = m(x, key=jax.random.key(1)), m(x, key=jax.random.key(2))
    assert not np.allclose(a, b)
    np.testing.assert_array_equal(a, m(x, key=jax.random.key(1)))


@pytest.mark.parametrize(
    "kwargs, arg",
    [
        ({"name": "vit"}, "model"),
        ({"name": "mlp", "num_classes": 1}, "num_classes"),
        ({"name": "mlp", "dropout": 1.0}, "dropout"),
        ({"name": "resnet", "input_shape": (40,)}, "model"),
    ],
)
def test_make_model_validation(kwargs, arg):
    args = {"input_shape": (40,), "num_classes": 10} | kwargs
    name = args.pop("name")
    with pytest.raises(ValueError, match=arg):
        make_model(name, args.pop("input_shape"), args.pop("num_classes"), key=jax.random.key(0), **args)

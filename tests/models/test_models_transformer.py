"""The causal transformer: causality, shapes, tied heads, the cache, bad sizes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayeskd.models.transformer import TransformerConfig

CONFIGS = [
    TransformerConfig(vocab_size=23, num_layers=2, width=16, num_heads=2, max_len=12),
    TransformerConfig(vocab_size=23, num_layers=1, width=12, num_heads=3, max_len=12,
                      positions="learned", tie_embeddings=False),
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=["rope-tied", "learned-untied"])
def test_changing_a_later_token_never_changes_earlier_outputs(cfg):
    model = cfg(jax.random.key(0))
    x = jax.random.randint(jax.random.key(1), (3, 10), 0, cfg.vocab_size)
    y = x.at[:, 6].set((x[:, 6] + 1) % cfg.vocab_size)
    lx, ly = model(x), model(y)
    np.testing.assert_allclose(lx[:, :6], ly[:, :6], atol=1e-6)
    assert np.abs(np.asarray(lx[:, 6:] - ly[:, 6:])).max() > 1e-4  # and later ones do change


@pytest.mark.parametrize("cfg", CONFIGS, ids=["rope-tied", "learned-untied"])
def test_shapes_and_logits_are_hidden_times_head(cfg):
    model = cfg(jax.random.key(0))
    x = jnp.zeros((2, 7), jnp.int32)
    h, w = model.hidden(x), model.head_weight()
    assert h.shape == (2, 7, cfg.width) and w.shape == (cfg.width, cfg.vocab_size)
    np.testing.assert_allclose(model(x), h @ w, rtol=1e-6)
    assert len(model.layer_states(x)) == cfg.num_layers + 1


def test_tied_head_is_the_embedding():
    model = CONFIGS[0](jax.random.key(0))
    np.testing.assert_array_equal(model.head_weight(), model.embed.embedding[...].T)
    assert model.head is None and CONFIGS[1](jax.random.key(0)).head is not None


@pytest.mark.parametrize("cfg", CONFIGS, ids=["rope-tied", "learned-untied"])
def test_cached_decoding_equals_the_full_forward_pass(cfg):
    model = cfg(jax.random.key(0))
    x = jax.random.randint(jax.random.key(1), (2, 9), 0, cfg.vocab_size)
    cache = model.init_cache(2, 9)
    hs = []
    for t in range(9):
        h, cache = model.decode_step(x[:, t], jnp.int32(t), cache)
        hs.append(h)
    np.testing.assert_allclose(jnp.stack(hs, 1), model.hidden(x), atol=2e-5)


def test_rope_is_relative():
    """With RoPE and no other positions, attention depends on offsets only: shifting helps nothing."""
    from bayeskd.models.transformer import _rope

    q, k = jax.random.normal(jax.random.key(0), (2, 1, 1, 8))
    s1 = jnp.sum(_rope(q, jnp.array([3])) * _rope(k, jnp.array([1])))
    s2 = jnp.sum(_rope(q, jnp.array([10])) * _rope(k, jnp.array([8])))
    np.testing.assert_allclose(s1, s2, rtol=1e-5)


def test_dropout_only_with_a_key():
    cfg = TransformerConfig(vocab_size=11, num_layers=1, width=8, num_heads=2, max_len=6,
                            dropout=0.5)
    model = cfg(jax.random.key(0))
    x = jnp.zeros((1, 6), jnp.int32)
    np.testing.assert_array_equal(model(x), model(x))
    assert not np.allclose(model(x, key=jax.random.key(1)), model(x, key=jax.random.key(2)))


def test_sequence_longer_than_positions_is_refused():
    model = CONFIGS[0](jax.random.key(0))
    with pytest.raises(ValueError, match="tokens: sequence length 13 is longer than"):
        model(jnp.zeros((1, 13), jnp.int32))


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"width": 10, "num_heads": 4}, "width"), ({"positions": "alibi"}, "positions"),
    ({"num_layers": 0}, "num_layers"), ({"dropout": 1.0}, "dropout")])
def test_bad_sizes_name_themselves(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TransformerConfig(vocab_size=10, **kwargs)


def test_distilbert_init_copies_every_other_teacher_block():
    from flax import nnx

    from bayeskd.models.transformer import distilbert_init

    t_cfg = TransformerConfig(vocab_size=11, num_layers=4, width=8, num_heads=2, max_len=6)
    s_cfg = TransformerConfig(vocab_size=11, num_layers=2, width=8, num_heads=2, max_len=6)
    teacher = t_cfg(jax.random.key(0))
    params = distilbert_init(nnx.split(teacher, nnx.Param)[1], t_cfg, s_cfg)
    student = nnx.merge(nnx.split(s_cfg(jax.random.key(1)), nnx.Param)[0], params)
    for i, j in ((0, 0), (1, 2)):
        np.testing.assert_array_equal(student.blocks[i].qkv.kernel[...],
                                      teacher.blocks[j].qkv.kernel[...])
    np.testing.assert_array_equal(student.head_weight(), teacher.head_weight())
    with pytest.raises(ValueError, match="--student: DistilBERT initialisation needs a student no "
                                         "deeper"):
        distilbert_init(nnx.split(s_cfg(jax.random.key(0)), nnx.Param)[1], s_cfg, t_cfg)
    wide = TransformerConfig(vocab_size=11, num_layers=2, width=16, num_heads=2, max_len=6)
    with pytest.raises(ValueError, match="width must equal the teacher's 8"):
        distilbert_init(nnx.split(teacher, nnx.Param)[1], t_cfg, wide)

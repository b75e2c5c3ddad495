"""One row of the regulariser table: the sum of its parts, exactly, and rows that stack."""

import jax
import jax.numpy as jnp
import numpy as np

from bayeskd.priors import (
    GaussianPrior,
    LabelSmoothing,
    TeacherPrior,
    regulariser_prior,
    stack_priors,
)


def _batch(n=5, k=3, seed=0):
    rng = np.random.default_rng(seed)
    return {"y": jnp.asarray(rng.integers(0, k, n)), "label_mask": jnp.ones(n),
            "index": jnp.arange(n)}, jnp.asarray(rng.normal(size=(n, k)), jnp.float32)


def test_value_is_the_sum_of_the_three_priors():
    batch, logits = _batch()
    table = np.asarray(jax.nn.log_softmax(np.random.default_rng(1).normal(size=(5, 3))),
                       np.float32)
    params = {"w": jnp.arange(4.0)}
    p = regulariser_prior(table, weight_decay=1e-2, label_smoothing=0.1, alpha=0.5,
                          temperature=2.0)
    want = (GaussianPrior(weight_decay=1e-2)(params, logits, batch)
            + LabelSmoothing(epsilon=0.1)(params, logits, batch)
            + TeacherPrior(alpha=0.5, temperature=2.0, table=table)(params, logits, batch))
    np.testing.assert_allclose(p(params, logits, batch), want, rtol=1e-6)
    assert float(p.likelihood_weight) == 1.0 - 0.1 - 0.5


def test_a_row_without_a_part_adds_nothing_and_rows_stack():
    batch, logits = _batch()
    table = np.zeros((5, 3), np.float32)
    params = {"w": jnp.arange(4.0)}
    none = regulariser_prior(table)
    assert float(none(params, logits, batch)) == 0.0 and float(none.likelihood_weight) == 1.0
    rows = [none, regulariser_prior(table, weight_decay=1e-3),
            regulariser_prior(table, alpha=0.9, temperature=4.0)]
    stacked = stack_priors(rows)
    assert jax.tree.structure(stacked) == jax.tree.structure(rows[0])
    assert stacked.priors[2].alpha.shape == (3,)

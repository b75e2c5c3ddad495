r"""MC dropout: dropout kept on at prediction time (Gal & Ghahramani 2016).

Gal & Ghahramani ("Dropout as a Bayesian Approximation", ICML 2016) show that training with
dropout and weight decay is variational inference with a Bernoulli variational family
:math:`q(\theta) = \prod_l W_l\,\mathrm{diag}(z_l)`, :math:`z_{l,j}\sim\mathrm{Bernoulli}(1-p)`.
The predictive is then estimated by keeping dropout on:

.. math::
    p(y\mid x,\mathcal D) \approx \frac1S\sum_{s=1}^S \mathrm{softmax}\,f(x; \theta \odot z_s).

bayeskd's own models switch dropout on when called with a ``key``; any other NNX model keeps its
``nnx.Dropout`` layers, which are switched on (``deterministic=False``) with the rest of the
network in eval mode (batch norm on its running averages), and its RNG streams reseeded from the
draw's key. Either way each draw is one key. Masks are drawn per example, so (unlike weight-space posteriors) a chunked predictive
draws different masks from an unchunked one; both are unbiased estimates of the same average.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from flax import nnx

from bayeskd.models import dropout_rate
from bayeskd.posteriors.base import Posterior
from bayeskd.training import apply_model, takes_key
from bayeskd.training.trainer import is_prng_key
from bayeskd.validate import check_num_samples

__all__ = ["MCDropout", "dropout_rate"]


@functools.partial(jax.jit, static_argnames=("graphdef",))
def _dropout_logits(params, x, keys, *, graphdef):
    """Logits ``[S, B, K]`` under one dropout mask per key."""
    return jax.vmap(lambda k: apply_model(graphdef, params, x, key=k))(keys)


def _reseed(variables, key: jax.Array):
    """``variables`` with its ``i``-th PRNG key leaf replaced by ``fold_in(key, i)``."""
    leaves, treedef = jax.tree.flatten(variables)
    return jax.tree.unflatten(treedef, [jax.random.fold_in(key, i) if is_prng_key(a) else a
                                        for i, a in enumerate(leaves)])


@functools.partial(jax.jit, static_argnames=("graphdef",))
def _own_dropout_logits(variables, x, keys, *, graphdef):
    """Logits ``[S, B, K]`` of a model with its own ``nnx.Dropout`` streams, one reseed per key."""
    return jax.vmap(lambda k: nnx.merge(graphdef, _reseed(variables, k), copy=True)(x))(keys)


def _dropout_on(model: nnx.Module):
    """``(graphdef, variables)`` of ``model`` in eval mode with its dropout layers on."""
    model = nnx.clone(model)
    model.eval()
    for _, m in nnx.iter_graph(model):
        if isinstance(m, nnx.Dropout):
            m.deterministic = False
    if not any(is_prng_key(a) for a in jax.tree.leaves(nnx.state(model))):
        raise ValueError("model: its nnx.Dropout layers hold no RNG stream; build them with "
                         "nnx.Dropout(rate, rngs=rngs) for MC dropout")
    return nnx.split(model)


class MCDropout(Posterior):
    """The MC-dropout predictive of one trained network with dropout layers.

    Args:
      graphdef: the network's NNX graph definition; it must contain ``nnx.Dropout``.
      params: the trained parameters (one member, no leading axis); for a model with batch
        statistics or RNG streams, its whole state (:attr:`bayeskd.training.FitResult.variables`).
      num_samples: default number of dropout masks of :meth:`predictive`.
    """

    def __init__(self, graphdef, params, *, num_samples: int = 30, name: str = "mc_dropout"):
        model = nnx.merge(graphdef, params)
        self.rate = dropout_rate(model)
        self.own_streams = not takes_key(type(model))
        if self.own_streams:  # the model's own nnx.Dropout layers and RNG streams
            graphdef, params = _dropout_on(model)
        self.graphdef, self.params, self.name = graphdef, params, name
        self.num_samples = check_num_samples(num_samples)

    @classmethod
    def from_fit(cls, result, *, member: int = 0, num_samples: int = 30) -> MCDropout:
        """Member ``member`` of a :class:`bayeskd.training.FitResult` trained with dropout."""
        params = jax.tree.map(lambda a: a[member], result.variables)
        return cls(result.graphdef, params, num_samples=num_samples)

    def sample_logits(self, x, *, key, num_samples=None):
        n = self._resolve(num_samples)
        keys = jax.random.split(key, n)
        fn = _own_dropout_logits if self.own_streams else _dropout_logits
        return fn(self.params, jnp.asarray(x, jnp.float32), keys, graphdef=self.graphdef)

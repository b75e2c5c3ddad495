r"""MC dropout: dropout kept on at prediction time (Gal & Ghahramani 2016).

Gal & Ghahramani ("Dropout as a Bayesian Approximation", ICML 2016) show that training with
dropout and weight decay is variational inference with a Bernoulli variational family
:math:`q(\theta) = \prod_l W_l\,\mathrm{diag}(z_l)`, :math:`z_{l,j}\sim\mathrm{Bernoulli}(1-p)`.
The predictive is then estimated by keeping dropout on:

.. math::
    p(y\mid x,\mathcal D) \approx \frac1S\sum_{s=1}^S \mathrm{softmax}\,f(x; \theta \odot z_s).

In bayeskd every model with dropout switches it on when called with a ``key``; each draw here is
one key. Masks are drawn per example, so (unlike weight-space posteriors) a chunked predictive
draws different masks from an unchunked one; both are unbiased estimates of the same average.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from flax import nnx

from bayeskd.models import dropout_rate
from bayeskd.posteriors.base import Posterior
from bayeskd.training import apply_model
from bayeskd.validate import check_num_samples

__all__ = ["MCDropout", "dropout_rate"]


@functools.partial(jax.jit, static_argnames=("graphdef",))
def _dropout_logits(params, x, keys, *, graphdef):
    """Logits ``[S, B, K]`` under one dropout mask per key."""
    return jax.vmap(lambda k: apply_model(graphdef, params, x, key=k))(keys)


class MCDropout(Posterior):
    """The MC-dropout predictive of one trained network with dropout layers.

    Args:
      graphdef: the network's NNX graph definition; it must contain ``nnx.Dropout``.
      params: the trained parameters (one member, no leading axis).
      num_samples: default number of dropout masks of :meth:`predictive`.
    """

    def __init__(self, graphdef, params, *, num_samples: int = 30, name: str = "mc_dropout"):
        self.rate = dropout_rate(nnx.merge(graphdef, params))
        self.graphdef, self.params, self.name = graphdef, params, name
        self.num_samples = check_num_samples(num_samples)

    @classmethod
    def from_fit(cls, result, *, member: int = 0, num_samples: int = 30) -> MCDropout:
        """Member ``member`` of a :class:`bayeskd.training.FitResult` trained with dropout."""
        params = jax.tree.map(lambda a: a[member], result.params)
        return cls(result.graphdef, params, num_samples=num_samples)

    def sample_logits(self, x, *, key, num_samples=None):
        n = self._resolve(num_samples)
        keys = jax.random.split(key, n)
        return _dropout_logits(self.params, jnp.asarray(x, jnp.float32), keys, graphdef=self.graphdef)

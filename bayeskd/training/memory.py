r"""Will a run fit in memory? A conservative estimate from shapes, checked before any work.

A run trains ``M`` members of a model with ``P`` parameters, vmapped in one compiled program, on
``N`` inputs of ``D`` values each with ``K`` classes, in batches of ``B``. Its peak memory is
estimated, in float32 values of 4 bytes, as

.. math::

    \text{bytes} \approx 4\,\big[\,M\,(c_P P + c_A B A) + c_D N (D + K)\,\big]

with

- :math:`c_P = 8` copies of every parameter: the parameters, their gradients, Adam's two moments,
  the temporaries of the vmapped update (two) and the host copies taken for checkpoints and
  results (two);
- :math:`A` the values a forward pass of one example creates (every intermediate of the traced
  model, counted with ``jax.make_jaxpr``), :math:`c_A = 2` for the forward values kept for the
  backward pass and their cotangents;
- :math:`c_D = 3` copies of the data (the NumPy arrays, the device copy, the teacher's
  log-probabilities alongside the inputs are the ``K`` term).

The estimate is compared with :math:`0.8\times` the memory the machine has available (Linux
``MemAvailable``, else free pages), leaving a fifth for the Python process, the XLA runtime and its
compiled programs. Being linear in ``M``, it also says how many members fit.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Sequence

import numpy as np

__all__ = ["FitMemory", "available_memory_bytes", "check_fits_memory", "estimate_fit_bytes",
           "estimate_lm_fit_bytes"]

BYTES_PER_VALUE = 4
PARAM_COPIES = 8
ACTIVATION_COPIES = 2
DATA_COPIES = 3
USABLE_FRACTION = 0.8


@dataclasses.dataclass(frozen=True)
class FitMemory:
    """An estimate ``fixed_bytes + members * per_member_bytes`` (see the module docstring)."""

    fixed_bytes: int
    per_member_bytes: int
    members: int

    @property
    def total_bytes(self) -> int:
        return self.fixed_bytes + self.members * self.per_member_bytes

    def max_members(self, budget_bytes: int) -> int:
        """The most members whose estimate stays within ``budget_bytes`` (0 if none)."""
        return max(0, (budget_bytes - self.fixed_bytes) // max(1, self.per_member_bytes))


@functools.cache
def _model_counts(model: str, input_shape: tuple[int, ...], num_classes: int,
                  dropout: float) -> tuple[int, int]:
    """``(parameters, forward values per example)`` of model ``model``, from abstract shapes only."""
    import jax
    import jax.numpy as jnp
    from flax import nnx

    from bayeskd.models import UserModel, is_user_model, make_model

    if is_user_model(model):  # your own module:factory (checked before: check_user_model)
        abstract = nnx.eval_shape(lambda: UserModel(model, input_shape, num_classes)(
            jax.random.key(0)))
    else:
        abstract = nnx.eval_shape(lambda: make_model(model, input_shape, num_classes,
                                                     key=jax.random.key(0), dropout=dropout))
    graphdef, state = nnx.split(abstract)
    params = sum(int(np.prod(a.shape)) for a in jax.tree.leaves(state))

    def forward(state, x):
        return nnx.merge(graphdef, state)(x)

    x = jax.ShapeDtypeStruct((1, *input_shape), jnp.float32)
    jaxpr = jax.make_jaxpr(forward)(state, x)
    values = 0
    stack = [jaxpr.jaxpr]
    while stack:  # every intermediate, inside nested calls too
        jp = stack.pop()
        for eqn in jp.eqns:
            values += sum(int(np.prod(v.aval.shape)) for v in eqn.outvars if hasattr(v.aval, "shape"))
            for p in eqn.params.values():
                inner = getattr(p, "jaxpr", None)
                if inner is not None:
                    stack.append(getattr(inner, "jaxpr", inner))
    return params, values


def estimate_fit_bytes(model: str, input_shape: Sequence[int], num_classes: int, *, members: int,
                       batch_size: int, num_inputs: int, dropout: float = 0.0) -> FitMemory:
    """Peak memory of training ``members`` copies of ``model`` (formula in the module docstring).

    Args:
      model: a name of :data:`bayeskd.models.MODELS`, or your own ``module.path:factory``
        (:class:`bayeskd.models.UserModel`; ``dropout`` is then ignored).
      input_shape: one input's shape, without the batch axis.
      num_classes: ``K``.
      members: ``M``, members trained together (seeds, arms x seeds, ensemble members).
      batch_size: ``B``.
      num_inputs: ``N``, every input held at once (train, test and transfer).
      dropout: the model's dropout rate (it adds masks to the forward pass).

    Returns:
      A :class:`FitMemory`; ``.total_bytes`` is the estimate.

    Example:
      >>> est = estimate_fit_bytes("mlp", (40,), 10, members=1, batch_size=100, num_inputs=5000)
      >>> est.per_member_bytes > 4 * 8 * 15210  # the MLP's 15,210 parameters, 8 copies each
      True
    """
    params, values = _model_counts(model, tuple(int(d) for d in input_shape), int(num_classes),
                                   float(dropout))
    per_member = BYTES_PER_VALUE * (PARAM_COPIES * params + ACTIVATION_COPIES * batch_size * values)
    dim = int(np.prod(input_shape))
    fixed = BYTES_PER_VALUE * DATA_COPIES * num_inputs * (dim + num_classes)
    return FitMemory(fixed_bytes=int(fixed), per_member_bytes=int(per_member), members=int(members))


def estimate_lm_fit_bytes(*, layers: int, width: int, vocab: int, seq_len: int, batch_size: int,
                          members: int, table_rows: int, table_width: int | None = None,
                          extra_values: int = 0) -> FitMemory:
    r"""Peak memory of training ``members`` causal transformers together, from their shapes.

    Per member, :math:`c_P P + c_A B A` values as in :func:`estimate_fit_bytes`, with
    :math:`P = V d + T d + L(12 d^2 + 13 d)` (embedding, positions, ``L`` blocks of attention and
    a 4x MLP) and :math:`A = T(16 L d + V)` per sequence (the kept activations of every block and
    one row of logits per position, as evaluation and sampling build them). Fixed: ``c_D`` copies
    of the teacher's per-token tables, ``table_rows`` sequences of ``T`` positions of
    ``table_width`` values (default the vocabulary), plus ``extra_values`` (e.g. an exact
    predictive). Nothing is traced, so absurd settings are refused in microseconds.

    Example:
      >>> est = estimate_lm_fit_bytes(layers=2, width=64, vocab=512, seq_len=32, batch_size=32,
      ...                             members=3, table_rows=1000)
      >>> est.members, est.fixed_bytes == 4 * 3 * 1000 * 32 * 512
      (3, True)
    """
    params = vocab * width + seq_len * width + layers * (12 * width**2 + 13 * width)
    values = seq_len * (16 * layers * width + vocab)
    per_member = BYTES_PER_VALUE * (PARAM_COPIES * params + ACTIVATION_COPIES * batch_size * values)
    table = table_rows * seq_len * (vocab if table_width is None else table_width)
    fixed = BYTES_PER_VALUE * (DATA_COPIES * table + extra_values)
    return FitMemory(fixed_bytes=int(fixed), per_member_bytes=int(per_member), members=int(members))


def available_memory_bytes() -> int:
    """Memory the machine can give a new allocation now: ``MemAvailable`` from ``/proc/meminfo``,
    else free pages times the page size."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def _gb(n: int) -> str:
    return f"{n / 1e9:.1f} GB"


def check_fits_memory(estimate: FitMemory, *, name: str, what: str, data_name: str | None = None,
                      available: int | None = None) -> None:
    """Refuse a run whose estimate exceeds :data:`USABLE_FRACTION` of the available memory.

    Raises ``ValueError`` naming ``name`` (the argument that sets the members), the estimate, the
    memory available and how many members would fit, e.g. ``"--seeds: 100000 seeds of mlp need
    about 147.1 GB, more than the 19.4 GB usable (80% of 24.3 GB available); at most 13000 fit"``.
    When even one member does not fit because of the data, it names ``data_name`` instead.
    """
    available = available_memory_bytes() if available is None else int(available)
    budget = int(USABLE_FRACTION * available)
    if estimate.total_bytes <= budget:
        return
    fit = estimate.max_members(budget)
    if fit == 0 and data_name is not None and estimate.fixed_bytes > budget // 2:
        name, hint = data_name, f"the inputs alone need about {_gb(estimate.fixed_bytes)}; use fewer"
    elif fit == 0:
        hint = "not even one fits"
    else:
        hint = f"at most {fit} fit"
    raise ValueError(f"{name}: {what} need about {_gb(estimate.total_bytes)}, more than the "
                     f"{_gb(budget)} usable ({USABLE_FRACTION:.0%} of {_gb(available)} available); "
                     f"{hint}")

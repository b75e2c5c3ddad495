"""Portability: the kernel and a KD training chunk lower for GPU and TPU from this CPU.

``jax.export`` serialises a program for platforms this machine does not have. A program that
would only run here fails the check: a host callback (``jax.pure_callback``, ``jax.debug``
printing) or a CPU-only custom call (LAPACK, ducc FFT). The only custom calls allowed are the
partitioner's sharding annotations, which every backend understands.
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayeskd.distributed import make_mesh
from bayeskd.losses import DIVERGENCES
from bayeskd.losses.fused import fused_linear_distillation

PLATFORMS = (("cuda",), ("tpu",))
#: custom calls that every backend lowers (sharding annotations of the SPMD partitioner).
PORTABLE_CUSTOM_CALLS = {"Sharding", "SPMDFullToShardShape", "SPMDShardToFullShape"}


def _custom_calls(exported) -> set[str]:
    text = exported.mlir_module()
    named = re.findall(r"stablehlo\.custom_call\s+@([\w.$-]+)", text)
    generic = re.findall(r'call_target_name\s*=\s*"([^"]+)"', text)
    return set(named) | set(generic)


def _assert_portable(exported, platforms):
    assert exported.platforms == platforms
    calls = _custom_calls(exported)
    assert calls <= PORTABLE_CUSTOM_CALLS, calls
    assert "callback" not in exported.mlir_module()


@pytest.mark.parametrize("platforms", PLATFORMS, ids=lambda p: p[0])
def test_kernel_value_and_gradient_export_without_host_or_cpu_calls(platforms):
    """Every divergence, chunked (ragged last chunk, labels) and vocabulary-sharded."""
    n, h, v = 13, 8, 24
    spec = [jax.ShapeDtypeStruct(s, jnp.float32) for s in ((n, h), (h, v), (n, h), (h, v))]
    labels = jax.ShapeDtypeStruct((n,), jnp.int32)
    where = jax.ShapeDtypeStruct((v,), jnp.bool_)

    def program(h_s, w_s, h_t, w_t, y, keep):
        out = []
        for d in DIVERGENCES:
            for extra in (dict(), dict(implementation="vocab_sharded", mesh=make_mesh(1))):
                out.append(jax.value_and_grad(
                    lambda a, b, d=d, extra=extra: fused_linear_distillation(
                        a, b, h_t, w_t, divergence=d, labels=y, label_weight=0.3, where=keep,
                        chunk_size=5, **extra), argnums=(0, 1))(h_s, w_s))
        return out

    exported = jax.export.export(jax.jit(program), platforms=platforms)(*spec, labels, where)
    _assert_portable(exported, platforms)
    assert len(exported.out_avals) == 3 * 2 * len(DIVERGENCES)


@pytest.mark.parametrize("platforms", PLATFORMS, ids=lambda p: p[0])
def test_kd_training_chunk_of_fit_exports_without_host_or_cpu_calls(platforms):
    """The compiled chunk :func:`bayeskd.training.fit` runs, with a teacher-table KD prior."""
    from bayeskd.models import ModelFactory
    from bayeskd.priors import TeacherPrior
    from bayeskd.training import CompiledRun, TrainConfig

    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 6)).astype(np.float32)
    y = rng.integers(0, 3, size=64).astype(np.int32)
    table = jax.nn.log_softmax(jnp.asarray(rng.standard_normal((64, 3)), jnp.float32))
    run = CompiledRun(ModelFactory("mlp-small", (6,), 3), {"x": x, "y": y},
                      prior=TeacherPrior(alpha=0.7, temperature=2.0, table=table),
                      config=TrainConfig(steps=4, batch_size=16, eval_every=2))
    state = run.init_state(jax.random.key(0))
    exported = jax.export.export(jax.jit(lambda s: run(s, 2)), platforms=platforms)(state)
    _assert_portable(exported, platforms)


def test_the_check_sees_a_cpu_only_custom_call():
    """The detector is not vacuous: LAPACK's eigh, exported for CPU, is refused."""
    exported = jax.export.export(jax.jit(lambda a: jnp.linalg.eigh(a)[0]), platforms=("cpu",))(
        jax.ShapeDtypeStruct((3, 3), jnp.float32))
    assert any(c.startswith("lapack") for c in _custom_calls(exported))
    with pytest.raises(AssertionError):
        _assert_portable(exported, ("cpu",))

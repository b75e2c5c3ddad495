r"""Memory planning on paper but computed: one LM distillation step, compiled, never run.

A 1B-parameter teacher and a 100M-parameter student (decoder-only transformers, vocabulary
131,072, tied input/output embeddings) distil on ``D`` devices. The step (teacher forward in
bfloat16, student forward and backward in float32, the chunked distillation loss, an Adam
update) is lowered with abstract inputs (:class:`jax.ShapeDtypeStruct` carrying their
shardings) on ``D`` forced CPU devices and compiled; XLA's ``memory_analysis()`` gives the
per-device bytes of arguments, outputs and temporaries. Two layouts:

``replicated``  mesh ``data = D``: every device holds both models and both heads whole; the loss
                is :func:`bayeskd.losses.fused_linear_distillation` on the device's tokens.
``vocab``       mesh ``data = D/8, vocab = 8``: embeddings/heads (and the student's gradient and
                Adam moments for them) split by vocabulary over ``vocab``; the body stays
                data-parallel over all ``D`` devices; the loss is
                :func:`bayeskd.losses.fused_linear_distillation` with
                ``implementation="vocab_sharded"`` on all tokens.

Command (the device count must be set before JAX starts, so one process per count)::

    python -m bayeskd.bench.memory_plan --devices 8 --devices 64 [--json FILE]

Numbers are XLA:CPU's buffer assignment for the partitioned program (no rematerialisation, XLA's
own attention), a planning figure: a GPU compiler fuses differently, so take them within tens
of percent.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys

VOCAB = 131_072


@dataclasses.dataclass(frozen=True)
class LM:
    """A decoder-only transformer's sizes: width, layers, heads, vocabulary."""

    width: int
    layers: int
    heads: int
    vocab: int = VOCAB

    def params(self) -> int:
        return self.vocab * self.width + self.layers * (12 * self.width**2 + 4 * self.width)


TEACHER = LM(width=2048, layers=16, heads=16)  # 1.07e9 parameters
STUDENT = LM(width=512, layers=12, heads=8)  # 1.05e8 parameters
SEQUENCE = 1024
SEQUENCES_PER_DEVICE = 1


def _shapes(lm: LM, dtype):
    import jax

    d, L = lm.width, lm.layers
    s = lambda *shape: jax.ShapeDtypeStruct(shape, dtype)  # noqa: E731
    return {"embed": s(lm.vocab, d), "ln": s(L, 2, d),
            "qkv": s(L, d, 3 * d), "out": s(L, d, d), "up": s(L, d, 4 * d), "down": s(L, 4 * d, d)}


def _body(p, x, heads: int):
    """Hidden states ``[B, T, d]`` of the layers (pre-norm attention + MLP) on ``x``."""
    import jax
    import jax.numpy as jnp

    def norm(x, g):
        return g * x * jax.lax.rsqrt(jnp.mean(x * x, -1, keepdims=True) + 1e-6)

    def layer(x, w):
        b, t, d = x.shape
        q, k, v = jnp.split(norm(x, w["ln"][0]) @ w["qkv"], 3, axis=-1)
        q, k, v = (a.reshape(b, t, heads, d // heads) for a in (q, k, v))
        a = jax.nn.dot_product_attention(q, k, v, is_causal=True).reshape(b, t, d)
        x = x + a @ w["out"]
        x = x + jax.nn.gelu(norm(x, w["ln"][1]) @ w["up"]) @ w["down"]
        return x, None

    layers = {k: v for k, v in p.items() if k != "embed"}
    x, _ = jax.lax.scan(layer, x, layers)
    return x


def plan(devices: int, layout: str) -> dict:
    """Per-device bytes of one compiled distillation step with ``layout`` on ``devices`` devices."""
    import jax
    import jax.numpy as jnp
    import optax
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    from bayeskd.distributed import make_mesh
    from bayeskd.losses import fused_linear_distillation

    vocab_axis = 8 if layout == "vocab" else 1
    mesh = make_mesh(devices, data=devices // vocab_axis, vocab=vocab_axis)
    batch_axes = ("members", "data", "vocab")  # the body is data-parallel over every device
    tx = optax.adam(1e-4)

    def place(tree, vocab_leaf):
        def one(path, a):
            name = path[0].key if hasattr(path[0], "key") else ""
            spec = P("vocab", None) if (vocab_leaf and name == "embed") else P()
            return jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=NamedSharding(mesh, spec))
        return jax.tree_util.tree_map_with_path(one, tree)

    sharded = layout == "vocab"
    teacher = place(_shapes(TEACHER, jnp.bfloat16), sharded)
    student = place(_shapes(STUDENT, jnp.float32), sharded)
    opt = jax.eval_shape(tx.init, student)
    opt = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=NamedSharding(
        mesh, P("vocab", None) if (sharded and a.shape == (VOCAB, STUDENT.width)) else P())), opt)
    batch = devices * SEQUENCES_PER_DEVICE
    tokens = jax.ShapeDtypeStruct((batch, SEQUENCE), jnp.int32,
                                  sharding=NamedSharding(mesh, P(batch_axes, None)))

    def loss_fn(ps, pt, tok):
        hs = _body(ps, ps["embed"][tok], STUDENT.heads)
        ht = _body(pt, pt["embed"][tok], TEACHER.heads)
        hs, ht = hs.reshape(-1, STUDENT.width), jax.lax.stop_gradient(ht.reshape(-1, TEACHER.width))
        kw = dict(implementation="vocab_sharded", mesh=mesh) if sharded else {}
        return fused_linear_distillation(hs, ps["embed"].T, ht, pt["embed"].T, temperature=2.0,
                                         **kw)

    def step(ps, opt_state, pt, tok):
        loss, grads = jax.value_and_grad(loss_fn)(ps, pt, tok)
        updates, opt_state = tx.update(grads, opt_state, ps)
        return optax.apply_updates(ps, updates), opt_state, loss

    compiled = jax.jit(step, donate_argnums=(0, 1)).lower(student, opt, teacher, tokens).compile()
    m = compiled.memory_analysis()
    gib = 2.0**30
    arg, out, tmp = m.argument_size_in_bytes, m.output_size_in_bytes, m.temp_size_in_bytes
    alias = getattr(m, "alias_size_in_bytes", 0)
    return {"devices": devices, "layout": layout, "mesh": dict(mesh.shape),
            "tokens_per_step": batch * SEQUENCE, "teacher_params": TEACHER.params(),
            "student_params": STUDENT.params(), "arguments_gib": arg / gib,
            "outputs_gib": out / gib, "temporaries_gib": tmp / gib,
            "peak_gib": (arg + out - alias + tmp) / gib}


def _child(devices: int) -> list[dict]:
    import jax

    jax.config.update("jax_num_cpu_devices", devices)
    jax.config.update("jax_platforms", "cpu")
    return [plan(devices, layout) for layout in ("replicated", "vocab")]


def table(rows: list[dict]) -> str:
    """The plan as a Markdown table, with what fits on 40/80/141 GiB accelerators."""
    lines = ["| devices | layout | mesh | tokens/step | args GiB | temps GiB | peak GiB/device | "
             "fits 40 / 80 / 141 GiB |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        fits = " / ".join("yes" if r["peak_gib"] < cap else "no" for cap in (40, 80, 141))
        mesh = "x".join(f"{k}={v}" for k, v in r["mesh"].items() if v > 1) or "1"
        lines.append(f"| {r['devices']} | {r['layout']} | {mesh} | {r['tokens_per_step']} | "
                     f"{r['arguments_gib']:.2f} | {r['temporaries_gib']:.2f} | "
                     f"{r['peak_gib']:.2f} | {fits} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bayeskd.bench.memory_plan",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--devices", type=int, action="append", help="device counts (default 8, 64)")
    p.add_argument("--json", default=None, metavar="FILE")
    p.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child is not None:
        print(json.dumps(_child(args.child)))
        return 0
    counts = args.devices or [8, 64]
    for n in counts:
        if n < 8 or n % 8:
            p.error(f"--devices: must be a multiple of 8 (the vocab axis), got {n}")
    rows = []
    for n in counts:  # one process per device count: the CPU device count is fixed at start
        out = subprocess.run([sys.executable, "-m", "bayeskd.bench.memory_plan", "--child",
                              str(n)], capture_output=True, text=True, check=True)
        rows += json.loads(out.stdout.strip().splitlines()[-1])
    print(table(rows))
    if args.json:
        from bayeskd.io import write_json

        write_json(args.json, {"rows": rows, "teacher": dataclasses.asdict(TEACHER),
                               "student": dataclasses.asdict(STUDENT), "sequence": SEQUENCE})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

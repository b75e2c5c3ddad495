"""Programs the distributed tests run in fresh processes (forced CPU devices or several processes).

``python programs.py NAME [ARGS]`` prints one JSON line with the numbers the test compares. Each
program computes the one-device reference in the same process where it can (``mesh=None`` runs
on device 0 alone), so the test only checks the difference.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import sys


def _problem():
    import numpy as np

    from bayeskd.data import load_gmm
    from bayeskd.models import ModelFactory
    from bayeskd.priors import TeacherPrior
    from bayeskd.training import TrainConfig

    ds = load_gmm(num_train=400, num_test=100, dim=2, num_classes=3, seed=0)
    table = np.log(np.clip(ds.meta["problem"].bayes_probs(ds.x_train), 1e-12, 1))
    prior = TeacherPrior(table=table.astype(np.float32), alpha=0.5, temperature=2.0)
    cfg = TrainConfig(steps=40, batch_size=20, learning_rate=1e-2, eval_every=20)
    return ModelFactory("mlp-small", (2,), 3), {"x": ds.x_train, "y": ds.y_train}, prior, cfg


def _max_diff(a, b) -> float:
    import jax
    import numpy as np

    return max(float(np.max(np.abs(np.asarray(x) - np.asarray(y))))
               for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


def sharded_fit(one, data_axis: int) -> dict:
    """KD students, 4 members, on 4 devices with ``data`` of the given size vs one device."""
    import jax
    import numpy as np

    from bayeskd.distributed import make_mesh
    from bayeskd.training import CompiledRun, fit

    model, data, prior, cfg = _problem()
    kw = dict(prior=prior, config=cfg, key=jax.random.key(0), num_members=4, progress=False)
    mesh = make_mesh(4, data=data_axis)
    many = fit(model, data, mesh=mesh, **kw)
    leaf = jax.tree.leaves(many.params)[0]
    run = CompiledRun(model, data, prior=prior, config=cfg, num_members=4, mesh=mesh)
    program = run.lower(run.init_state(jax.random.key(0))).as_text()
    errors = []
    for members, batch, rows in ((3, 20, 2), (4, 10, 4)):  # members=2 vs 3; data=4 vs batch 10
        try:
            CompiledRun(model, data, prior=prior, num_members=members,
                        mesh=make_mesh(4, data=rows), config=dataclasses.replace(cfg, batch_size=batch))
        except ValueError as e:
            errors.append(str(e))
    return {"params": _max_diff(one.params, many.params),
            "data_spec": str(run.data["x"].sharding.spec), "errors": errors,
            "table_spec": (str(run.prior.table.sharding.spec)  # unplaced: replicated by jit
                           if hasattr(run.prior.table, "sharding") else "P()"),
            # with_sharding_constraint of rows over `data` (Shardy's spelling) in the chunk
            "batch_constraints": sum("sharding_constraint" in line and '{"data"}' in line
                                     for line in program.splitlines()),
            "loss": float(np.max(np.abs(np.subtract(one.history["loss"], many.history["loss"])))),
            "spec": str(leaf.sharding.spec), "devices": len(leaf.sharding.device_set),
            "one_device": len(jax.tree.leaves(one.params)[0].sharding.device_set)}


def sharded_sgld() -> dict:
    """Four SGLD chains through ``fit`` over the ``members`` axis of 4 devices vs one device."""
    import jax

    from bayeskd.distributed import make_mesh
    from bayeskd.posteriors.sgld import sgld
    from bayeskd.priors import GaussianPrior
    from bayeskd.training import fit

    model, data, _, cfg = _problem()
    tx = sgld(1e-4, num_data=len(data["y"]), key=jax.random.key(1))
    kw = dict(prior=GaussianPrior(), config=cfg, key=jax.random.key(0), num_members=4,
              optimizer=tx, progress=False)
    one = fit(model, data, **kw)
    many = fit(model, data, mesh=make_mesh(4), **kw)
    return {"params": _max_diff(one.params, many.params),
            "devices": len(jax.tree.leaves(many.params)[0].sharding.device_set)}


def vocab_kernel() -> dict:
    """Values and gradients of the vocabulary-sharded kernel vs the unsharded one, per divergence."""
    import jax
    import jax.numpy as jnp

    from bayeskd.distributed import make_mesh
    from bayeskd.losses.fused import DIVERGENCES, fused_linear_distillation

    mesh = make_mesh(4, vocab=4)
    k = jax.random.split(jax.random.key(0), 5)
    n, h, ht, v = 13, 8, 6, 32
    h_s, h_t = jax.random.normal(k[0], (n, h)), 2.0 * jax.random.normal(k[1], (n, ht))
    w_s, w_t = jax.random.normal(k[2], (h, v)), jax.random.normal(k[3], (ht, v))
    y = jax.random.randint(k[4], (n,), 0, v)
    cases = [(d, 0.3) for d in DIVERGENCES] + [("forward_kl", 0.0)]  # with and without labels

    @jax.jit  # every case, both kernels, in one compiled program
    def compare(h_s, w_s):
        results = {}
        for d, label_weight in cases:
            kw = dict(divergence=d, temperature=2.0, labels=y, label_weight=label_weight,
                      chunk_size=5, beta=0.3, lam=0.2)
            results[f"{d},{label_weight}"] = [jax.value_and_grad(
                lambda a, b, kw=kw, more=more: fused_linear_distillation(a, b, h_t, w_t, **kw,
                                                                         **more), (0, 1))(h_s, w_s)
                for more in ({}, {"implementation": "vocab_sharded", "mesh": mesh})]
        return results

    out = {}
    for name, ((l1, (dh1, dw1)), (l2, (dh2, dw2))) in compare(h_s, w_s).items():
        out[name] = {
            "value": float(l1), "d_value": float(jnp.abs(l1 - l2)),
            "d_grad_h": float(jnp.max(jnp.abs(dh1 - dh2))),
            "d_grad_w": float(jnp.max(jnp.abs(dw1 - dw2))),
            "grad_scale": float(jnp.max(jnp.abs(dw1))),
            "w_grad_spec": str(dw2.sharding.spec)}
    try:  # 30 classes do not split over 4 devices
        fused_linear_distillation(h_s, w_s[:, :30], h_t, w_t[:, :30],
                                  implementation="vocab_sharded", mesh=mesh)
    except ValueError as e:
        out["error"] = str(e)
    return out


def nuts_parallel() -> dict:
    """NUTS chains across 2 devices (``parallel``) vs the same chains vectorized on one."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    import numpyro
    import numpyro.distributions as dist

    from bayeskd.posteriors.numpyro_bnn import run_nuts

    def model(y):
        mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
        numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)

    y = jnp.array([0.3, 1.1, -0.2, 0.8])
    kw = dict(key=jax.random.key(0), num_warmup=30, num_samples=30, num_chains=2)
    par = run_nuts(model, y, **kw)  # chain_method=None picks "parallel" on 2 devices
    vec = run_nuts(model, y, chain_method="vectorized", **kw)
    a, b = np.asarray(par.samples["mu"]), np.asarray(vec.samples["mu"])
    return {"shape": list(a.shape), "max_diff": float(np.max(np.abs(a - b))),
            "methods": [par.chain_method, vec.chain_method],
            "mean": float(a.mean()), "exact_mean": float(y.sum() / (len(y) + 1))}


def multiprocess(process_id: str, port: str, out: str) -> dict:
    """One of two processes with two CPU devices each: a sharded KD ``fit`` over all four,
    checkpointed halfway and resumed."""
    from bayeskd import distributed

    distributed.initialize(f"127.0.0.1:{port}", 2, int(process_id), local_devices=2,
                           timeout_s=60)
    import jax
    import numpy as np

    from bayeskd.checkpoint import TrainCheckpointer
    from bayeskd.io import write_json
    from bayeskd.training import fit

    model, data, prior, cfg = _problem()
    kw = dict(prior=prior, key=jax.random.key(0), num_members=4, progress=False,
              mesh=distributed.make_mesh(data=2),
              checkpoint=TrainCheckpointer(f"{out}/checkpoints", config_hash="two-processes"))
    # Half the run, checkpointed; then the whole run, which resumes from that checkpoint.
    fit(model, data, config=dataclasses.replace(cfg, steps=cfg.steps // 2), **kw)
    res = fit(model, data, config=cfg, **kw)
    params = distributed.to_host(res.params)
    write_json(f"{out}/result-{jax.process_index()}.json", {"writer": jax.process_index(),
                                      "params": [np.asarray(p).tolist()
                                                 for p in jax.tree.leaves(params)]})
    leaf = jax.tree.leaves(res.params)[0]  # restored from the checkpoint, then trained on
    return {"process": jax.process_index(), "devices": jax.device_count(),
            "local": jax.local_device_count(), "loss": res.history["loss"],
            "steps_run": res.steps_run, "spec": str(leaf.sharding.spec),
            "spread": len(leaf.sharding.device_set)}


def single(out: str) -> dict:
    """Every one-process program in one interpreter (4 CPU devices), and the one-device reference
    of :func:`multiprocess` (``reference.npz`` and its losses)."""
    import jax
    import numpy as np

    from bayeskd.training import fit

    model, data, prior, cfg = _problem()
    one = fit(model, data, prior=prior, config=cfg, key=jax.random.key(0), num_members=4,
              progress=False)  # mesh=None: device 0 alone
    np.savez(f"{out}/reference.npz", *[np.asarray(p) for p in jax.tree.leaves(one.params)])
    return {"reference_loss": one.history["loss"],
            "sharded_fit": {str(d): sharded_fit(one, d) for d in (1, 2)},
            "sharded_sgld": sharded_sgld(), "vocab_kernel": vocab_kernel(),
            "nuts_parallel": nuts_parallel()}


def runner_job(process_id: str, port: str, out: str) -> dict:
    """The worked example of docs/extending.md through the runner, on one process
    (``process_id`` ``-``) or as one of two: its stored units and its cached teacher."""
    import re

    if process_id != "-":
        from bayeskd import distributed

        distributed.initialize(f"127.0.0.1:{port}", 2, int(process_id), local_devices=1,
                               timeout_s=60)
    from bayeskd.experiments import run

    text = (pathlib.Path(__file__).parents[2] / "docs" / "extending.md").read_text()
    scope: dict = {"__name__": "worked_example"}
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    exec(compile(code, "docs/extending.md", "exec", dont_inherit=True), scope)  # noqa: S102
    res = run(scope["SPEC"], size="smoke", out=out, progress=False, log=lambda m: None)
    return {key: res[key] for key in ("rows", "summary", "values", "verdicts")}


def peer_loop(process_id: str, port: str) -> dict:
    """One of two processes exchanging a broadcast every 50 ms; process 0 kills itself (as a
    lost machine would die) after its fifth."""
    import os
    import signal
    import time

    from bayeskd import distributed

    distributed.initialize(f"127.0.0.1:{port}", 2, int(process_id), local_devices=1,
                           timeout_s=60)
    for step in range(400):
        distributed.broadcast_bytes(str(step).encode())
        print(f"[peer_loop] step {step}", flush=True)
        if step == 5 and process_id == "0":
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(0.05)
    return {"steps": 400}


def supervised_peer(process_id: str, port: str) -> dict:
    """:func:`peer_loop` as a supervised child: the exit status and what the survivor printed."""
    import contextlib
    import io

    from bayeskd.distributed import supervise

    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = supervise([sys.executable, __file__, "peer_loop", process_id, port],
                         process_id=int(process_id))
    return {"code": code, "stderr": err.getvalue(), "stdout": out.getvalue()}


if __name__ == "__main__":
    print(json.dumps(globals()[sys.argv[1]](*sys.argv[2:])), flush=True)

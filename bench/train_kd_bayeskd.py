"""One KD student trained by bayeskd, as a whole process: ``/usr/bin/time -v python`` this file.

Reads the problem of ``prepare_kd_data.py`` and trains the 40-100-100-10 MLP for 6,000 Adam
steps (learning rate 1e-2, batch 100) under ``(1 - alpha) CE + alpha T^2 KL`` with ``alpha =
0.9``, ``T = 4`` against the teacher table: :func:`bayeskd.fit` with all steps in one compiled
chunk. Compiled programs are kept in ``$BAYESKD_CACHE/xla`` like every bayeskd job: the first
run in a fresh ``BAYESKD_CACHE`` is cold, a second one warm; ``BAYESKD_COMPILE_CACHE=0`` keeps
every run cold. Prints the test accuracy and the seconds from the start of the script.

    python bench/train_kd_bayeskd.py /tmp/kd_problem.npz
"""

import time

T0 = time.perf_counter()

import sys  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402
from flax import nnx  # noqa: E402

import bayeskd  # noqa: E402

STEPS, BATCH, LR, ALPHA, TEMPERATURE = 6000, 100, 1e-2, 0.9, 4.0


def main(path: str) -> None:
    bayeskd.enable_compile_cache()
    z = np.load(path)
    n_layers = sum(k.startswith("kernel_") for k in z.files)
    hidden = tuple(int(z[f"kernel_{i}"].shape[1]) for i in range(n_layers - 1))
    model_fn = bayeskd.ModelFactory("mlp", (int(z["x"].shape[1]),), int(z["teacher_logp"].shape[1]),
                                    (("hidden", hidden),))
    # the structure only (nnx.eval_shape): building the template eagerly would compile and run
    # about 28 small initialisation programs in every process
    abstract = nnx.eval_shape(lambda: model_fn(jax.random.key(0)))
    graphdef, template = bayeskd.training.split_params(abstract)

    def stored(path, _):  # hidden/<i>/kernel -> kernel_<i>; head/bias -> bias_<last>
        keys = [getattr(k, "key", None) for k in path]
        layer = n_layers - 1 if keys[0] == "head" else keys[1]
        name = "kernel" if "kernel" in keys else "bias"
        return z[f"{name}_{layer}"][None]

    init = jax.tree_util.tree_map_with_path(stored, template)
    prior = bayeskd.TeacherPrior(alpha=ALPHA, temperature=TEMPERATURE, table=z["teacher_logp"])
    config = bayeskd.TrainConfig(steps=STEPS, batch_size=BATCH, learning_rate=LR,
                                 eval_every=STEPS)
    res = bayeskd.fit(model_fn, {"x": z["x"], "y": z["y"]}, prior=prior, config=config,
                      key=jax.random.key(0), init_params=init, progress=False)
    jax.block_until_ready(res.params)
    t_train = time.perf_counter() - T0
    logits = bayeskd.predict_logits(graphdef, jax.tree.map(lambda a: a[0], res.params),
                                    z["x_test"])
    acc = float(np.mean(np.argmax(np.asarray(logits), -1) == z["y_test"]))
    print(f"bayeskd: test accuracy {acc:.4f}; {t_train:.2f} s from start to trained weights "
          f"(fit {res.runtime_s:.2f} s)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "kd_problem.npz")

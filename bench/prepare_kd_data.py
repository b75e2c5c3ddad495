"""Write the ``train_kd`` problem to one ``.npz`` that both whole-process scripts read.

The problem of ``bayeskd bench --only train_kd``: MNIST-1D (4,000 training and 1,000 test
examples), the cached 1-D CNN teacher's log-probabilities on the training set, and one NNX
initialisation (seed 0) of the 40-100-100-10 MLP student, so both sides start from the same
weights. Run it once (it trains the teacher if ``$BAYESKD_CACHE`` does not hold it yet):

    python bench/prepare_kd_data.py /tmp/kd_problem.npz
"""

import sys

import jax
import numpy as np

from bayeskd.bench import _common, train_kd


def main(path: str) -> None:
    problem = _common.kd_problem(size="full")
    _, params = train_kd.initial_params(problem, seed=0)
    layers = [*(params["hidden"][i] for i in sorted(params["hidden"].keys())), params["head"]]
    weights = {}
    for i, layer in enumerate(layers):
        weights[f"kernel_{i}"] = np.asarray(layer["kernel"][...])
        weights[f"bias_{i}"] = np.asarray(layer["bias"][...])
    np.savez(path, x=problem.data["x"], y=problem.data["y"],
             teacher_logp=problem.data["teacher_logp"],
             x_test=np.asarray(problem.ds.x_test, np.float32),
             y_test=np.asarray(problem.ds.y_test, np.int32), **weights)
    print(f"wrote {path}: {len(problem.data['y'])} training examples, {len(layers)} layers, "
          f"jax {jax.__version__}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "kd_problem.npz")

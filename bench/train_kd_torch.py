"""The same KD student trained by a PyTorch eager loop, as a whole process.

``/usr/bin/time -v python bench/train_kd_torch.py /tmp/kd_problem.npz``: the data, initial
weights, objective and optimiser of ``train_kd_bayeskd.py`` (Adam 1e-2, eps 1e-8, batch 100,
6,000 steps, ``(1 - alpha) CE + alpha T^2 KL``, ``alpha = 0.9``, ``T = 4``), one intra-op thread
as in ``bayeskd bench``. The loop is that of ``bayeskd.bench.train_kd.run_torch_eager``, written
out here with NumPy and PyTorch alone so that the process never loads JAX. Prints the test
accuracy and the seconds from the start of the script.
"""

import time

T0 = time.perf_counter()

import sys  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

STEPS, BATCH, LR, ALPHA, TEMPERATURE = 6000, 100, 1e-2, 0.9, 4.0


def main(path: str) -> None:
    torch.set_num_threads(1)
    z = np.load(path)
    n_layers = sum(k.startswith("kernel_") for k in z.files)
    mods: list = []
    for i in range(n_layers):
        kernel = z[f"kernel_{i}"]
        lin = torch.nn.Linear(kernel.shape[0], kernel.shape[1])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(kernel.T.copy()))
            lin.bias.copy_(torch.from_numpy(z[f"bias_{i}"].copy()))
        mods += [lin, torch.nn.ReLU()] if i < n_layers - 1 else [lin]
    model = torch.nn.Sequential(*mods)
    x, t = torch.from_numpy(z["x"]), torch.from_numpy(z["teacher_logp"])
    y = torch.from_numpy(z["y"].astype(np.int64))
    opt = torch.optim.Adam(model.parameters(), lr=LR, eps=1e-8)
    gen = torch.Generator().manual_seed(1)
    for _ in range(STEPS):
        idx = torch.randint(0, x.shape[0], (BATCH,), generator=gen)
        logits = model(x[idx])
        t_logp = F.log_softmax(t[idx] / TEMPERATURE, dim=-1)
        s_logp = F.log_softmax(logits / TEMPERATURE, dim=-1)
        kl = (t_logp.exp() * (t_logp - s_logp)).sum(-1).mean()
        loss = (1.0 - ALPHA) * F.cross_entropy(logits, y[idx]) + ALPHA * TEMPERATURE**2 * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    t_train = time.perf_counter() - T0
    with torch.no_grad():
        logits = model(torch.from_numpy(z["x_test"])).numpy()
    acc = float(np.mean(np.argmax(logits, -1) == z["y_test"]))
    print(f"torch eager: test accuracy {acc:.4f}; {t_train:.2f} s from start to trained weights")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "kd_problem.npz")

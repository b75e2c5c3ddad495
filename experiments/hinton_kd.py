"""hinton_kd: Hinton, Vinyals & Dean 2015, "Distilling the knowledge in a neural network".

Mirrors: §3 (MNIST): temperature by student size, transfer-set size, the omitted digit 3.

Command:   bayeskd reproduce hinton_kd --size quick        (or: python experiments/hinton_kd.py --size quick)
Sizes:     smoke ~1 min (the tests), quick ~5 min, full ~20 min — wall time on 2 CPU cores.
Output:    paper_figures/hinton_kd/ (results.json, results.csv, hinton_kd.png/.pdf, summary.md)

The configuration (sizes, seeds, steps) and the code are in
``bayeskd/experiments/figures/hinton_kd.py``; this script runs exactly that, so the script and the
installed ``bayeskd reproduce`` command give the same numbers.
"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from _run import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main("hinton_kd"))

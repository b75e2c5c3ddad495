"""self_distillation: Furlanello et al. 2018 "Born-again neural networks"; Mobahi, Farajtabar & Bartlett 2020 "Self-distillation amplifies regularization in Hilbert space".

Mirrors: Furlanello Table 1; Mobahi §3-4, Fig. 3-4.

Command:   bayeskd reproduce self_distillation --size quick        (or: python experiments/self_distillation.py --size quick)
Sizes:     smoke ~10 s (the tests), quick ~1 min, full ~5 min — wall time on 2 CPU cores.
Output:    paper_figures/self_distillation/ (results.json, results.csv, self_distillation.png/.pdf, summary.md)

The configuration (sizes, seeds, steps) and the code are in
``bayeskd/experiments/figures/self_distillation.py``; this script runs exactly that, so the script and the
installed ``bayeskd reproduce`` command give the same numbers.
"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from _run import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main("self_distillation"))

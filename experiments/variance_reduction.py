"""variance_reduction: Menon et al. 2021, "A statistical perspective on distillation".

Mirrors: Lemma 1, Prop. 3 and the synthetic Gaussian experiment.

Command:   bayeskd reproduce variance_reduction --size quick        (or: python experiments/variance_reduction.py --size quick)
Sizes:     smoke ~10 s (the tests), quick ~3 min, full ~10 min — wall time on 2 CPU cores.
Output:    paper_figures/variance_reduction/ (results.json, results.csv, variance_reduction.png/.pdf, summary.md)

The configuration (sizes, seeds, steps) and the code are in
``bayeskd/experiments/figures/variance_reduction.py``; this script runs exactly that, so the script and the
installed ``bayeskd reproduce`` command give the same numbers.
"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from _run import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main("variance_reduction"))

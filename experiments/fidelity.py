"""fidelity: Stanton et al. 2021, "Does knowledge distillation really work?".

Claim:     students do not match their teachers, even in self-distillation.
Published: train agreement well below 100% (ResNet-56 on CIFAR-100: about 80–90%); an ensemble's
           student lands between single model and ensemble.
Ours:      train agreement 100.0% on the 4,000 training inputs (the opposite), 94.5% on a 44k
           transfer set; test agreement 91.7% → 93.5% as the transfer set grows; ensemble student
           95.5% between single 94.2% and ensemble 96.6%.
           (quick size, 3 seeds, as committed; paper_figures/fidelity/summary.md has the current
           numbers and the reasons where they disagree with the paper.)
Mirrors:   Fig. 1 (ensemble teacher), Fig. 3 and 5 (fidelity vs transfer set, train agreement).

Command:   bayeskd reproduce fidelity --size quick        (or: python experiments/fidelity.py --size quick)
Sizes:     smoke ~40 s (the tests), quick ~3 min, full ~15 min — wall time on 2 CPU cores.
Output:    paper_figures/fidelity/ (results.json, results.csv, fidelity.png/.pdf, summary.md)

The configuration (sizes, seeds, steps) and the code are in
``bayeskd/experiments/figures/fidelity.py``; this script runs exactly that, so the script and the
installed ``bayeskd reproduce`` command give the same numbers.
"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from _run import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main("fidelity"))

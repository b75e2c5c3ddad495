"""bayesian_dark_knowledge: Korattikara, Rathod, Murphy & Welling 2015, "Bayesian dark knowledge".

Claim:     an online student of an SGLD chain approaches the HMC posterior predictive (far closer
           than SGD), and more student capacity brings it closer (Vadera & Marlin 2019).
Published: KL(HMC ‖ ·) on the toy grid: SGD 0.246, SGLD 0.007, students 2-10-2 / 2-100-2 /
           2-10-10-2 0.031 / 0.014 / 0.009.
Ours:      KL(NUTS ‖ ·): SGD 0.037, SGLD 0.015, students 2-10-2 / 2-100-2 / 2-10-10-2 0.108 /
           0.132 / 0.084 (3 seeds): SGLD beats SGD as published, but the online students are
           worse than SGD (near the data 0.034–0.047 vs SGD 0.011) and capacity does not order them.
           (quick size, as measured on the branch; paper_figures/bayesian_dark_knowledge/summary.md
           has the current numbers and the reasons where they disagree with the paper.)
Mirrors:   §4.1 toy 2-D classification (Fig. 1, Table 1); student capacity (Vadera & Marlin).

Command:   bayeskd reproduce bayesian_dark_knowledge --size quick        (or: python experiments/bayesian_dark_knowledge.py --size quick)
Sizes:     smoke ~40 s (the tests), quick ~2 min, full ~6 min — wall time on 2 CPU cores.
Output:    paper_figures/bayesian_dark_knowledge/ (results.json, results.csv, bayesian_dark_knowledge.png/.pdf, summary.md)

The configuration (sizes, seeds, steps) and the code are in
``bayeskd/experiments/figures/bayesian_dark_knowledge.py``; this script runs exactly that, so the
script and the installed ``bayeskd reproduce`` command give the same numbers.
"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from _run import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main("bayesian_dark_knowledge"))

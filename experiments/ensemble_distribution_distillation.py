"""ensemble_distribution_distillation: Malinin, Mlodozeniec & Gales 2020, "Ensemble distribution distillation".

Claim:     a Dirichlet (prior-network) student trained on the members' predictions keeps the ensemble's
           knowledge uncertainty, which distilling the mean (EnD) loses, at close to ensemble accuracy.
Published: EnD² reproduces the ensemble's mutual-information map and OOD detection; accuracy close to
           the ensemble's (direction only; no spiral numbers are quoted).
Ours:      Spearman ρ(EnD² MI, ensemble MI) over the grid 0.92 (agrees); EnD's total entropy
           ranks the grid even closer (0.95: disagrees that EnD loses the ranking, it loses the
           split); OOD AUROC by MI ensemble 0.110, EnD² 0.086, EnD (entropy) 0.037 — all below
           0.5, the ReLU ensemble is confident off the data; accuracy ensemble 69.0%, EnD² 68.2%.
           (quick size, as measured on the branch; paper_figures/ensemble_distribution_distillation/summary.md has the current
           numbers and the reasons where they disagree with the paper.)
Mirrors:   the spiral experiment (§5, Fig. 2–3) and OOD detection by mutual information.

Command:   bayeskd reproduce ensemble_distribution_distillation --size quick        (or: python experiments/ensemble_distribution_distillation.py --size quick)
Sizes:     smoke ~30 s (the tests), quick ~2 min, full ~8 min — wall time on 2 CPU cores.
Output:    paper_figures/ensemble_distribution_distillation/ (results.json, results.csv, ensemble_distribution_distillation.png/.pdf, summary.md)

The configuration (sizes, seeds, steps) and the code are in
``bayeskd/experiments/figures/ensemble_distribution_distillation.py``; this script runs exactly that, so the script and the
installed ``bayeskd reproduce`` command give the same numbers.
"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from _run import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main("ensemble_distribution_distillation"))

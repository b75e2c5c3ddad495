"""temperature_tempering: the KD temperature and the posterior temperature are different knobs
(Wenzel et al. 2020; Izmailov et al. 2021; Hinton et al. 2015).

Claim:     a KD temperature T > 1 softens the teacher's targets; a posterior temperature T < 1
           sharpens the posterior. Cold posteriors predict better than T = 1 with data
           augmentation, much less (or not at all) without.
Published: cold posteriors (T ≈ 0.01–0.1) beat the Bayes posterior (ResNet-20 / CIFAR-10, SG-MCMC,
           with augmentation); with HMC and no augmentation the effect largely disappears.
Ours:      digits, SGLD predictive test NLL T_post = 1 → 0.01: with augmentation 0.248 → 0.050,
           without 0.094 → 0.066; the softened targets' entropy rises 0.019 → 1.931 over KD T =
           1 → 16 while the students' own entropy stays 0.018–0.029 (3 seeds).
           (quick size, as measured on the branch; paper_figures/temperature_tempering/summary.md
           has the current numbers and where the two curves meet.)
Mirrors:   the cold-posterior sweep (Wenzel et al. Fig. 1; Izmailov et al. §6) next to a
           KD-temperature sweep, on 8x8 digits.

Command:   bayeskd reproduce temperature_tempering --size quick        (or: python experiments/temperature_tempering.py --size quick)
Sizes:     smoke ~40 s (the tests), quick ~2.5 min, full ~8 min — wall time on 2 CPU cores.
Output:    paper_figures/temperature_tempering/ (results.json, results.csv, temperature_tempering.png/.pdf, summary.md)

The configuration (sizes, seeds, steps) and the code are in
``bayeskd/experiments/figures/temperature_tempering.py``; this script runs exactly that, so the
script and the installed ``bayeskd reproduce`` command give the same numbers.
"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from _run import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main("temperature_tempering"))

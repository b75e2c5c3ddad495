"""privileged_information: Lopez-Paz, Bottou, Schölkopf & Vapnik 2016, "Unifying distillation and privileged information".

Claim:     a teacher on privileged inputs improves a student without them where the privileged
           information is learnable from x, and helps little where it is not.
Published: teacher/student/distilled 96/88/95, 90/68/70, 98/89/97, 96/55/56 %; MNIST 7x7 student about
           0.40–0.55 alone, 0.6–0.7 imitating at T = 10–20.
Ours:      teacher/student/distilled 95/87/95, 90/67/69, 99/90/99, 99/51/51 % (30 repeats; gains
           +7.5, +1.7, +8.9, +0.1 points against published +7, +2, +8, +1); digits students
           alone / imitating at T = 10–20: 4x4 0.872 / 0.876, 2x2 0.596 / 0.608 (no 2-point lift).
           (quick size, as measured on the branch; paper_figures/privileged_information/summary.md has the current
           numbers and the reasons where they disagree with the paper.)
Mirrors:   §4.1 (four synthetic setups) and §4.2 (MNIST 28x28 teacher, 7x7 student) at digits scale.

Command:   bayeskd reproduce privileged_information --size quick        (or: python experiments/privileged_information.py --size quick)
Sizes:     smoke ~20 s (the tests), quick ~1 min, full ~4 min — wall time on 2 CPU cores.
Output:    paper_figures/privileged_information/ (results.json, results.csv, privileged_information.png/.pdf, summary.md)

The configuration (sizes, seeds, steps) and the code are in
``bayeskd/experiments/figures/privileged_information.py``; this script runs exactly that, so the script and the
installed ``bayeskd reproduce`` command give the same numbers.
"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from _run import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main("privileged_information"))

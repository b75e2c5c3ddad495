"""label_smoothing_teacher: Müller, Kornblith & Hinton 2019, "When does label smoothing help?".

Claim:     label smoothing calibrates the teacher, but the students it distills are worse.
Published: smoothing lowers the teacher's ECE; its students are worse at every temperature.
Ours:      the 7,710-parameter CNN teacher's ECE rises 5.4% → 22.4% (ε 0 → 0.2) while its accuracy
           rises 93.3% → 95.6%; the best student falls 67.2% → 65.3%, but not at every
           temperature.
           (quick size, 3 seeds, as committed; paper_figures/label_smoothing_teacher/summary.md has
           the current numbers and the reasons where they disagree with the paper.)
Mirrors:   §4 / Fig. 6-7 (teacher ECE, student accuracy vs smoothing) and Fig. 1 (penultimate layer).

Command:   bayeskd reproduce label_smoothing_teacher --size quick        (or: python experiments/label_smoothing_teacher.py --size quick)
Sizes:     smoke ~25 s (the tests), quick ~5 min, full ~20 min — wall time on 2 CPU cores.
Output:    paper_figures/label_smoothing_teacher/ (results.json, results.csv, label_smoothing_teacher.png/.pdf, summary.md)

The configuration (sizes, seeds, steps) and the code are in
``bayeskd/experiments/figures/label_smoothing_teacher.py``; this script runs exactly that, so the script and the
installed ``bayeskd reproduce`` command give the same numbers.
"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from _run import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main("label_smoothing_teacher"))

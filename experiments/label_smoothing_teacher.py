"""label_smoothing_teacher: Müller, Kornblith & Hinton 2019, "When does label smoothing help?".

Mirrors: §4 / Fig. 6-7 (teacher ECE, student accuracy vs smoothing) and Fig. 1 (penultimate layer).

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

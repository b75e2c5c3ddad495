"""teacher_quality: Yuan et al. 2020, "Revisiting knowledge distillation via label smoothing regularization".

Mirrors: Tables 1, 2 and 5 (Re-KD, poorly-trained teacher, Tf-KD_reg).

Command:   bayeskd reproduce teacher_quality --size quick        (or: python experiments/teacher_quality.py --size quick)
Sizes:     smoke ~20 s (the tests), quick ~1.5 min, full ~8 min — wall time on 2 CPU cores.
Output:    paper_figures/teacher_quality/ (results.json, results.csv, teacher_quality.png/.pdf, summary.md)

The configuration (sizes, seeds, steps) and the code are in
``bayeskd/experiments/figures/teacher_quality.py``; this script runs exactly that, so the script and the
installed ``bayeskd reproduce`` command give the same numbers.
"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from _run import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main("teacher_quality"))

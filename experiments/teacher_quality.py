"""teacher_quality: Yuan et al. 2020, "Revisiting knowledge distillation via label smoothing
regularization".

Claim:     a poorly trained teacher, a weaker reversed teacher and a teacher-free virtual teacher each
           improve on the hard-label student.
Published: all three improve the student (Tables 1, 2 and 5).
Ours:      all three hurt on MNIST-1D: barely trained CNN −20.3 points, reversed (MLP → CNN) −3.8,
           teacher-free −5.1; KD from the trained CNN +1.7.
           (quick size, 3 seeds, as committed; paper_figures/teacher_quality/summary.md has the
           current numbers and the reasons where they disagree with the paper.)
Mirrors:   Tables 1, 2 and 5 (Re-KD, poorly-trained teacher, Tf-KD_reg).

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

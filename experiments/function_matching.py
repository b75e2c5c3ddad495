"""function_matching: Beyer et al. 2022, "Knowledge distillation: a good teacher is patient and consistent".

Claim:     the teacher evaluated inside the training step on the student's own fresh augmented
           view (consistent) beats a fixed table of teacher outputs and inconsistent views, and
           longer schedules keep improving.
Published: consistent teaching beats a fixed teacher and independent noise; a ResNet-50 reaches 82.8%
           ImageNet top-1 from a BiT teacher with very long schedules.
Ours:      consistent 81.2% vs fixed table (40k precomputed views) 78.2% vs inconsistent 76.8%;
           augmentation alone 80.9%, labels alone 66.2%; patience 1,500 → 24,000 steps:
           72.7% → 86.9% (augmentation alone at 24,000 steps: 85.3%). (quick size, 3 seeds;
           paper_figures/function_matching/summary.md has the current numbers.)
Mirrors:   the fixed-teacher / independent-noise / consistent-teaching comparison and the patience
           curves (accuracy against schedule length), on MNIST-1D with its own augmentations.

Command:   bayeskd reproduce function_matching --size quick        (or: python experiments/function_matching.py --size quick)
Sizes:     smoke ~40 s (the tests), quick ~7 min, full ~30 min — wall time on 2 CPU cores.
Output:    paper_figures/function_matching/ (results.json, results.csv, function_matching.png/.pdf, summary.md)

The configuration (sizes, seeds, steps) and the code are in
``bayeskd/experiments/figures/function_matching.py``; this script runs exactly that, so the script
and the installed ``bayeskd reproduce`` command give the same numbers.
"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from _run import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main("function_matching"))

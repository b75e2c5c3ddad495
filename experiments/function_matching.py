"""function_matching: Beyer et al. 2022, "Knowledge distillation: a good teacher is patient and consistent".

Mirrors: Fig. 3 (fixed teacher table vs independent views vs consistent teaching) and the
patience curves (accuracy against schedule length), on MNIST-1D with its own augmentations.

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

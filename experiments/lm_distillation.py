"""lm_distillation: Kim & Rush 2016, MiniLLM, GKD, DistillKit: distilling a transformer LM on a language with a known predictive.

Mirrors: Kim & Rush Table 1, MiniLLM Table 1, GKD Fig. 1, DistillKit's top-k logit tables.

Command:   bayeskd reproduce lm_distillation --size quick        (or: python experiments/lm_distillation.py --size quick)
Sizes:     smoke ~1 min (the tests), quick ~15 min, full ~2 h — wall time on 2 CPU cores.
Output:    paper_figures/lm_distillation/ (results.json, results.csv, lm_distillation.png/.pdf, summary.md)

The configuration (sizes, seeds, steps) and the code are in
``bayeskd/experiments/figures/lm_distillation.py``; this script runs exactly that, so the script and the
installed ``bayeskd reproduce`` command give the same numbers.
"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from _run import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main("lm_distillation"))

"""mode_seeking: Gu et al. 2024 (MiniLLM), Agarwal et al. 2024 (GKD): forward vs reverse KL vs JSD on a bimodal teacher.

Mirrors: MiniLLM Fig. 2 and GKD §3 (mode-covering forward KL, mode-seeking reverse KL).

Command:   bayeskd reproduce mode_seeking --size quick        (or: python experiments/mode_seeking.py --size quick)
Sizes:     smoke ~10 s (the tests), quick ~20 s, full ~40 s — wall time on 2 CPU cores.
Output:    paper_figures/mode_seeking/ (results.json, results.csv, mode_seeking.png/.pdf, summary.md)

The configuration (sizes, seeds, steps) and the code are in
``bayeskd/experiments/figures/mode_seeking.py``; this script runs exactly that, so the script and the
installed ``bayeskd reproduce`` command give the same numbers.
"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from _run import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main("mode_seeking"))

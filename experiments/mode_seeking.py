"""mode_seeking: Gu et al. 2024 (MiniLLM), Agarwal et al. 2024 (GKD): forward vs reverse KL vs JSD on a bimodal teacher.

Claim:     forward KL is mode-covering (the student spreads mass over both modes and the valley
           between them), reverse KL is mode-seeking (it locks onto one mode), and JSD(beta) moves
           from one to the other as beta goes from 0 to 1.
Published: MiniLLM Fig. 2 and GKD §3 (qualitative: mode covering vs mode seeking).
Ours:      valley mass forward KL 0.470 vs reverse KL 0.039; mass on the major mode 0.961 (reverse)
           vs 0.312 (forward); JSD valley mass 0.470 -> 0.125 -> 0.039 as beta goes 0.1 -> 0.5 -> 0.9
           (quick size, measured before merging; paper_figures/mode_seeking/summary.md has the
           current numbers when regenerated).
Mirrors:   MiniLLM Fig. 2 and GKD §3.

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

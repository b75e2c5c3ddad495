"""distilbert_init: Sanh et al. 2019, "DistilBERT": a half-depth student initialised from every other teacher layer.

Claim:     a student initialised from every other teacher layer, distilled with a cosine loss on
           hidden states, keeps about 97% of the teacher's quality at 60% of its size.
Published: DistilBERT keeps 97% of BERT's GLUE score with 40% fewer parameters; initialisation and
           the cosine loss each help (Table 4).
Ours:      the student (57% of the teacher's parameters) reaches 100% of its bits-per-token
           quality, but DistilBERT initialisation does not beat random initialisation with KD
           (KL(p*||q) 0.198 vs 0.189) and the cosine loss adds nothing (0.198) (quick size,
           measured before merging; paper_figures/distilbert_init/summary.md has the current
           numbers when regenerated).
Mirrors:   Table 1 and the Table 4 ablation (initialisation, cosine loss).

Command:   bayeskd reproduce distilbert_init --size quick        (or: python experiments/distilbert_init.py --size quick)
Sizes:     smoke ~1 min (the tests), quick ~10 min, full ~1 h — wall time on 2 CPU cores.
Output:    paper_figures/distilbert_init/ (results.json, results.csv, distilbert_init.png/.pdf, summary.md)

The configuration (sizes, seeds, steps) and the code are in
``bayeskd/experiments/figures/distilbert_init.py``; this script runs exactly that, so the script and the
installed ``bayeskd reproduce`` command give the same numbers.
"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from _run import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main("distilbert_init"))

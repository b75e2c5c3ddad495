"""rag_privileged: Lopez-Paz et al. 2016 (privileged information), Lewis et al. 2020 (RAG): a retrieval-augmented teacher distilled into a closed-book student.

Claim:     distillation from a teacher with privileged information (its retrieved documents)
           beats the student trained on the labels alone; RAG's marginal over the k retrieved
           documents is better calibrated than answering from the top document only.
Published: Lopez-Paz et al. §4 (generalised distillation beats the student alone); Lewis et al.
           §2.1 (RAG-Sequence/Token marginalise over the top-k documents).
Ours:      retriever accuracy 0.8, held-out phrasings of the teacher-only facts: accuracy 0.025
           (labels alone) -> 0.62 (distilled from the RAG marginal) / 0.86 (from top-1), ceiling
           1.00; teacher ECE 0.081 (marginal) vs 0.190 (top-1); student ECE 0.093 (from the
           marginal) vs 0.061 (from top-1), within 2 std (quick size, measured before merging;
           paper_figures/rag_privileged/summary.md has the current numbers when regenerated).
Mirrors:   Lopez-Paz et al. §4, Lewis et al. §2.1, on a synthetic knowledge base.

Command:   bayeskd reproduce rag_privileged --size quick        (or: python experiments/rag_privileged.py --size quick)
Sizes:     smoke ~40 s (the tests), quick ~1-2 min, full ~8 min — wall time on 2 CPU cores.
Output:    paper_figures/rag_privileged/ (results.json, results.csv, rag_privileged.png/.pdf, summary.md)

The configuration (sizes, seeds, steps) and the code are in
``bayeskd/experiments/figures/rag_privileged.py``; this script runs exactly that, so the script and
the installed ``bayeskd reproduce`` command give the same numbers.
"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from _run import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main("rag_privileged"))

"""lm_distillation: Kim & Rush 2016, MiniLLM, GKD, DistillKit: distilling a transformer LM on a language with a known predictive.

Claim:     distilling the teacher's next-token distribution beats training on the sampled tokens;
           sequence-level KD beats word-level (Kim & Rush); reverse KL gives more plausible samples
           (MiniLLM); on-policy data helps (GKD); top-k teacher logits keep most of the signal at a
           fraction of the bytes (DistillKit).
Published: Kim & Rush 2016 Table 1; MiniLLM Table 1; GKD Fig. 1; DistillKit's top-k tables.
Ours:      on the HMM language (V = 512) every token-level, online and on-policy student is closer
           to the exact predictive than the hard-label student by far more than 2 std (KL(p*||q)
           0.19-0.25 vs 2.73); reverse KL gives the most plausible samples; on-policy is best
           (0.194); sequence-level KD does not beat word-level here (2.78). (bayeskd lm-distill,
           quick size, measured before merging; paper_figures/lm_distillation/summary.md has the
           current numbers when regenerated.)
Mirrors:   Kim & Rush Table 1, MiniLLM Table 1, GKD Fig. 1, DistillKit's top-k logit tables.

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

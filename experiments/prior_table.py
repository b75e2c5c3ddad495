"""prior_table: the source document's regulariser table (MISSION.md C12).

Mirrors: the supplementary table: every regulariser as a prior, one student, one table.

Command:   bayeskd reproduce prior_table --size quick        (or: python experiments/prior_table.py --size quick)
Sizes:     smoke ~20 s (the tests), quick ~3 min, full ~15 min — wall time on 2 CPU cores.
Output:    paper_figures/prior_table/ (results.json, results.csv, prior_table.png/.pdf, summary.md)

The configuration (sizes, seeds, steps) and the code are in
``bayeskd/experiments/figures/prior_table.py``; this script runs exactly that, so the script and the
installed ``bayeskd reproduce`` command give the same numbers.
"""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from _run import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main("prior_table"))

"""prior_table: every regulariser as a prior, one student, one table.

The spec: bayeskd/experiments/specs/prior_table.py; `bayeskd reproduce prior_table`."""
from bayeskd.experiments.commands import script_main

if __name__ == "__main__":
    raise SystemExit(script_main("prior_table"))

"""distilbert_init: DistilBERT-style initialisation of a half-depth student.

Spec: bayeskd/experiments/specs/distilbert_init.py; `bayeskd reproduce distilbert_init --size quick`.
"""
from bayeskd.experiments.commands import script_main

if __name__ == "__main__":
    raise SystemExit(script_main("distilbert_init"))

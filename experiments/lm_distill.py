"""lm_distill: distil a small transformer language model (a job).

Spec: bayeskd/experiments/specs/lm_distill.py; `bayeskd lm-distill --size quick`.
"""
from bayeskd.experiments.commands import script_main

if __name__ == "__main__":
    raise SystemExit(script_main("lm_distill"))

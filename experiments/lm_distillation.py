"""lm_distillation: distilling a transformer LM on a language with a known predictive.

Spec: bayeskd/experiments/specs/lm_distillation.py; `bayeskd reproduce lm_distillation --size quick`.
"""
from bayeskd.experiments.commands import script_main

if __name__ == "__main__":
    raise SystemExit(script_main("lm_distillation"))

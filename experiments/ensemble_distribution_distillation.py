"""ensemble_distribution_distillation: a Dirichlet student keeps the ensemble's knowledge uncertainty (bayeskd/experiments/specs/ensemble_distribution_distillation.py; `bayeskd reproduce ensemble_distribution_distillation --size quick`)."""
from bayeskd.experiments.commands import script_main

if __name__ == "__main__":
    raise SystemExit(script_main("ensemble_distribution_distillation"))

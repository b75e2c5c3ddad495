"""bayesian_dark_knowledge: online students of an SGLD chain against the NUTS predictive (bayeskd/experiments/specs/bayesian_dark_knowledge.py; `bayeskd reproduce bayesian_dark_knowledge --size quick`)."""
from bayeskd.experiments.commands import script_main

if __name__ == "__main__":
    raise SystemExit(script_main("bayesian_dark_knowledge"))

"""variance_reduction: Bayes-teacher labels lower the variance of the risk (bayeskd/experiments/specs/variance_reduction.py; `bayeskd reproduce variance_reduction --size quick`)."""
from bayeskd.experiments.commands import script_main

if __name__ == "__main__":
    raise SystemExit(script_main("variance_reduction"))

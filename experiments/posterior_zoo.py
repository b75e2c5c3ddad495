"""posterior_zoo: every posterior approximation as a teacher, against a NUTS reference (bayeskd/experiments/specs/posterior_zoo.py; `bayeskd posterior-zoo --size quick`)."""
from bayeskd.experiments.commands import script_main

if __name__ == "__main__":
    raise SystemExit(script_main("posterior_zoo"))

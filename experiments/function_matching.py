"""function_matching: a consistent, patient teacher on augmented views.

The spec: bayeskd/experiments/specs/function_matching.py; `bayeskd reproduce function_matching`."""
from bayeskd.experiments.commands import script_main

if __name__ == "__main__":
    raise SystemExit(script_main("function_matching"))

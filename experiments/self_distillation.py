"""self_distillation: born-again networks and closed-form kernel self-distillation (bayeskd/experiments/specs/self_distillation.py; `bayeskd reproduce self_distillation --size quick`)."""
from bayeskd.experiments.commands import script_main

if __name__ == "__main__":
    raise SystemExit(script_main("self_distillation"))

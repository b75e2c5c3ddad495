"""temperature_tempering: the KD temperature softens, the posterior temperature sharpens (bayeskd/experiments/specs/temperature_tempering.py; `bayeskd reproduce temperature_tempering --size quick`)."""
from bayeskd.experiments.commands import script_main

if __name__ == "__main__":
    raise SystemExit(script_main("temperature_tempering"))

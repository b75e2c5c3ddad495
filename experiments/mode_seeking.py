"""mode_seeking: forward vs reverse KL vs JSD fitted to a bimodal teacher (bayeskd/experiments/specs/mode_seeking.py; `bayeskd reproduce mode_seeking --size quick`)."""
from bayeskd.experiments.commands import script_main

if __name__ == "__main__":
    raise SystemExit(script_main("mode_seeking"))

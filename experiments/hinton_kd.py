"""hinton_kd: temperature, transfer-set size and the omitted class (bayeskd/experiments/specs/hinton_kd.py; `bayeskd reproduce hinton_kd --size quick`)."""
from bayeskd.experiments.commands import script_main

if __name__ == "__main__":
    raise SystemExit(script_main("hinton_kd"))

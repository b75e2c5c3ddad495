"""kd_as_map: KD is MAP under a teacher-centred Dirichlet prior; its posterior's intervals cover p* (bayeskd/experiments/specs/kd_as_map.py; `bayeskd reproduce kd_as_map --size quick`)."""
from bayeskd.experiments.commands import script_main

if __name__ == "__main__":
    raise SystemExit(script_main("kd_as_map"))

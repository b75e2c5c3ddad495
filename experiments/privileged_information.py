"""privileged_information: a teacher with privileged inputs teaches a student (bayeskd/experiments/specs/privileged_information.py; `bayeskd reproduce privileged_information --size quick`)."""
from bayeskd.experiments.commands import script_main

if __name__ == "__main__":
    raise SystemExit(script_main("privileged_information"))

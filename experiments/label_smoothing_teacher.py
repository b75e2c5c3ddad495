"""label_smoothing_teacher: label-smoothed teachers distill worse students (bayeskd/experiments/specs/label_smoothing_teacher.py; `bayeskd reproduce label_smoothing_teacher --size quick`)."""
from bayeskd.experiments.commands import script_main

if __name__ == "__main__":
    raise SystemExit(script_main("label_smoothing_teacher"))

"""teacher_quality: poor, reversed and teacher-free KD still regularise.

The spec: bayeskd/experiments/specs/teacher_quality.py; `bayeskd reproduce teacher_quality`."""
from bayeskd.experiments.commands import script_main

if __name__ == "__main__":
    raise SystemExit(script_main("teacher_quality"))

"""fidelity: students do not match their teachers, even in self-distillation.

The spec: bayeskd/experiments/specs/fidelity.py; `bayeskd reproduce fidelity`."""
from bayeskd.experiments.commands import script_main

if __name__ == "__main__":
    raise SystemExit(script_main("fidelity"))

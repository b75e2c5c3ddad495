"""rag_privileged: a retrieval-augmented teacher distilled into a closed-book student (bayeskd/experiments/specs/rag_privileged.py; `bayeskd reproduce rag_privileged --size quick`)."""
from bayeskd.experiments.commands import script_main

if __name__ == "__main__":
    raise SystemExit(script_main("rag_privileged"))

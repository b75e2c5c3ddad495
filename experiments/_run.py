"""Shared entry point of the scripts in this folder: ``python experiments/NAME.py [--size ...]``.

Each script is a thin wrapper around ``bayeskd reproduce NAME``; the figure's code and sizes live
in ``bayeskd/experiments/figures/NAME.py`` so the installed ``bayeskd`` command runs the same code.
"""

from __future__ import annotations

import sys


def main(name: str, argv: list[str] | None = None) -> int:
    """Run ``bayeskd reproduce NAME`` with the script's arguments (``--size``, ``--seeds``, ``--out``)."""
    from bayeskd.cli import main as cli_main

    return cli_main(["reproduce", name, *(sys.argv[1:] if argv is None else argv)])

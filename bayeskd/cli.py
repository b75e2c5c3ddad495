"""The ``bayeskd`` command line.

Every subcommand validates its arguments before any work. Bad input prints one line,
``bayeskd: error: <argument>: <what is allowed>``, on stderr and exits with status 2, leaving no
files behind. A run that diverges (non-finite loss) prints one line and exits with status 1.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Each module defines ``add_cli(subparsers)``, which adds its subcommand and sets ``func``.
COMMAND_MODULES = [
    "bayeskd.experiments.compare_priors",
    "bayeskd.experiments.registry",
    "bayeskd.bench",
    "bayeskd.experiments.posterior_zoo",
    "bayeskd.provenance",
    "bayeskd.experiments.lm_distill",
]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2
        sys.stderr.write(f"bayeskd: error: {message}\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="bayeskd", description="Knowledge distillation as Bayesian inference.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for module in COMMAND_MODULES:
        importlib.import_module(module).add_cli(sub)
    return parser


def _subcommands(parser: argparse.ArgumentParser) -> set[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    return set()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (2 for bad input)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        if e.code == 2 and argv is not None and argv and argv[0] in _subcommands(parser):
            return 2
        raise
    from bayeskd.provenance import record_command

    record_command(list(sys.argv[1:] if argv is None else argv))
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        sys.stderr.write(f"bayeskd: error: {msg}\n")
        return 2
    except FloatingPointError as e:  # TrainingDiverged: the run failed, the input was valid
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        sys.stderr.write(f"bayeskd: training diverged: {msg}\n")
        return 1
    except Exception as e:  # noqa: BLE001
        from bayeskd.io import OutputLocked

        if isinstance(e, OutputLocked):
            sys.stderr.write(f"bayeskd: error: {e}\n")
            return 2
        raise


if __name__ == "__main__":
    raise SystemExit(main())

"""The ``bayeskd`` command line.

Every subcommand validates its arguments before any work. Bad input (including a run too large
for the machine's memory) prints one line, ``bayeskd: error: <argument>: <what is allowed>``, on
stderr and exits with status 2, leaving no files behind. A run that diverges (non-finite loss)
prints one line and exits with status 1, and so does a run the machine fails (a full disk, a
cache or output folder that cannot be written): ``bayeskd: error: '<path>': <reason>``. Warnings
(for instance a damaged cache file being recomputed) print as one ``bayeskd: warning:`` line.

Every command keeps XLA's compiled programs on disk (:func:`bayeskd.cache.enable_compile_cache`),
so a rerun loads them instead of compiling; ``--no-compile-cache`` (on every command) or
``BAYESKD_COMPILE_CACHE=0`` switches that off. ``bayeskd bench`` measures cold compilation with
the cache off and the warm cache in a fresh process of its own.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
import warnings
from collections.abc import Sequence

# Each module defines ``add_cli(subparsers)``, which adds its subcommand and sets ``func``.
COMMAND_MODULES = [
    "bayeskd.experiments.commands",
    "bayeskd.bench",
    "bayeskd.provenance",
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
    from bayeskd.distributed import add_cli_flags

    for command in sub.choices.values():  # the same device, process and cache flags on every job
        add_cli_flags(command)
        command.add_argument("--no-compile-cache", action="store_true",
                             help="do not keep compiled XLA programs on disk (also: "
                                  "BAYESKD_COMPILE_CACHE=0)")
    return parser


def setup_compile_cache(args: argparse.Namespace):
    """Turn on the persistent compilation cache for a command unless ``--no-compile-cache``.

    A command that manages the cache itself (``bench``, which times cold and warm compilation)
    sets ``own_compile_cache``. Returns the folder in use or ``None``.
    """
    from bayeskd.cache import compile_cache_wanted, enable_compile_cache

    if args.no_compile_cache or getattr(args, "own_compile_cache", False):
        compile_cache_wanted()  # a bad BAYESKD_COMPILE_CACHE is refused all the same
        return None
    return enable_compile_cache()


def _subcommands(parser: argparse.ArgumentParser) -> set[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    return set()


@contextlib.contextmanager
def _one_line_warnings():
    """Warnings print as ``bayeskd: warning: <first line of the message>`` while a command runs."""
    saved = warnings.formatwarning

    def one_line(message, category, filename, lineno, line=None):
        text = str(message).splitlines()[0] if str(message) else category.__name__
        return f"bayeskd: warning: {text}\n"

    warnings.formatwarning = one_line
    try:
        yield
    finally:
        warnings.formatwarning = saved


def _peer_of(args: argparse.Namespace) -> int | None:
    """This process's id when it is one of several, valid, and not yet the supervised child."""
    import os

    from bayeskd.distributed import SUPERVISED_ENV, process_settings

    if os.environ.get(SUPERVISED_ENV) or not hasattr(args, "num_processes"):
        return None
    try:
        given = process_settings(args.coordinator, args.num_processes, args.process_id)
    except ValueError:  # reported in one line by the command itself
        return None
    return given["process_id"] if (given or {}).get("num_processes", 1) > 1 else None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (2 for bad input)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        if e.code == 2 and argv is not None and argv and argv[0] in _subcommands(parser):
            return 2
        raise
    argv = list(sys.argv[1:] if argv is None else argv)
    peer = _peer_of(args)
    if peer is not None:  # a lost peer then ends in one line, not in the runtime's abort
        from bayeskd.distributed import supervise

        return supervise([sys.executable, "-m", "bayeskd.cli", *argv], process_id=peer)
    from bayeskd.provenance import record_command

    record_command(argv)
    from bayeskd.distributed import DistributedInitError, setup_from_args, use_mesh

    try:
        with _one_line_warnings(), use_mesh(setup_from_args(args)):
            setup_compile_cache(args)
            return args.func(args)
    except DistributedInitError as e:  # the processes could not meet: a runtime failure
        sys.stderr.write(f"bayeskd: error: {e}\n")
        return 1
    except (ValueError, FileNotFoundError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        sys.stderr.write(f"bayeskd: error: {msg}\n")
        return 2
    except FloatingPointError as e:  # TrainingDiverged: the run failed, the input was valid
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        sys.stderr.write(f"bayeskd: training diverged: {msg}\n")
        return 1
    except OSError as e:  # the machine failed the run (disk full, folder not writable)
        sys.stderr.write(f"bayeskd: error: {describe_os_error(e)}\n")
        return 1


def describe_os_error(e: OSError) -> str:
    """One line naming the path and the reason: ``'<path>': <reason>`` (both paths for a rename).

    Example:
      >>> describe_os_error(OSError(28, "No space left on device", "/data/out/results.json"))
      "'/data/out/results.json': No space left on device"
    """
    reason = e.strerror or (str(e).splitlines()[0] if str(e) else type(e).__name__)
    if e.filename is None:
        return reason
    where = repr(str(e.filename))
    if e.filename2 is not None:
        where += f" -> {str(e.filename2)!r}"
    return f"{where}: {reason}"


if __name__ == "__main__":
    raise SystemExit(main())

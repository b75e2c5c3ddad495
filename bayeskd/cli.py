"""The ``bayeskd`` command line.

Every subcommand validates its arguments before any work. Bad input prints one line,
``bayeskd: error: <argument>: <what is allowed>``, on stderr and exits with status 2, leaving no
files behind.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2
        sys.stderr.write(f"bayeskd: error: {message}\n")
        raise SystemExit(2)


def _add_compare_priors(sub) -> None:
    from bayeskd.experiments import compare_priors as cp

    p = sub.add_parser("compare-priors", help="the same student under every prior (the main job)",
                       description=cp.__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="mnist1d", help=f"one of {', '.join(cp.JOB_DATASETS)}")
    p.add_argument("--student", default="mlp", help=f"one of {', '.join(cp.STUDENTS)}")
    p.add_argument("--teacher", default="cnn", help=f"one of {', '.join(cp.TEACHERS)}")
    p.add_argument("--seeds", type=int, default=None, help="number of seeds (default: by size)")
    p.add_argument("--transfer-size", type=int, default=None,
                   help="generated unlabeled inputs for kd_transfer (default: 40000, smoke 1000)")
    p.add_argument("--size", default="quick", help="smoke | quick | full (default quick)")
    p.add_argument("--temperature", type=float, default=4.0, help="KD temperature T > 0")
    p.add_argument("--alpha", type=float, default=0.9, help="KD weight in [0, 1]")
    p.add_argument("--priors", default=",".join(cp.PRIORS),
                   help=f"comma-separated subset of {','.join(cp.PRIORS)}")
    p.add_argument("--data-dir", default=None, help="folder with MNIST/Fashion-MNIST/CIFAR-10 files")
    p.add_argument("--out", default="paper_figures/compare_priors", help="output folder")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(func=_run_compare_priors)


def _run_compare_priors(args) -> int:
    from bayeskd.experiments import compare_priors as cp
    from bayeskd.io import check_out_dir

    cfg = cp.ComparePriorsConfig(
        dataset=args.dataset, student=args.student, teacher=args.teacher, size=args.size,
        seeds=args.seeds, transfer_size=args.transfer_size, temperature=args.temperature,
        alpha=args.alpha, priors=tuple(p.strip() for p in args.priors.split(",") if p.strip()),
        data_dir=args.data_dir,
    )
    check_out_dir(args.out)
    cp.run(cfg, out=args.out, progress=False if args.no_progress else None)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="bayeskd", description="Knowledge distillation as Bayesian inference.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    _add_compare_priors(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (2 for bad input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        sys.stderr.write(f"bayeskd: error: {msg}\n")
        return 2
    except Exception as e:  # noqa: BLE001
        from bayeskd.io import OutputLocked

        if isinstance(e, OutputLocked):
            sys.stderr.write(f"bayeskd: error: {e}\n")
            return 2
        raise


if __name__ == "__main__":
    raise SystemExit(main())

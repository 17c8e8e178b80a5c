"""The sepm command line: one subcommand per pipeline stage or tool, for people who do not use Snakemake.

Each module of this package registers its subcommands with ``register(sub)``; COMMANDS lists them in
the order ``sepm --help`` shows them.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from ..errors import ComputeFailure, InputError, RunError
from .threads import use_threads

log = logging.getLogger("sepm")

COMMANDS = ("evaluate", "couplings", "fit", "export", "convert", "cluster", "decompose", "density", "bandtools", "movie",
            "cost", "structure", "nanocrystal")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sepm", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f".{name}", __name__).register(sub)
    return parser


def main(argv=None, job_threads: int | None = None) -> int:
    """Run one command; ``job_threads`` (the pipeline's rule threads) is the default of --threads."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr, force=True)
    use_threads(getattr(args, "threads", None) or job_threads or 1)
    try:
        return args.func(args)
    except InputError as err:  # one line per defect, no traceback
        if len(err.defects) == 1:
            log.error("bad input: %s", err)
        else:
            log.error("bad input, %d problems:\n%s", len(err.defects), err)
        return 2
    except ComputeFailure as err:
        log.error("%s", err)
        return 3
    except RunError as err:
        log.error("%s", err)
        return 1


if __name__ == "__main__":
    sys.exit(main())

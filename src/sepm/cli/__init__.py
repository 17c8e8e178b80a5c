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

#: Arguments that name an output folder, and those that name an output file (its folder is checked).
OUTPUT_FOLDERS = {"outdir": "OUTDIR", "nanocrystal": "--nanocrystal"}
OUTPUT_FILES = {"stem": "STEM", "out": "OUT", "out_file": "OUT_FILE", "output": "OUTPUT"}

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
    args.cpu_threads = getattr(args, "threads", None) or job_threads or 1
    args.argv = list(sys.argv[1:] if argv is None else argv)  # sepm train/mc relaunch it as num_cores ranks
    use_threads(args.cpu_threads)
    try:
        _check_outputs(args)
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
    except KeyboardInterrupt:  # files are written atomically: nothing half-written is left as if complete
        log.error("interrupted (Ctrl-C); run the same command again to resume (sepm train and sepm mc continue "
                  "from their saved state)")
        return 130
    except OSError as err:  # a full disk, a folder made read-only midway: files are renamed into place when complete
        where = f"{err.filename}: " if err.filename else ""
        log.error("cannot write or read %s%s (errno %s); every file written so far is complete, the one being "
                  "written was discarded", where, err.strerror or err, err.errno)
        return 1


def _check_outputs(args) -> None:
    """Every output folder, and the folder of every output file (or its nearest existing parent, when still to
    be made), is a writable folder."""
    from pathlib import Path

    from ..output import check_output_folder

    for attr, what in OUTPUT_FOLDERS.items():
        if getattr(args, attr, None):
            check_output_folder(getattr(args, attr), what)
    for attr, what in OUTPUT_FILES.items():
        if getattr(args, attr, None):
            check_output_folder(Path(getattr(args, attr)).parent, what)


if __name__ == "__main__":
    sys.exit(main())

"""The ``sepm`` command line: one subcommand per pipeline stage, for people who do not use Snakemake."""

from __future__ import annotations

import argparse
import logging
import sys

from .errors import InputError

log = logging.getLogger("sepm")


def _bands(args) -> int:
    from .evaluate import evaluate_bundle

    results = evaluate_bundle(args.bundle, args.outdir, device=args.device, memory_limit_gb=args.memory_limit_gb,
                              systems=args.system)
    for r in results:
        log.info("wrote %s/bands_%d.dat, .png, .pdf", args.outdir, r["index"])
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sepm", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    bands = sub.add_parser(
        "bands",
        help="band structures of a potential for every system of a bundle (eval_fullBand)",
        description="Evaluate band structures for every system of a DeepPseudopot input bundle. With no model "
        "given, the bundle's analytic potentials (init_<Sym>Params.par; SOC and nonlocal terms when "
        "NN_config.par has SObool = 1) are used. Writes per system X: bands_X.dat (k index, path distance "
        "in 1/Bohr, energies in eV; the weighted loss and RMSE against expBandStruct_X.par in its header "
        "when the bundle has reference bands), bands_X.png and bands_X.pdf (against the reference).",
    )
    bands.add_argument("bundle", help="input bundle folder (NN_config.par, system_X.par, input_X.par, ...)")
    bands.add_argument("outdir", help="output folder (created if needed)")
    bands.add_argument("--system", type=int, action="append", metavar="X",
                       help="evaluate only system X (repeatable; default: every system)")
    bands.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default: cpu)")
    bands.add_argument("--memory-limit-gb", type=float, default=None,
                       help="memory budget for batching k-points (default: NN_config memory_limit_GB or 2)")
    bands.set_defaults(func=_bands)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr, force=True)
    try:
        return args.func(args)
    except InputError as err:
        log.error("bad input:\n%s", err)
        return 2


if __name__ == "__main__":
    sys.exit(main())

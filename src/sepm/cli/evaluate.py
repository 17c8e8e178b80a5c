"""`sepm bands`: band structures of a potential for every system of a bundle (eval_fullBand)."""

from __future__ import annotations

import logging

from .inputs import device_name, number_above, potential_arg
from .threads import add_threads_arg

log = logging.getLogger("sepm")


def _bands(args) -> int:
    from pathlib import Path

    from ..evaluate import evaluate_bundle

    pp = potential_arg(args, args.device)
    name = f"{args.prefix.rstrip('_') or 'fitted'} potential ({Path(args.potential).name})" if args.potential else None
    if args.pot_dir:
        from ..io import read_bundle
        from ..nanocrystal.radial import library_pseudopotential

        pp = library_pseudopotential(args.pot_dir, read_bundle(args.bundle), args.device)
        name = f"real-space library ({Path(args.pot_dir).name})"
        log.info("potential: the real-space library %s (pot<Sym>.par, back-transformed to v(q); no long-range "
                 "tail)", args.pot_dir)
    results = evaluate_bundle(args.bundle, args.outdir, pseudopotential=pp, device=args.device, name=name,
                              memory_limit_gb=args.memory_limit_gb, systems=args.system, kpoints_file=args.kpoints,
                              kpath=args.kpath or args.kpath_density is not None, kpath_density=args.kpath_density,
                              vbm_zero=args.align == "vbm")
    for r in results:
        log.info("wrote %s/bands_%d.dat, .png, .pdf", args.outdir, r["index"])
    return 0


def register(sub) -> None:
    from ..settings import SETTINGS

    bands = sub.add_parser(
        "bands",
        help="band structures of a potential for every system of a bundle (eval_fullBand)",
        description="Evaluate band structures for every system of a DeepPseudopot input bundle. With no model "
        "given, the bundle's analytic potentials (init_<Sym>Params.par; SOC and nonlocal terms when "
        "NN_config.par has SObool = 1) are used. Writes per system X: bands_X.dat (k index, path distance "
        "in 1/Bohr, energies in eV; the weighted loss and RMSE against expBandStruct_X.par in its header "
        "when the bundle has reference bands), bands_X.png and bands_X.pdf (against the reference). With "
        "--kpath, each system is evaluated along its high-symmetry path (seekpath), also written as kpath_X.par, "
        "and the plot's x axis carries the point names; --kpoints files with '# name' row comments are "
        "labelled the same way.",
    )
    bands.add_argument("bundle", help="input bundle folder (NN_config.par, system_X.par, input_X.par, ...)")
    bands.add_argument("outdir", help="output folder (created if needed)")
    bands.add_argument("--system", type=int, action="append", metavar="X",
                       help="evaluate only system X (repeatable; default: every system)")
    bands.add_argument("--potential", metavar="DIR", help="evaluate a fitted potential: a folder written by sepm "
                       "train / mc / prior (model_config.json, <prefix>PPmodel.pth, <prefix><Sym>Params.par)")
    bands.add_argument("--prefix", default="final_", help="which potential in --potential (default final_)")
    bands.add_argument("--pot-dir", metavar="DIR", help="evaluate a real-space library instead: pot<Sym>.par files "
                       "(the nanocrystal codes' format) back-transformed to v(q); SOC/NL from the bundle")
    bands.add_argument("--kpoints", metavar="FILE", help="evaluate at these k-points instead of kpoints_X.par "
                       "(rows k1 k2 k3 weight, fractional; e.g. a dense path); k-points are processed in batches "
                       "that fit --memory-limit-gb; trailing '# name' comments label rows on the plot")
    bands.add_argument("--kpath", action="store_true", help="when no --kpoints file is given: evaluate along the "
                       "high-symmetry path of each system's crystal (seekpath; written to OUTDIR/kpath_X.par)")
    bands.add_argument("--kpath-density", type=number_above(0.0), metavar="D", default=None,
                       help="points per 1/Bohr along the --kpath path (implies --kpath; default 30)")
    bands.add_argument("--align", choices=("vbm", "none"), default="none",
                       help="plot energies relative to the computed valence-band maximum (vbm) or as they are (none, "
                       "the default; the tables always hold them as they are). The plots mark the VBM and CBM and give "
                       "the gap (valence band: idxVB of input_X.par, else the band below the highest gap)")
    bands.add_argument("--device", type=device_name, default="cpu",
                       help="torch device, e.g. cpu or cuda (default: cpu)")
    bands.add_argument("--memory-limit-gb", type=number_above(0.0), default=None,
                       help="memory budget for batching k-points (default: NN_config memory_limit_GB, "
                       f"else {SETTINGS['memory_limit_GB'].default:g})")
    add_threads_arg(bands)
    bands.set_defaults(func=_bands)

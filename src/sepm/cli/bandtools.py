"""`sepm plot-bands` (band tables of any kind overlaid, with gaps) and `sepm masses` (gaps and effective masses)."""

from __future__ import annotations

import argparse
import logging

from .inputs import add_system_potential_args, finite_number, number_above, system_and_potential
from .threads import add_threads_arg

log = logging.getLogger("sepm")


def _plot_bands(args) -> int:
    from pathlib import Path

    from ..analysis.bandfiles import read_band_table
    from ..analysis.bandplot import plot_band_files
    from ..errors import Defect, InputError

    vb = [n - 1 for n in args.vb_band or []]  # band numbers are 1-based, the library's indices 0-based
    if len(vb) not in (0, 1, len(args.files)):
        raise InputError(Defect(Path("--vb-band"), None, f"give one band for all files or one per file "
                                f"({len(args.files)}), got {len(vb)}"))
    if args.labels and len(args.labels) > len(args.files):
        raise InputError(Defect(Path("--labels"), None, f"{len(args.labels)} labels for {len(args.files)} files"))
    tables = [read_band_table(f, vb[0] if len(vb) == 1 else (vb[i] if vb else None))
              for i, f in enumerate(args.files)]
    plot_band_files(tables, args.output, labels=args.labels, window=args.window, align=args.align, title=args.title)
    log.info("wrote %s.png, .pdf, .json", args.output)
    return 0


def _masses(args) -> int:
    from pathlib import Path

    from ..analysis.masses import DIRECTIONS, BandSampler, mass_report, write_mass_report
    from ..bands import system_hamiltonian
    from ..errors import Defect, InputError
    from ..plotting import system_title

    bundle, system, pp = system_and_potential(args)
    if args.vb_band is not None and not 1 <= args.vb_band < system.nbands:
        raise InputError(Defect(Path("--vb-band"), None, f"{args.vb_band} out of range 1..{system.nbands - 1} "
                                f"(nBands = {system.nbands} in input_{args.system}.par)"))
    if args.maxke:
        log.info("maxKE %g Ha instead of %g Ha from input_%d.par", args.maxke, system.maxke, system.index)
        system.maxke = args.maxke
    directions = dict(DIRECTIONS)
    for d in args.direction or []:
        directions["[" + "".join(f"{v:g}" for v in d) + "]"] = d
    ham = system_hamiltonian(system, pp)
    log.info("system %d (%s): N = %d plane waves (maxKE %g Ha), SOC %s", system.index, system.name, ham.basis.size,
             system.maxke, "on" if pp.soc else "off")
    sampler = BandSampler(ham, system.nbands)
    vb = None if args.vb_band is None else args.vb_band - 1
    report = mass_report(sampler, system, vb=vb, step=args.step, directions=directions,
                         literature=dict(args.ref_mass or []))
    write_mass_report(args.outdir, report, sampler,
                      title=f"{system_title(system, bundle.path)}: band edges and effective masses")
    e = report["edges"]
    log.info("gap %.4f eV (%s, VBM at %s, CBM at %s), direct gap %.4f eV at %s; %d mass rows; %d band evaluations",
             e["gap_eV"], "direct" if e["is_direct"] else "indirect", e["vbm"]["label"], e["cbm"]["label"],
             e["direct_gap"]["energy_eV"], e["direct_gap"]["label"], len(report["rows"]), sampler.calls)
    return 0


def _window(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (eV)") from None


def _name_value(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    try:
        if not sep or not name:
            raise ValueError
        return name.strip(), float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE (e.g. CB=0.067), got {text!r}") from None


def register(sub) -> None:
    plot = sub.add_parser(
        "plot-bands", help="overlay band tables of any kind (ours, expBandStruct, QE, BerkeleyGW) with gaps",
        description="Overlay band structures from files (plot_BS_from_file): sepm bands_X.dat, a bundle's "
        "expBandStruct_X.par (k-points, lattice and idxVB from the bundle files next to it), Quantum ESPRESSO "
        "data-file-schema.xml or bands.x filband, BerkeleyGW eqp1.dat/eqp.dat or inteqp bandstructure.dat. The "
        "format is detected from the content and name, or forced with a prefix, e.g. qe-filband:FILE (formats: "
        "sepm, expBandStruct, qe-xml, qe-filband, bgw-eqp, bgw-bandstructure). Marks VBM, CBM and the gap of each "
        "table. Writes STEM.png, STEM.pdf and STEM.json (band edges, gaps and their k-points per table).")
    plot.add_argument("files", nargs="+", metavar="FILE", help="band tables, optionally FORMAT:FILE")
    plot.add_argument("-o", "--output", required=True, metavar="STEM", help="output path without extension")
    plot.add_argument("--labels", nargs="+", metavar="A", help="legend labels, in file order (default: file names)")
    plot.add_argument("--window", nargs=2, type=_window, metavar=("EMIN", "EMAX"),
                      help="energy window in eV (after alignment; default: every band)")
    plot.add_argument("--align", choices=("vbm", "none"), default="vbm",
                      help="vbm: each table's valence-band maximum at 0 eV (default); none: energies as in the files")
    plot.add_argument("--vb-band", type=int, nargs="+", metavar="N",
                      help="band number of the valence-band top, 1-based like the E_N columns of band tables: one "
                      "for all files or one per file (default: from idxVB of the bundle, nelec of a QE XML, else the "
                      "band below the highest gap of the table)")
    plot.add_argument("--title", default="", help="plot title")
    plot.set_defaults(func=_plot_bands)

    mass = sub.add_parser(
        "masses", help="band gaps, band edges and effective masses of a potential, with reference values",
        description="Find the VBM and CBM of a potential over the bundle's k-points and the time-reversal-invariant "
        "points (Γ, X, L for fcc; refined along the path), report the direct and fundamental gaps and the "
        "effective masses m* = 1/(d²E/dk²) (m_e) at the edges by central finite differences with Richardson "
        "extrapolation, per band and direction ([100], [110], [111] and the path directions). Reference values "
        "come from the bundle's expBandStruct_X.par (parabola through the path points next to the extremum) and "
        "--ref-mass. Writes OUTDIR/masses_X.dat (table), gaps_X.json and masses_X.png/.pdf (E(k) at the edges "
        "with the fitted parabolas).")
    add_system_potential_args(mass)
    mass.add_argument("--step", type=number_above(0.0), default=0.01, metavar="DK",
                      help="finite-difference step in 1/Bohr (default 0.01; h/2 and h/4 are used too)")
    mass.add_argument("--vb-band", type=int, metavar="N",
                      help="band number of the valence-band top, 1-based like E_N (default: from idxVB of input_X.par, "
                      "else the band below the highest gap "
                      "of the reference bands)")
    mass.add_argument("--direction", type=finite_number, nargs=3, action="append", metavar=("H", "K", "L"),
                      help="an extra Cartesian direction (repeatable)")
    mass.add_argument("--ref-mass", type=_name_value, action="append", metavar="NAME=VALUE",
                      help="a literature mass (m_e, signed like the table) for rows named NAME: CB, VB, CB[100], CB9, "
                      "CB9[100] (edge, band number, direction); repeatable")
    mass.add_argument("--maxke", type=number_above(0.0), metavar="E",
                      help="cutoff in Hartree instead of input_X.par's maxKE")
    add_threads_arg(mass)
    mass.set_defaults(func=_masses)

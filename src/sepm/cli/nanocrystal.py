"""`sepm dot`, `sepm dot-series` and `sepm import-realspace`: the fitted potential in a quantum dot, and
real-space potential libraries (the nanocrystal codes' pot<Sym>.par files) as priors. The client files
of a fit are written by `sepm export --nanocrystal DIR` (options added here)."""

from __future__ import annotations

import argparse
import logging

from .inputs import device_name, finite_number, number_above
from .threads import add_threads_arg

log = logging.getLogger("sepm")


def add_client_export_args(p) -> None:
    """The options of `sepm export` that write the nanocrystal codes' files."""
    from ..nanocrystal.potfiles import DEFAULT_DR, DEFAULT_ROWS, MAX_ROWS

    g = p.add_argument_group("nanocrystal client files")
    g.add_argument("--nanocrystal", metavar="DIR", help="also write pot<Sym>.par per species and ligand (P1-P4) in "
                   "the nanocrystal codes' format, and nanocrystal_potentials.json, to DIR")
    g.add_argument("--nc-rows", type=number_above(2, int, inclusive=True, at_most=MAX_ROWS),
                   default=DEFAULT_ROWS, help=f"rows of the client files (default {DEFAULT_ROWS}, at most {MAX_ROWS})")
    g.add_argument("--nc-dr", type=number_above(0.0), default=DEFAULT_DR,
                   help=f"r spacing of the client files, Bohr (default pi/125 = {DEFAULT_DR:.7f}, the group's grid)")
    g.add_argument("--nc-long-range", action="store_true", help="include the long-range tail in the client files "
                   "(refused unless it is charge-neutral in every system of --bundle)")
    g.add_argument("--bundle", metavar="BUNDLE", help="the fitted bundle: its systems' compositions check the "
                   "tail's neutrality")
    g.add_argument("--nc-ligand-reference", metavar="DIR", help="calibrate the P1/P2 ligand amplitudes to the bulk "
                   "band edges (P2 to the VBM, P1 to the CBM) of the written tables against those of the pot<Sym>.par "
                   "library in DIR, which the client's ligands were tuned with (needs --bundle, whose system "
                   "--nc-system gives the edges; species missing from DIR: not calibrated)")
    g.add_argument("--nc-system", type=number_above(0, int, inclusive=True), default=0, metavar="X",
                   help="the --bundle system whose bulk band edges calibrate the ligands: the dots' system, "
                   "`sepm dot --system` (default 0)")
    g.add_argument("--nc-ligands", metavar="DIR", help="your own ligand files: each potP1..potP4.par in DIR is "
                   "copied unchanged instead of the (calibrated) Gaussian")


def client_export_inputs(args, species) -> dict | None:
    """What the client files need from the command line (the bundle, the ligand reference and the system of
    its bulk edges), read and checked before anything is written; None without --nanocrystal."""
    if not args.nanocrystal:
        return None
    from ..io import read_bundle

    bundle = read_bundle(args.bundle) if args.bundle else None
    reference, system = _ligand_reference(args.nc_ligand_reference, bundle, species, args.nc_system)
    return {"bundle": bundle, "reference": reference, "system": system}


def export_client_files(args, pp, inputs) -> None:
    """Write the client files of ``pp`` with the ``inputs`` of :func:`client_export_inputs`."""
    if inputs is None:
        return
    from ..nanocrystal.client_export import compositions_of, export_for_client, volumes_of

    bundle = inputs["bundle"]
    export_for_client(args.nanocrystal, pp, source=f"{args.fitdir}/{args.prefix}", rows=args.nc_rows, dr=args.nc_dr,
                      include_long_range=args.nc_long_range, compositions=bundle and compositions_of(bundle),
                      volumes=bundle and volumes_of(bundle), ligand_reference=inputs["reference"],
                      system=inputs["system"], user_ligands=args.nc_ligands)


def _ligand_reference(folder, bundle, species, index=0):
    """(v(q) of the reference library, the bundle's system ``index``: the dots'), or (None, None) with a notice
    when not asked for or not possible; an index the bundle lacks is refused in one line."""
    from pathlib import Path

    from ..errors import Defect, InputError
    from ..nanocrystal.potfiles import pot_path, read_library
    from ..nanocrystal.radial import LibraryFormFactor

    if folder is None:
        return None, None
    if bundle is not None and not index < len(bundle.systems):
        raise InputError(Defect(bundle.path, None, f"--nc-system {index}: the bundle has {len(bundle.systems)} "
                                f"system(s), 0..{len(bundle.systems) - 1}"))
    missing = [s for s in species if not pot_path(folder, s).is_file()]
    if bundle is None or missing:
        log.info("notice: ligands not calibrated (%s); the client's amplitudes are written", "no --bundle" if
                 bundle is None else f"{folder} has no pot{'.par, pot'.join(missing)}.par")
        return None, None
    return LibraryFormFactor(read_library(Path(folder), species), species), bundle.systems[index]


def _tables(folder, species):
    """Radial tables of the species and of the ligands (files in ``folder``, else the built-in Gaussians)."""
    from ..nanocrystal.ligands import LIGAND_A, ligand_tables
    from ..nanocrystal.potfiles import pot_path, read_library

    tables = read_library(folder, species)
    first = tables[species[0]]
    present = [s for s in LIGAND_A if pot_path(folder, s).is_file()]
    builtin = ligand_tables(len(first.v), first.dr)
    tables.update({s: builtin[s] for s in LIGAND_A if s not in present})
    tables.update(read_library(folder, present))
    log.info("potentials: %s from %s; ligands %s", " ".join(f"pot{s}.par" for s in species), folder,
             ", ".join(f"{s} ({'file' if s in present else 'built-in Gaussian'})" for s in LIGAND_A))
    return tables


def memory_limit(args) -> tuple[float, str, str]:
    """(GiB, how to say it, how to change it) of --memory-limit-gb, else this machine's memory."""
    from ..io.limits import machine_memory_gb

    if args.memory_limit_gb is None:
        limit = machine_memory_gb()
        return limit, f"this machine's memory ({limit:.0f} GiB)", ""
    return args.memory_limit_gb, f"--memory-limit-gb {args.memory_limit_gb:g}", " or raise --memory-limit-gb"


def _check_size(args, system, species, passivation) -> None:
    """--center-atom against the cell; every radius's atoms, grid and memory against --memory-limit-gb
    (else this machine's memory) before anything is built, then its atoms once built (cheap then)."""
    from pathlib import Path

    from ..crystal import Crystal
    from ..errors import Defect, InputError
    from ..nanocrystal.builder import bond_vectors, build_nanocrystal
    from ..nanocrystal.estimate import estimate_dot

    crystal = Crystal.from_system(system, species=species)
    if args.center is None and not 0 <= args.center_atom < len(crystal.positions):
        raise InputError(Defect(Path("--center-atom"), None, f"{args.center_atom}: the cell of system {args.system} "
                                f"has {len(crystal.positions)} atoms, 0..{len(crystal.positions) - 1}"))
    limit, limit_text, change = memory_limit(args)
    bond = bond_vectors(crystal.lattice, crystal.positions)[1]
    for radius in args.radius:
        estimate = estimate_dot(crystal, radius, args.spacing, args.vacuum, max(args.n_valence, args.n_conduction),
                                bond)
        log.info("dot R = %g Bohr, spacing %g Bohr: %s (limit: %s)", radius, args.spacing, estimate.summary(),
                 limit_text)
        if not estimate.bytes <= limit * 2**30:
            raise InputError(Defect(Path("--radius"), None, f"{radius:g} with --spacing {args.spacing:g}: "
                                    f"{estimate.summary()}, more than {limit_text}; lower --radius, raise --spacing"
                                    f"{change}"))
        try:
            nc = build_nanocrystal(crystal, radius, args.center, args.center_atom, passivation, args.min_bonds)
        except ValueError as err:  # species the builder cannot classify
            raise InputError(Defect(Path(args.bundle) / f"system_{args.system}.par", None, str(err))) from None
        if nc.n_core == 0:
            raise InputError(Defect(Path("--radius"), None, f"{radius:g} leaves no atom with --min-bonds "
                                    f"{args.min_bonds} or more bonds: use a larger radius (the bond length is "
                                    f"{bond:.3f} Bohr)"))


def _dot(args) -> int:
    from pathlib import Path

    from ..errors import Defect, InputError
    from ..io import read_bundle
    from ..nanocrystal.dot import DOT_FILES, DotSettings, run_dot
    from ..nanocrystal.ligands import Passivation
    from ..nanocrystal.series import write_series
    from ..output import remove_stale
    from .spinor_dot import SPIN_FREE_SPACING, SPINOR_SPACING, spinor_dots, wants_spinor

    bundle = read_bundle(args.bundle)
    if not 0 <= args.system < len(bundle.systems):
        raise InputError(Defect(bundle.path, None, f"--system {args.system}: the bundle has {len(bundle.systems)} "
                                f"system(s), 0..{len(bundle.systems) - 1}"))
    system = bundle.systems[args.system]
    species = sorted(set(system.atom_species))
    terms = _sidecar_terms(Path(args.pot_dir), species)
    spinor = wants_spinor(terms)
    if args.spacing is None:
        args.spacing = SPINOR_SPACING if spinor else SPIN_FREE_SPACING
    if spinor or args.cube or args.structure:
        records = spinor_dots(args, system, species, _tables(Path(args.pot_dir), species), terms)
        if len(records) > 1:
            write_series(Path(args.outdir) / "gap_vs_size", records, title=(
                f"{system.name or 'system ' + str(args.system)}: {records[0]['shape']} dots, spinor (SOC "
                f"{'on' if terms[1] else 'off'}, NL {'on' if terms[2] else 'off'})"
                + ("; radius = half the edge" if args.cube else "")))
        return 0
    passivation = Passivation(args.cation_ligand, args.cation_fraction, args.anion_ligand, args.anion_fraction,
                              args.anion_single_fraction)
    _check_size(args, system, species, passivation)
    tables = _tables(Path(args.pot_dir), species)
    out = Path(args.outdir)
    folders = [out if len(args.radius) == 1 else out / f"R{radius:g}" for radius in args.radius]
    for folder in folders:
        remove_stale(folder, DOT_FILES)
    remove_stale(out, [f"gap_vs_size.{ext}" for ext in ("dat", "png", "pdf")])
    records = []
    for radius, folder in zip(args.radius, folders):
        settings = DotSettings(radius=radius, spacing=args.spacing, vacuum=args.vacuum,
                               center=tuple(args.center) if args.center else None, center_atom=args.center_atom,
                               min_bonds=args.min_bonds, passivation=passivation, n_valence=args.n_valence,
                               n_conduction=args.n_conduction, tol=args.tol, kinetic_cap=args.kinetic_cap,
                               max_iter=args.max_iter)
        try:
            records.append(run_dot(system, tables, settings, folder, device=args.device,
                                   source=f"{args.bundle} system {args.system}; {args.pot_dir}"))
        except ValueError as err:
            raise InputError(Defect(Path(args.bundle) / f"system_{args.system}.par", None, str(err))) from None
    if len(records) > 1:
        write_series(out / "gap_vs_size", records, title=f"{system.name or 'system ' + str(args.system)}: "
                     "passivated dots")
    return 0


def _sidecar_terms(folder, species):
    """The sidecar's (a5-a7 per species, soc, nonlocal); zeros and off when the folder has no sidecar (a
    published library: local only)."""
    import numpy as np

    from ..nanocrystal.client_export import SIDECAR
    from ..nanocrystal.spinor_dot import sidecar_terms

    if not (folder / SIDECAR).is_file():
        log.info("%s has no %s: local potential only (no SOC/NL terms)", folder, SIDECAR)
        return ({s: np.zeros(3) for s in species}, False, False)
    return sidecar_terms(folder)


def _series(args) -> int:
    from ..nanocrystal.series import read_records, write_series

    for path in write_series(args.stem, read_records(args.records), title=args.title or ""):
        log.info("wrote %s", path)
    return 0


def _import(args) -> int:
    import torch

    from ..export import write_qspace_table
    from ..nanocrystal.potfiles import read_library
    from ..nanocrystal.radial import LibraryFormFactor

    species = sorted(args.species)
    lib = LibraryFormFactor(read_library(args.libdir, species), species)
    write_qspace_table(args.out, lib, species, qmax=args.qmax, nq=args.nq)
    v0 = lib(torch.zeros(1, dtype=torch.float64))[0]
    log.info("wrote %s: v(q) of %s on [0, %g] 1/Bohr (v(0) %s Hartree Bohr^3); use it as a bundle's "
             "init_qSpace_pot.par", args.out, " ".join(species), args.qmax,
             " ".join(f"{s}={v:.4f}" for s, v in zip(species, v0.tolist())))
    return 0


def _fraction(text):
    """argparse type: a ligand's distance over the bond length, strictly between 0 and 1."""
    value = number_above(0.0)(text)
    if value >= 1.0:
        raise argparse.ArgumentTypeError(f"must be < 1 (a fraction of the bond length), got {text}")
    return value


def register(sub) -> None:
    from ..nanocrystal.grid import VACUUM
    from ..nanocrystal.hamiltonian import KINETIC_CAP
    from ..nanocrystal.ligands import LIGAND_A
    from ..nanocrystal.solver import TOL

    dot = sub.add_parser(
        "dot", help="the potential in a passivated quantum dot: HOMO, LUMO, gap (and a size series)",
        description="Cut a sphere from system X's bulk crystal, passivate every dangling bond with ligand "
        "pseudo-atoms (P1 on cations at 0.55 d, P2 on anions at 0.25 d, as the nanocrystal codes do), and compute "
        "the states near the gap on a real-space grid: H = -1/2 nabla^2 (FFT, kinetic energy capped) + sum of "
        "atom potentials v(|r - R_a|) from POT_DIR/pot<Sym>.par, by folded-spectrum LOBPCG around the bulk band "
        "edges of the same potential on the same grid (sepm.nanocrystal.grid_bulk), which the sanity flags use. Writes conf.par, dot.json, levels.dat, homo.cube and lumo.cube; with "
        "several --radius values one folder R<r> each and gap_vs_size.dat/.png/.pdf. When POT_DIR's sidecar "
        "(nanocrystal_potentials.json) carries spin-orbit (a5) or nonlocal (a6, a7) terms, and for --cube and "
        "--structure, the dot is a spinor dot with those terms (sepm.nanocrystal.spinor_dot): dot.xyz instead of "
        "conf.par, levels in Kramers pairs, --n-valence/--n-conduction counting pairs.")
    dot.add_argument("bundle", help="input bundle folder (its system X is the bulk crystal)")
    dot.add_argument("outdir", help="output folder")
    dot.add_argument("--pot-dir", required=True, metavar="DIR", help="folder of pot<Sym>.par files (sepm export "
                     "--nanocrystal, or a published library); ligand files pot<P1..P4>.par there are used, else the "
                     "client's built-in Gaussians")
    shape = dot.add_mutually_exclusive_group(required=True)
    shape.add_argument("--radius", type=number_above(0.0), nargs="+", metavar="R",
                       help="dot radius (Bohr); several give a size series")
    shape.add_argument("--cube", type=number_above(1, int, inclusive=True), nargs="+", metavar="N",
                       help="a cube of N x N x N cells of the system's cubic ABX3 perovskite cell (complete BX6 "
                       "octahedra, A/X surface, charge-balanced, no ligands: sepm.nanocrystal.perovskite); several "
                       "give a size series (folders N<n>)")
    shape.add_argument("--structure", metavar="FILE", help="a dot of your own: .xyz (Angstrom) or conf.par (Bohr), "
                       "any species, ligands P1-P4")
    dot.add_argument("--system", type=int, default=0, metavar="X", help="bundle system (default 0)")
    dot.add_argument("--spacing", type=number_above(0.0), help="largest grid spacing, Bohr (default 0.8; 0.5 when "
                     "the potential carries SOC/NL terms)")
    dot.add_argument("--valence", nargs="+", metavar="SYM=N", help="valence electrons of species the built-in table "
                     "lacks (sepm.nanocrystal.structure), e.g. Ma=1")
    dot.add_argument("--vacuum", type=number_above(0.0, inclusive=True), default=VACUUM,
                     help=f"vacuum beyond the outermost site, Bohr (default {VACUUM:g}, the client's)")
    dot.add_argument("--center", type=finite_number, nargs=3, metavar=("X", "Y", "Z"),
                     help="dot centre, Cartesian Bohr "
                     "(default: atom --center-atom of the cell)")
    dot.add_argument("--center-atom", type=number_above(0, int, inclusive=True), default=0,
                     help="cell atom at the dot centre (default 0)")
    dot.add_argument("--min-bonds", type=number_above(0, int, inclusive=True, at_most=3), default=2,
                     help="remove atoms with fewer internal bonds, repeatedly (default 2; at most 3: every finite "
                     "crystal has surface atoms with fewer than 4)")
    dot.add_argument("--cation-ligand", default="P1", choices=list(LIGAND_A),
                     help="ligand on cation dangling bonds (default P1)")
    dot.add_argument("--anion-ligand", default="P2", choices=list(LIGAND_A),
                     help="ligand on anion dangling bonds (default P2)")
    dot.add_argument("--cation-fraction", type=_fraction, default=0.55, help="cation ligand distance / bond (0.55)")
    dot.add_argument("--anion-fraction", type=_fraction, default=0.25, help="anion ligand distance / bond (0.25)")
    dot.add_argument("--anion-single-fraction", type=_fraction, default=0.25,
                     help="for an anion with a single dangling bond (0.25; the strain codes use 0.30)")
    dot.add_argument("--n-valence", type=number_above(1, int, inclusive=True), default=4,
                     help="valence states to compute (default 4)")
    dot.add_argument("--n-conduction", type=number_above(1, int, inclusive=True), default=4,
                     help="conduction states to compute (default 4)")
    dot.add_argument("--tol", type=number_above(0.0), default=TOL, help=f"residual ||H psi - E psi|| target, Hartree "
                     f"(default {TOL:g})")
    dot.add_argument("--kinetic-cap", type=number_above(0.0), default=KINETIC_CAP,
                     help=f"kinetic energy cap, Hartree (default {KINETIC_CAP:g}, the client's)")
    dot.add_argument("--max-iter", type=number_above(1, int, inclusive=True), default=2000,
                     help="LOBPCG iterations per edge (default 2000)")
    dot.add_argument("--memory-limit-gb", type=number_above(0.0), metavar="GB", help="refuse a dot whose estimated "
                     "memory (atoms, grid, solver vectors) exceeds GB (default: this machine's memory)")
    dot.add_argument("--device", type=device_name, default="cpu",
                     help="torch device, e.g. cpu or cuda (default: cpu)")
    add_threads_arg(dot)
    dot.set_defaults(func=_dot)

    series = sub.add_parser("dot-series", help="gap against size from several dots' dot.json",
                            description="Write STEM.dat (radius, diameter, atoms, ligands, HOMO, LUMO, gap) and "
                            "STEM.png/.pdf (gap against radius with the bulk gap; band edges against the bulk's).")
    series.add_argument("stem", help="output path without extension, e.g. results/GaAs/nanocrystal/gap_vs_size")
    series.add_argument("records", nargs="+", help="dot.json files written by sepm dot")
    series.add_argument("--title", help="plot title")
    series.set_defaults(func=_series)

    imp = sub.add_parser("import-realspace", help="a real-space potential library (pot<Sym>.par) as a v(q) table",
                         description="Back-transform pot<Sym>.par files (the nanocrystal codes' format) to v(q) = "
                         "4 pi int r^2 [v(r) - v(r_last)] j0(qr) dr (Simpson on the file's grid) and write a q-space "
                         "table, usable as a bundle's init_qSpace_pot.par (the network prior fits it). For bands "
                         "with the library itself use sepm bands --pot-dir.")
    imp.add_argument("libdir", help="folder of pot<Sym>.par files")
    imp.add_argument("out", help="output table, e.g. BUNDLE/init_qSpace_pot.par")
    imp.add_argument("--species", nargs="+", required=True, help="species to import (columns in alphabetical order)")
    imp.add_argument("--qmax", type=number_above(0.0), default=12.0, help="table end, 1/Bohr (default 12)")
    imp.add_argument("--nq", type=number_above(2, int, inclusive=True), default=1201, help="table points (1201)")
    imp.set_defaults(func=_import)

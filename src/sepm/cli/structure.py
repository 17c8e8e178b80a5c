"""`sepm primcell` (conventional -> primitive cell) and `sepm kpath` (high-symmetry k-path of a structure)."""

from __future__ import annotations

import logging

from .inputs import number_above

log = logging.getLogger("sepm")

_INPUT_HELP = ("structure: system_X.par, a bundle folder (its system_<index>.par), a POSCAR/CONTCAR/*.vasp or a "
               "*.cif file (Angstrom; read with ASE)")


def _primcell(args) -> int:
    from pathlib import Path

    from ..structure import primitive_cell, read_cell, write_poscar, write_system_par
    from ..structure.cellfiles import resolve_input

    source = resolve_input(args.input, args.index)
    crystal = read_cell(source)
    result = primitive_cell(crystal, symprec=args.symprec, source=source)
    out = Path(args.outdir)
    comment = (f"primitive cell of {source} ({len(crystal.atom_species)} -> {len(result.crystal.atom_species)} atoms), "
               f"space group {result.international} ({result.number}), standardized by spglib at symprec "
               f"{args.symprec:g} Bohr; written by sepm primcell")
    par = write_system_par(out / f"system_{args.index}.par", result.crystal, result.conventional_length, comment)
    poscar = write_poscar(out / "POSCAR", result.crystal, comment)
    log.info("wrote %s (scale = %.8g Bohr, the conventional lattice constant) and %s", par,
             result.conventional_length, poscar)
    return 0


def _kpath(args) -> int:
    from ..structure import DEFAULT_DENSITY, high_symmetry_path, read_cell, write_kpoints
    from ..structure.cellfiles import resolve_input

    source = resolve_input(args.input, args.index)
    crystal = read_cell(source)
    path = high_symmetry_path(crystal, density=args.density, segment_points=args.segment_points,
                              symprec=args.symprec, source=source)
    spacing = f"{args.segment_points} points per segment" if args.segment_points else \
        f"density {args.density or DEFAULT_DENSITY:g} points per 1/Bohr"
    target = write_kpoints(args.output, path, header=f"high-symmetry path {path.label_string()} of {source} "
                           f"(space group {path.spacegroup}, Bravais {path.bravais}; seekpath), {spacing}; "
                           "written by sepm kpath")
    log.info("wrote %s: %d k-points, %s", target, len(path.kfrac), path.label_string())
    return 0


def register(sub) -> None:
    prim = sub.add_parser("primcell", help="conventional -> primitive cell (spglib), written as system_X.par + POSCAR",
                          description="Find the space group and the standardized primitive cell of a structure "
                          "with spglib (convert_convCell_to_primCell). Writes OUTDIR/system_X.par (scale = the "
                          "conventional lattice constant in Bohr, cell rows in units of scale, fractional atoms) and "
                          "OUTDIR/POSCAR (Angstrom). The cell may come out rigidly rotated into the standard "
                          "orientation; band energies are unchanged.")
    prim.add_argument("input", metavar="IN", help=_INPUT_HELP)
    prim.add_argument("outdir", help="output folder (created if needed)")
    prim.add_argument("--index", type=int, default=0, metavar="X",
                      help="system index: which system_X.par of a bundle folder to read, and the X of the "
                      "written system_X.par (default 0)")
    prim.add_argument("--symprec", type=number_above(0.0), default=1e-4,
                      help="spglib symmetry tolerance in Bohr (default 1e-4; raise it for rounded coordinates)")
    prim.set_defaults(func=_primcell)

    kp = sub.add_parser("kpath", help="high-symmetry k-path of a structure (seekpath), written as kpoints_X.par",
                        description="Generate the high-symmetry k-path of a structure (seekpath / Hinuma et al.) and "
                        "write it as a kpoints file OUT_KPOINTS: rows 'k1 k2 k3 weight' in fractional coordinates "
                        "of the reciprocal basis of the input cell as given, with '# name' comments on the "
                        "high-symmetry rows (Γ, X, ...; two labelled rows in a row are a jump such as U|K). Use it "
                        "as a bundle's kpoints_X.par or with sepm bands --kpoints.")
    kp.add_argument("input", metavar="SYSTEM_PAR", help=_INPUT_HELP)
    kp.add_argument("output", metavar="OUT_KPOINTS", help="k-point file to write, e.g. kpoints_0.par")
    kp.add_argument("--index", type=int, default=0, metavar="X",
                    help="which system_X.par to read when INPUT is a bundle folder (default 0)")
    spacing = kp.add_mutually_exclusive_group()
    spacing.add_argument("--density", type=number_above(0.0), default=None, metavar="D",
                         help="points per 1/Bohr along the path, at least 2 steps per segment (default 30)")
    spacing.add_argument("--segment-points", type=number_above(3, kind=int, inclusive=True), default=None, metavar="N",
                         help="instead: N points on every segment, both ends included (N >= 3)")
    kp.add_argument("--symprec", type=number_above(0.0), default=1e-4,
                    help="symmetry tolerance in Bohr (default 1e-4)")
    kp.set_defaults(func=_kpath)

"""`sepm dot` for spinor dots: perovskite cubes (--cube), user structures (--structure), and spheres whose
exported potential carries the fit's spin-orbit / nonlocal terms (the sidecar's a5, a6, a7)."""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger("sepm")

#: Grid spacing of a spinor dot when --spacing is not given (Bohr): resolves the 0.7-Bohr SOC Gaussian.
SPINOR_SPACING = 0.5
#: ... and of a spin-free one (the client's usual).
SPIN_FREE_SPACING = 0.8


def parse_valence(items) -> dict[str, int]:
    """--valence SYM=N ... as {SYM: N}."""
    from ..errors import Defect, InputError

    out = {}
    for item in items or []:
        sym, _, n = item.partition("=")
        if not sym or not n.isdigit():
            raise InputError(Defect(Path("--valence"), None, f"{item!r}: expected SYMBOL=ELECTRONS, e.g. Ma=1"))
        out[sym] = int(n)
    return out


def wants_spinor(terms) -> bool:
    """Whether the sidecar's terms act: SOC on with some a5 != 0, or NL on with some a6/a7 != 0."""
    coeffs, soc, nonlocal_ = terms
    return bool((soc and any(c[0] != 0 for c in coeffs.values()))
                or (nonlocal_ and any(c[1] != 0 or c[2] != 0 for c in coeffs.values())))


def _check_memory(args, jobs, structures, pp, crystal) -> None:
    """Every dot's grid and memory (:func:`.estimate.estimate_spinor_dot`, the bulk reference at the dot's cap
    included) against --memory-limit-gb, else this machine's memory, before any is solved."""
    import numpy as np

    from ..errors import Defect, InputError
    from ..io.limits import estimated_basis_size
    from ..nanocrystal.estimate import estimate_spinor_dot
    from ..nanocrystal.grid import DotGrid, centred
    from ..nanocrystal.projectors import channel_strengths
    from .nanocrystal import memory_limit

    limit, limit_text, change = memory_limit(args)
    strengths = channel_strengths(pp)
    plane_waves = estimated_basis_size(np.asarray(crystal.lattice), args.kinetic_cap)
    option = "--cube" if args.cube else "--structure" if args.structure else "--radius"
    for (_, name, _), structure in zip(jobs, structures):
        grid = DotGrid.around(centred(structure.positions), args.spacing, args.vacuum)
        estimate = estimate_spinor_dot(grid, structure.symbols, strengths, 2 * max(args.n_valence, args.n_conduction),
                                       plane_waves)
        log.info("spinor dot %s, spacing %g Bohr: %s (limit: %s)", name, args.spacing, estimate.summary(), limit_text)
        if not estimate.bytes <= limit * 2**30:
            raise InputError(Defect(Path(option), None, f"{name}: {estimate.summary()}, more than {limit_text}; raise "
                                    f"--spacing or choose a smaller dot{change}"))


def spinor_dots(args, system, species, tables, terms) -> list[dict]:
    """Every size of the command line as a spinor dot; returns their records."""
    from ..crystal import Crystal
    from ..errors import Defect, InputError
    from ..nanocrystal.builder import build_nanocrystal
    from ..nanocrystal.conffile import write_conf
    from ..nanocrystal.grid import centred
    from ..nanocrystal.ligands import Passivation
    from ..nanocrystal.perovskite import cube_roles, perovskite_cube
    from ..nanocrystal.spinor_dot import SPINOR_DOT_FILES, SpinorDotSettings, dot_pseudopotential, run_spinor_dot
    from ..nanocrystal.structure import DotStructure, read_structure
    from ..output import remove_stale

    coeffs, soc, nonlocal_ = terms
    where = Path(args.bundle) / f"system_{args.system}.par"
    unknown = sorted(set(species) - set(coeffs))
    if unknown:
        raise InputError(Defect(Path(args.pot_dir) / "nanocrystal_potentials.json", None,
                                f"no a5/a6/a7 for {', '.join(unknown)} of system {args.system}"))
    pp = dot_pseudopotential(tables, {s: coeffs[s] for s in species}, soc, nonlocal_)
    valence = parse_valence(args.valence)
    crystal = Crystal.from_system(system, species=species)
    jobs = []   # (size record, folder name, builder)
    try:
        if args.cube:
            roles, a = cube_roles(crystal)
            for n in args.cube:
                jobs.append(({"radius_bohr": 0.5 * n * a, "cells": n, "edge_bohr": n * a, "shape": "cube"}, f"N{n}",
                             lambda n=n: perovskite_cube(n, a, roles, valence=valence)))
        elif args.structure:
            structure = read_structure(args.structure, valence)
            span = structure.positions.max(0) - structure.positions.min(0)
            jobs.append(({"radius_bohr": 0.5 * float(span.max()), "shape": "structure"}, "structure",
                         lambda: structure))
        else:
            passivation = Passivation(args.cation_ligand, args.cation_fraction, args.anion_ligand,
                                      args.anion_fraction, args.anion_single_fraction)
            for r in args.radius:
                def sphere(r=r):
                    nc = build_nanocrystal(crystal, r, args.center, args.center_atom, passivation, args.min_bonds)
                    return DotStructure(nc.symbols, nc.positions, nc.n_core, valence, bond=nc.bond_length,
                                        notes={"shape": "sphere", "removed": nc.removed})
                jobs.append(({"radius_bohr": r, "shape": "sphere"}, f"R{r:g}", sphere))
        structures = [build() for _, _, build in jobs]   # every structure checked before any solve
        for structure in structures:
            missing = sorted(set(structure.symbols) - set(tables))
            if missing:
                raise InputError(Defect(Path(args.pot_dir), None, f"no pot<Sym>.par for {', '.join(missing)}"))
    except ValueError as err:
        if isinstance(err, InputError):
            raise
        raise InputError(Defect(where, None, str(err))) from None
    _check_memory(args, jobs, structures, pp, crystal)
    out = Path(args.outdir)
    folders = [out if len(jobs) == 1 else out / name for _, name, _ in jobs]
    for folder in folders:
        remove_stale(folder, ("conf.par", *SPINOR_DOT_FILES))
    settings = SpinorDotSettings(spacing=args.spacing, vacuum=args.vacuum, n_valence=args.n_valence,
                                 n_conduction=args.n_conduction, tol=args.tol, kinetic_cap=args.kinetic_cap,
                                 max_iter=args.max_iter)
    log.info("spinor dots: SOC %s, NL %s (a5, a6, a7 per species from %s: %s); spacing %g Bohr",
             "on" if soc else "off", "on" if nonlocal_ else "off", args.pot_dir,
             "; ".join(f"{s} {[float(x) for x in c]}" for s, c in coeffs.items()), args.spacing)
    records = []
    for (size, _, _), structure, folder in zip(jobs, structures, folders):
        if size["shape"] == "sphere":   # the client's atom file too, as for a spin-free sphere
            write_conf(folder / "conf.par", structure.symbols, centred(structure.positions))
        records.append(run_spinor_dot(structure, system, pp, tables, settings, folder, size, device=args.device,
                                      source=f"{args.bundle} system {args.system}; {args.pot_dir}"))
    return records

"""`sepm decompose`: band energies split into <T>, <V_loc>, <V_SO>, <V_NL>."""

from __future__ import annotations

import logging

from .inputs import add_system_potential_args, system_and_potential
from .threads import add_threads_arg

log = logging.getLogger("sepm")


def _decompose(args) -> int:
    from pathlib import Path

    from ..analysis.decompose import decompose, write_decomposition
    from ..bands import system_hamiltonian
    from ..errors import Defect, InputError

    _, system, pp = system_and_potential(args)
    # k-point indices are 0-based (kidx), band numbers 1-based (E_N)
    for flag, values, lo, n in (("--kpoint", args.kpoint, 0, len(system.kpoints)),
                                ("--band", args.band, 1, system.nbands)):
        bad = [v for v in values or [] if not lo <= v < n + lo]
        if bad:
            raise InputError(Defect(Path(flag), None, f"{bad[0]} out of range {lo}..{n - 1 + lo} "
                                    f"(system {system.index})"))
    kfrac = system.kpoints[args.kpoint] if args.kpoint else system.kpoints[:1]
    slots = [b - 1 for b in args.band] if args.band else list(range(system.nbands))
    ham = system_hamiltonian(system, pp)
    rows = decompose(ham, kfrac, slots)
    out = Path(args.outdir)
    out.mkdir(parents=True, exist_ok=True)
    write_decomposition(out, rows, ham, kfrac, title=f"{system.name}: ⟨T⟩, ⟨V_loc⟩, ⟨V_SO⟩, ⟨V_NL⟩")
    worst = max(abs(r["E"] - r["T"] - r["V_loc"] - r["V_SO"] - r["V_NL"]) for r in rows)
    log.info("decomposed %d states; largest |E - sum of parts| = %.2e eV", len(rows), worst)
    return 0


def register(sub) -> None:
    dec = sub.add_parser("decompose", help="expectation values <T>, <V_loc>, <V_SO>, <V_NL> of band states",
                         description="Decompose band energies into the Hamiltonian terms at chosen k-points and "
                         "bands (plot_SOC_NL_T_Vloc): decomposition.dat (the parts add up to E), a bar plot "
                         "decomposition.png/.pdf and heat maps of the term matrices H_blocks.png/.pdf.")
    add_system_potential_args(dec)
    dec.add_argument("--kpoint", type=int, action="append", metavar="I",
                     help="k-point index, 0-based like the kidx column (repeatable; default 0)")
    dec.add_argument("--band", type=int, action="append", metavar="N",
                     help="band number, 1-based like the E_N columns of the band tables (repeatable; default all)")
    add_threads_arg(dec)
    dec.set_defaults(func=_decompose)

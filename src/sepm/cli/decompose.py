"""`sepm decompose`: band energies split into <T>, <V_loc>, <V_SO>, <V_NL>."""

from __future__ import annotations

import logging

log = logging.getLogger("sepm")


def _decompose(args) -> int:
    from pathlib import Path

    from ..analysis.decompose import decompose, write_decomposition
    from ..bands import system_hamiltonian
    from ..io import read_bundle
    from ..pseudopotential import Pseudopotential

    bundle = read_bundle(args.bundle)
    if args.potential:
        from ..fitting.potential_files import load_potential

        pp = load_potential(args.potential, args.prefix)[0]
    else:
        pp = Pseudopotential.from_bundle(bundle)
    system = bundle.systems[args.system]
    if len(system.kpoints) == 0:  # a structure without kpoints_X.par: --kpoint indexes its high-symmetry path
        from ..evaluate import use_kpath

        use_kpath(system, bundle.path, outdir=args.outdir)
    kfrac = system.kpoints[args.kpoint] if args.kpoint else system.kpoints[:1]
    slots = args.band or list(range(system.nbands))
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
    dec.add_argument("bundle", help="input bundle folder")
    dec.add_argument("outdir", help="output folder")
    dec.add_argument("--system", type=int, default=0, help="system index X (default 0)")
    dec.add_argument("--kpoint", type=int, action="append", metavar="I", help="k-point index (repeatable; default 0)")
    dec.add_argument("--band", type=int, action="append", metavar="B",
                     help="band slot as in the band tables (repeatable; default all nBands)")
    dec.add_argument("--potential", metavar="DIR", help="a fitted potential (default: the bundle's analytic one)")
    dec.add_argument("--prefix", default="final_", help="which potential in --potential (default final_)")
    dec.set_defaults(func=_decompose)

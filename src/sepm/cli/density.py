"""`sepm density`: valence charge density from the occupied eigenvectors, as cube and XSF files."""

from __future__ import annotations

import logging

from .inputs import add_system_potential_args, device_name, number_above, system_and_potential
from .threads import add_threads_arg

log = logging.getLogger("sepm")


def _density(args) -> int:
    from pathlib import Path

    from ..analysis.density import electron_count, grid_density, write_density
    from ..bands import system_hamiltonian

    bundle, system, pp = system_and_potential(args, device=args.device, kpath=False)
    n_electrons, source = electron_count(system, bundle.path, args.electrons, spinor=pp.soc)
    ham = system_hamiltonian(system, pp, device=args.device)
    where = None if args.electrons is not None else Path(bundle.path) / f"input_{system.index}.par"
    result = grid_density(ham, tuple(args.kgrid), args.shift, n_electrons, args.fft_grid, source=source, where=where)
    meta = {"bundle": str(bundle.path), "system": system.index, "system_name": system.name,
            "potential": f"{args.potential}/{args.prefix}" if args.potential else "bundle analytic",
            "maxKE_hartree": system.maxke, "kgrid": list(args.kgrid), "kgrid_shifted": bool(args.shift),
            "electrons_source": source}
    summary = write_density(args.outdir, system.index, result, ham.basis.crystal, meta)
    log.info("rho integrates to %.12f electrons (%d expected); min %.3e, max %.3e e/Bohr^3; wrote %s/density_%d.*",
             summary["electrons_integrated"], n_electrons, summary["rho_min_e_per_bohr3"],
             summary["rho_max_e_per_bohr3"], args.outdir, system.index)
    return 0


def register(sub) -> None:
    den = sub.add_parser(
        "density", help="valence charge density from the occupied eigenvectors (cube, XSF, plot)",
        description="Charge density rho(r) = sum_k w_k sum_n f_n |psi_nk(r)|^2 of the occupied states on a "
        "Monkhorst-Pack k-grid (charge_density_from_wfns), on the real-space FFT grid. Without SOC each spatial "
        "level holds 2 electrons; with SOC each spinor holds 1. Writes OUTDIR/density_X.cube (Bohr, e/Bohr^3), "
        "density_X.xsf (Angstrom, e/Angstrom^3, periodic grid), density_X.json (integrated electron count, "
        "grids, occupied levels, min/max rho, band edges on the k-grid) and density_X.png/.pdf (rho on the "
        "plane through the shortest bond and along that bond).")
    add_system_potential_args(den)
    den.add_argument("--kgrid", type=number_above(1, int, inclusive=True), nargs=3, default=[4, 4, 4],
                     metavar=("N1", "N2", "N3"),
                     help="Monkhorst-Pack k-grid along b1 b2 b3 (default 4 4 4), Gamma-centred; each point is "
                     "moved to the Wigner-Seitz cell, boundary points split their weight over equivalent images")
    den.add_argument("--shift", action="store_true", help="shift the k-grid by half a step along every axis")
    den.add_argument("--fft-grid", type=number_above(1, int, inclusive=True), nargs=3, metavar=("M1", "M2", "M3"),
                     help="real-space grid (default: 2 max|n_i| + 1 of the basis Miller indices, rounded up to "
                     "a 2,3,5-smooth size; any larger grid gives exact values of rho at finer points)")
    den.add_argument("--electrons", type=number_above(1, int, inclusive=True), metavar="N",
                     help="valence electrons per cell (default: from idxVB of "
                     "input_X.par, idxVB + 1 with SOC and 2 (idxVB + 1) without, else the s+p valence electrons "
                     "of the species, e.g. GaAs 8)")
    den.add_argument("--device", type=device_name, default="cpu",
                     help="torch device, e.g. cpu or cuda (default: cpu)")
    add_threads_arg(den)
    den.set_defaults(func=_density)

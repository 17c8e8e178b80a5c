"""`sepm couplings`: electron-phonon couplings of the band edges for every system with qpoints_X.par."""

from __future__ import annotations

import logging

from .inputs import device_name, potential_arg
from .threads import add_threads_arg

log = logging.getLogger("sepm")


def _couplings(args) -> int:
    from pathlib import Path

    from ..bands import system_hamiltonian
    from ..errors import Defect, InputError
    from ..io import read_bundle
    from ..observables import SystemCouplings, coupling_rmse
    from ..observables.coupling_targets import write_system_couplings
    from ..profiling import PROFILER
    from ..pseudopotential import Pseudopotential

    bundle = read_bundle(args.bundle)
    chosen = args.system if args.system is not None else range(len(bundle.systems))
    bad = [x for x in chosen if not 0 <= x < len(bundle.systems)]
    if bad:
        raise InputError(Defect(bundle.path, None, f"--system {bad[0]}: the bundle has systems 0..{len(bundle.systems) - 1}"))
    systems = [bundle.systems[x] for x in chosen if bundle.systems[x].couplings is not None]
    if not systems:
        names = ", ".join(f"qpoints_{x}.par" for x in chosen)
        raise InputError(Defect(bundle.path, None, f"no phonon q-points: none of {names} exists"))
    pp = potential_arg(args, args.device) or Pseudopotential.from_bundle(bundle, device=args.device)
    title = f"{args.prefix.rstrip('_') or 'fitted'} potential ({Path(args.potential).name})" if args.potential \
        else "bundle's analytic potential"
    out = Path(args.outdir)
    for spec in systems:
        ham = system_hamiltonian(spec, pp, device=args.device)
        couplings = SystemCouplings(ham, spec, args.average)
        with PROFILER.stage("couplings"):
            values = write_system_couplings(out / f"couplingBands_{spec.index}.dat", couplings, title)
        ref = spec.couplings.reference
        deviation = "" if ref is None else f"; RMS deviation from {spec.couplings.reffile.name} " \
                                           f"{coupling_rmse(values, ref):.4g} eV/Bohr"
        log.info("system %d: %d atoms x 3 directions x %d q-points x 2 edges, largest g %.4g eV/Bohr%s; wrote %s",
                 spec.index, values.shape[0], values.shape[2], float(values.max()), deviation,
                 out / f"couplingBands_{spec.index}.dat")
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "couplings",
        help="electron-phonon couplings of the band edges (qpoints_X.par), as fitted with expCoupling_X.par",
        description="For every system with qpoints_X.par, write couplingBands_X.dat: per atom, band edge (vb-vb, "
        "cb-cb) and direction x y z, one value per q-point of g = sqrt(sum |<psi_m(k_gap)| dV/dtau(q) "
        "|psi_n(k_gap + q)>|^2 / (n_L n_R)) in eV/Bohr over the states degenerate with idxVB (down) and idxCB "
        "(up), k_gap the k-point idxGap; k_gap + q must be a k-point of kpoints_X.par up to a reciprocal-lattice "
        "vector. The layout is that of expCoupling_X.par, with the RMS deviation from it in the header.",
    )
    p.add_argument("bundle", help="input bundle folder")
    p.add_argument("outdir", help="output folder (created if needed)")
    p.add_argument("--system", type=int, action="append", metavar="X", help="only system X (repeatable)")
    p.add_argument("--potential", metavar="DIR", help="a fitted potential: a folder written by sepm train / mc / "
                   "prior (default: the bundle's analytic init_<Sym>Params.par)")
    p.add_argument("--prefix", default="final_", help="which potential in --potential (default final_)")
    p.add_argument("--average", choices=["rms", "mean_abs"], default="rms",
                   help="rms (default): gauge-invariant root mean square over the degenerate states; mean_abs: "
                   "DeepPseudopot's mean |M|, which depends on the eigenvectors chosen inside a degenerate subspace")
    p.add_argument("--device", type=device_name, default="cpu", help="torch device (default cpu)")
    add_threads_arg(p)
    p.set_defaults(func=_couplings)

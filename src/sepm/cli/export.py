"""`sepm export`: the q-space table and the real-space potential of a fit."""

from __future__ import annotations

import logging

from .inputs import number_above
from .nanocrystal import add_client_export_args, client_export_inputs, export_client_files
from .threads import add_threads_arg

log = logging.getLogger("sepm")


def _export(args) -> int:
    from pathlib import Path

    from ..analysis.potential_plot import plot_final_potential
    from ..export import export_realspace, write_qspace_table
    from ..fitting.potential_files import load_potential
    from ..nanocrystal.client_export import SIDECAR
    from ..output import remove_stale

    pp, _, _ = load_potential(args.fitdir, args.prefix)
    client = client_export_inputs(args, list(pp.species))  # bad client options: one line, before any file
    out = Path(args.outdir)
    name = args.name or args.prefix.rstrip("_") or "final"
    remove_stale(out, [f"{name}_qSpace_pot.dat", f"{name}_pot.dat"] +
                 [f"{name}_{stem}.{ext}" for stem in ("pot_convergence", "plotPP") for ext in ("png", "pdf")])
    if args.nanocrystal:  # the client files' record, written last
        remove_stale(args.nanocrystal, [SIDECAR])

    def vq(q):
        return pp.total_local_form_factor(q)

    write_qspace_table(out / f"{name}_qSpace_pot.dat", vq, pp.species, qmax=args.qmax_table)
    result = export_realspace(out / f"{name}_pot.dat", vq, pp.species, rmax=args.rmax, nr=args.nr,
                              convergence_stem=out / f"{name}_pot_convergence")
    plot_final_potential(out / f"{name}_plotPP", pp, result["path"], result["qmax"], result["nq"],
                         title=f"{name} local potential of {args.fitdir}")
    log.info("real-space potential: qmax %g 1/Bohr, %d nodes, max change %.2e Hartree (converged: %s)",
             result["qmax"], result["nq"], result["max_change"], result.get("converged"))
    export_client_files(args, pp, client)
    return 0


def register(sub) -> None:
    export = sub.add_parser("export", help="write the q-space table and the real-space potential of a fit",
                            description="From a fitting stage's folder (model_config.json, <prefix>PPmodel.pth, "
                            "<prefix><Sym>Params.par) write <name>_qSpace_pot.dat, <name>_pot.dat (v(r) of every "
                            "species, v(r) = (1/2 pi^2) int q^2 v(q) j0(qr) dq, grids converged and recorded), a "
                            "convergence plot and a potential plot; <name> is the prefix without '_'.")
    export.add_argument("fitdir", help="folder written by sepm train / prior / mc")
    export.add_argument("outdir", help="output folder")
    export.add_argument("--prefix", default="final_", help="which potential: final_ (default), best_, init_, epoch_<N>_")
    export.add_argument("--name", help="output file stem (default: the prefix without '_', e.g. final, best)")
    export.add_argument("--rmax", type=number_above(0.0), default=15.0, help="real-space grid end (Bohr, default 15)")
    export.add_argument("--nr", type=number_above(2, int, inclusive=True), default=1501,
                        help="real-space grid points (default 1501)")
    export.add_argument("--qmax-table", type=number_above(0.0), default=10.0,
                        help="q-space table end (1/Bohr, default 10)")
    add_client_export_args(export)
    add_threads_arg(export)
    export.set_defaults(func=_export)

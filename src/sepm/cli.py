"""The ``sepm`` command line: one subcommand per pipeline stage, for people who do not use Snakemake."""

from __future__ import annotations

import argparse
import logging
import sys

from .errors import InputError

log = logging.getLogger("sepm")


def _bands(args) -> int:
    from .evaluate import evaluate_bundle

    pp = None
    if args.potential:
        from .fitting.potential_files import load_potential

        pp = load_potential(args.potential, args.prefix, device=args.device)[0]
        log.info("potential: %s<Sym>Params.par / %sPPmodel.pth from %s", args.prefix, args.prefix, args.potential)
    results = evaluate_bundle(args.bundle, args.outdir, pseudopotential=pp, device=args.device,
                              memory_limit_gb=args.memory_limit_gb, systems=args.system, kpoints_file=args.kpoints)
    for r in results:
        log.info("wrote %s/bands_%d.dat, .png, .pdf", args.outdir, r["index"])
    return 0


def _fit_inputs(args) -> dict:
    """Resolve --init-from (a previous stage's folder) into --init-params / --init-model."""
    from pathlib import Path

    params_dir, prefix = args.init_params, args.init_params_prefix
    if args.init_from:
        params_dir, prefix = args.init_from, args.init_prefix
        model = Path(args.init_from) / f"{args.init_prefix}PPmodel.pth"
        if args.init_model is None and model.is_file():
            args.init_model = str(model)
    init_params = (params_dir, prefix) if params_dir else None
    return dict(overrides=args.set, init_params=init_params, device=args.device)


def _prior(args) -> int:
    from pathlib import Path

    from .fitting.stage import FitSetup, run_prior

    setup = FitSetup(args.bundle, **_fit_inputs(args))
    prior = run_prior(setup, Path(args.outdir), args.init_model, record_name="init_record.json.part")
    setup.save(args.outdir, "init_")
    setup.plot_potential(Path(args.outdir) / "init_plotPP", f"prior: {prior['record']['strategy']}")
    Path(args.outdir, "init_record.json.part").replace(Path(args.outdir, "init_record.json"))  # written last
    return 0


def _train(args) -> int:
    from .fitting.stage import run_fit

    run_fit(args.bundle, args.outdir, init_model=args.init_model, init_optimizer=args.init_optimizer,
            stop_after=args.stop_after, **_fit_inputs(args))
    return 0


def _mc(args) -> int:
    from .fitting.montecarlo import run_mc

    run_mc(args.bundle, args.outdir, init_model=args.init_model, stop_after=args.stop_after, **_fit_inputs(args))
    return 0


def _export(args) -> int:
    from pathlib import Path

    from .export import export_realspace, plot_potentials, write_qspace_table
    from .fitting.potential_files import load_potential

    pp, _, _ = load_potential(args.fitdir, args.prefix)
    out = Path(args.outdir)
    name = args.name or args.prefix.rstrip("_") or "final"

    def vq(q):
        return pp.total_local_form_factor(q)

    write_qspace_table(out / f"{name}_qSpace_pot.dat", vq, pp.species, qmax=args.qmax_table)
    result = export_realspace(out / f"{name}_pot.dat", vq, pp.species, rmax=args.rmax, nr=args.nr,
                              convergence_stem=out / f"{name}_pot_convergence")
    plot_potentials(out / f"{name}_plotPP", vq, pp.species, title=f"{name} local potential (incl. long-range tail)")
    log.info("real-space potential: qmax %g 1/Bohr, %d nodes, max change %.2e Hartree (converged: %s)",
             result["qmax"], result["nq"], result["max_change"], result.get("converged"))
    return 0


def _add_fit_inputs(p):
    p.add_argument("bundle", help="input bundle folder")
    p.add_argument("outdir", help="output folder (created if needed)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override an NN_config.par key (repeatable), e.g. --set max_num_epochs=50")
    p.add_argument("--init-model", metavar="PTH", help="start the network from this state_dict (a previous "
                   "stage's final_/epoch_<N>_/best_/init_PPmodel.pth); overrides the bundle's init_PPmodel.pth")
    p.add_argument("--init-params", metavar="DIR", help="read the starting a0..a8 from <prefix><Sym>Params.par "
                   "files in DIR (a previous stage's output) instead of the bundle's init_<Sym>Params.par")
    p.add_argument("--init-params-prefix", default="final_", metavar="PREFIX",
                   help="file prefix for --init-params (default final_; e.g. best_, init_, epoch_100_)")
    p.add_argument("--init-from", metavar="DIR", help="a previous stage's output folder: its <prefix>PPmodel.pth "
                   "(when present) and <prefix><Sym>Params.par initialize this stage (hybrid chains)")
    p.add_argument("--init-prefix", default="final_", metavar="PREFIX",
                   help="file prefix for --init-from (default final_; best_ for Monte Carlo, init_ for a prior)")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default: cpu)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sepm", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    bands = sub.add_parser(
        "bands",
        help="band structures of a potential for every system of a bundle (eval_fullBand)",
        description="Evaluate band structures for every system of a DeepPseudopot input bundle. With no model "
        "given, the bundle's analytic potentials (init_<Sym>Params.par; SOC and nonlocal terms when "
        "NN_config.par has SObool = 1) are used. Writes per system X: bands_X.dat (k index, path distance "
        "in 1/Bohr, energies in eV; the weighted loss and RMSE against expBandStruct_X.par in its header "
        "when the bundle has reference bands), bands_X.png and bands_X.pdf (against the reference).",
    )
    bands.add_argument("bundle", help="input bundle folder (NN_config.par, system_X.par, input_X.par, ...)")
    bands.add_argument("outdir", help="output folder (created if needed)")
    bands.add_argument("--system", type=int, action="append", metavar="X",
                       help="evaluate only system X (repeatable; default: every system)")
    bands.add_argument("--potential", metavar="DIR", help="evaluate a fitted potential: a folder written by sepm "
                       "train / mc / prior (model_config.json, <prefix>PPmodel.pth, <prefix><Sym>Params.par)")
    bands.add_argument("--prefix", default="final_", help="which potential in --potential (default final_)")
    bands.add_argument("--kpoints", metavar="FILE", help="evaluate at these k-points instead of kpoints_X.par "
                       "(rows k1 k2 k3 weight, fractional; e.g. a dense path); k-points are processed in batches "
                       "that fit --memory-limit-gb")
    bands.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default: cpu)")
    bands.add_argument("--memory-limit-gb", type=float, default=None,
                       help="memory budget for batching k-points (default: NN_config memory_limit_GB or 2)")
    bands.set_defaults(func=_bands)

    prior = sub.add_parser("prior", help="initialize the local-potential model (Zunger fit, q-table fit, checkpoint, "
                           "or the network's own initializer) and save it as init_*",
                           description="Run DeepPseudopot's initialization in its order of preference "
                           "(init_PPmodel.pth reuse, fit to the Zunger form when init_Zunger_num_epochs > 0, fit to "
                           "init_qSpace_pot.par, the network initializer) and write init_PPmodel.pth, "
                           "init_<Sym>Params.par, model_config.json, init_record.json and plots.")
    _add_fit_inputs(prior)
    prior.set_defaults(func=_prior)

    trainp = sub.add_parser("train", help="gradient training (max_num_epochs > 0) or init-only evaluation",
                            description="Initialize, evaluate the initial potential, then train by gradients "
                            "(optimizer, ExponentialLR, perturbEvery, patience from NN_config.par). Resumes from "
                            "OUTDIR/train_state.pth when present. Writes training_cost.dat, epoch_<N>_* checkpoints, "
                            "final_PPmodel.pth, final_<Sym>Params.par, final band tables and plots, fit_summary.json.")
    _add_fit_inputs(trainp)
    trainp.add_argument("--init-optimizer", metavar="PTH", help="optimizer state to start from (e.g. init_AdamState.pth)")
    trainp.add_argument("--stop-after", type=int, metavar="N", help="stop after epoch N as if killed (resume later)")
    trainp.set_defaults(func=_train)

    mcp = sub.add_parser("mc", help="Monte Carlo fitting by parallel tempering (mc_bool = 1, max_num_epochs = 0)",
                         description="Initialize (as sepm prior), then fit by parallel tempering: one replica per "
                         "inverse temperature, Metropolis moves of a random fraction mc_percentage of the trainable "
                         "coefficients (trainable_params; a4 only in charge-neutral directions, a5 kept >= 0) and of "
                         "the network weights, then exchanges between neighbouring temperatures. Settings: NN_config "
                         "mc_iter, mc_percentage, mc_beta, seed; mcOpts*.par (one stage each, run in order, each "
                         "starting from the previous best: betas, stepsAtTemp, tempStepSizeMod, totalIter, "
                         "writePerIter, fitDefPot, defPotWeight, fitCoupling); <Sym>ParamSteps.par (absolute step "
                         "per a0..a8); mc_beta_schedule (anneals the coldest beta). Resumes from "
                         "OUTDIR/mc_checkpoint.pth when present. Writes mc_checkpoint.pth, mc_cost.dat, "
                         "best_<Sym>Params.par, best_PPmodel.pth (network), best band tables and plots, best_plotPP, "
                         "init_record.json and mc_summary.json.")
    _add_fit_inputs(mcp)
    mcp.add_argument("--stop-after", type=int, metavar="N",
                     help="stop after iteration N (counted over all stages) as if killed; rerun to resume")
    mcp.set_defaults(func=_mc)

    export = sub.add_parser("export", help="write the q-space table and the real-space potential of a fit",
                            description="From a fitting stage's folder (model_config.json, <prefix>PPmodel.pth, "
                            "<prefix><Sym>Params.par) write <name>_qSpace_pot.dat, <name>_pot.dat (v(r) of every "
                            "species, v(r) = (1/2 pi^2) int q^2 v(q) j0(qr) dq, grids converged and recorded), a "
                            "convergence plot and a potential plot; <name> is the prefix without '_'.")
    export.add_argument("fitdir", help="folder written by sepm train / prior / mc")
    export.add_argument("outdir", help="output folder")
    export.add_argument("--prefix", default="final_", help="which potential: final_ (default), best_, init_, epoch_<N>_")
    export.add_argument("--name", help="output file stem (default: the prefix without '_', e.g. final, best)")
    export.add_argument("--rmax", type=float, default=15.0, help="real-space grid end (Bohr, default 15)")
    export.add_argument("--nr", type=int, default=1501, help="real-space grid points (default 1501)")
    export.add_argument("--qmax-table", type=float, default=10.0, help="q-space table end (1/Bohr, default 10)")
    export.set_defaults(func=_export)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr, force=True)
    try:
        return args.func(args)
    except InputError as err:
        log.error("bad input:\n%s", err)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""The sepm command line: one subcommand per pipeline stage, for people who do not use Snakemake."""

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


def _convert(args) -> int:
    from .convert import convert

    nn_config = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"sepm convert: --set expects KEY=VALUE, got {item!r}")
        nn_config[key.strip()] = value.strip()
    summary = convert(args.outdir, qe_xml=args.qe_xml, prior=args.prior, maxke=args.maxke, nbands=args.nbands,
                      qe_bands=args.qe_bands, bgw_eqp=args.bgw_eqp, bgw_bandstructure=args.bgw_bandstructure,
                      bgw_energy=args.bgw_energy, vbm_align=args.vbm_align, name=args.name, nn_config=nn_config)
    log.info("wrote %s: %d k-points, %d bands from %s (species %s; valence top %s eV, shift %+.4f eV)",
             args.outdir, summary["nk"], summary["nbands"], summary["source"], " ".join(summary["species"]),
             "?" if summary["vbm"] is None else f"{summary['vbm']:.4f}", summary["shift"])
    return 0


def _cluster(args) -> int:
    from .analysis.cluster import run_cluster

    clusters = args.clusters if args.clusters == "auto" else int(args.clusters)
    try:
        run_cluster(args.outdir, args.tables, summaries=args.costs_from, n_clusters=clusters, seed=args.seed,
                    members=args.names, qmin=args.qmin, qmax=args.qmax, title=args.title)
    except ValueError as err:  # InputError (a bad table or summary) is reported by main()
        if isinstance(err, InputError):
            raise
        log.error("sepm cluster: %s", err)
        return 2
    return 0


def _decompose(args) -> int:
    from pathlib import Path

    from .analysis.decompose import decompose, write_decomposition
    from .bands import system_hamiltonian
    from .io import read_bundle
    from .pseudopotential import Pseudopotential

    bundle = read_bundle(args.bundle)
    if args.potential:
        from .fitting.potential_files import load_potential

        pp = load_potential(args.potential, args.prefix)[0]
    else:
        pp = Pseudopotential.from_bundle(bundle)
    system = bundle.systems[args.system]
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

    conv = sub.add_parser(
        "convert", help="Quantum ESPRESSO / BerkeleyGW outputs -> an input bundle (convert_bgwBS)",
        description="Write a one-system DeepPseudopot bundle to OUTDIR: system_0.par (scale = alat in Bohr, cell in "
        "units of alat, fractional positions, from pw.x's XML), kpoints_0.par (fractional, weight 1), "
        "expBandStruct_0.par (path distance in 1/Bohr, then the lowest nBands energies in eV, each level twice "
        "unless the run was noncollinear), bandWeights_0.par (all 1), input_0.par (nBands, maxKE, idxVB/idxCB "
        "from the electron count), init_<Sym>Params.par copied from --prior, and NN_config.par (nSystem = 1, "
        "PPmodel = ZeroFunction unless --set). Energies come from the XML (Hartree), or from --qe-bands "
        "(bands.x filband), --bgw-eqp (eqp1.dat/eqp.dat) or --bgw-bandstructure (inteqp). The bundle is read "
        "back and validated.")
    conv.add_argument("outdir", help="output bundle folder (created if needed; files of the same name are replaced)")
    conv.add_argument("--qe-xml", required=True, metavar="XML", help="pw.x data-file-schema.xml: the structure, "
                      "and the reference energies unless another source is given")
    src = conv.add_mutually_exclusive_group()
    src.add_argument("--qe-bands", metavar="FILBAND", help="bands.x filband: energies (eV) and k-points from it")
    src.add_argument("--bgw-eqp", metavar="EQP", help="BerkeleyGW eqp1.dat / eqp.dat (k in crystal coordinates)")
    src.add_argument("--bgw-bandstructure", metavar="DAT", help="BerkeleyGW inteqp bandstructure.dat "
                     "(k Cartesian in 1/Bohr)")
    conv.add_argument("--bgw-energy", choices=["qp", "mf"], default="qp",
                      help="BerkeleyGW column: quasiparticle E_qp (default) or mean-field E_mf")
    conv.add_argument("--prior", required=True, metavar="DIR", help="folder with init_<Sym>Params.par for every "
                      "species (e.g. resources/priors/Si or another bundle); a missing species is an error")
    conv.add_argument("--maxke", type=float, required=True, metavar="HARTREE", help="plane-wave cutoff maxKE")
    conv.add_argument("--nbands", type=int, metavar="N", help="number of (spin-doubled) reference bands "
                      "(default: all the source has)")
    conv.add_argument("--vbm-align", type=float, metavar="EV", help="shift the reference so that the valence-band "
                      "maximum is at EV eV (default: energies as in the source)")
    conv.add_argument("--name", help="systemName in input_0.par (default: the species, e.g. Si)")
    conv.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                      help="NN_config.par key of the bundle (repeatable), e.g. --set PPmodel=Net_celu_HeInit_decayGaussian")
    conv.set_defaults(func=_convert)

    cluster = sub.add_parser(
        "cluster", help="PCA and K-means over many fits' q-space tables (ensemble analysis, cluster_pp)",
        description="Group fitted potentials by their v(q) (DeepPseudopot's cluster_pp). Features: the "
        "concatenated v_<Sym>(q) of all species of each TABLE (*_qSpace_pot.dat, as written by sepm export) on "
        "the common q grid in [--qmin, --qmax], raw Hartree*Bohr^3 (not standardized: distances are L2 distances "
        "between potentials). K-means (scikit-learn, n_init 10) with --clusters K (capped at the number of "
        "distinct potentials) or 'auto' (best silhouette score, k = 2 .. min(N-1, 10)); PCA for the plot. "
        "Writes into OUTDIR: pca_scatter.png/.pdf (PC1 vs PC2 coloured by cluster, each cluster's representative "
        "starred), clusters.json, clusters.dat (member cluster PC1 PC2 cost; explained-variance ratios in the "
        "header) and, last, representatives.dat (cluster member cost size: the lowest-cost member of each "
        "cluster, or the member nearest to the centroid without --costs-from). Clusters are numbered by their "
        "representative's cost: cluster 0 holds the best potential.")
    cluster.add_argument("outdir", help="output folder (created if needed)")
    cluster.add_argument("tables", nargs="+", metavar="TABLE", help="q-space tables of the fits (at least 2), "
                         "e.g. results/GaAs/ensemble/*/final_qSpace_pot.dat")
    cluster.add_argument("--costs-from", nargs="+", metavar="SUMMARY",
                         help="fit summaries, one per TABLE in the same order: fit_summary.json (final_cost) or "
                         "mc_summary.json (best_cost); they pick each cluster's lowest-cost member")
    cluster.add_argument("--clusters", default="2", type=_clusters_arg, metavar="K|auto",
                         help="number of clusters (>= 1), or 'auto' to choose it by silhouette score (default 2)")
    cluster.add_argument("--seed", type=int, default=0, help="K-means random_state (default 0)")
    cluster.add_argument("--names", nargs="+", metavar="NAME", help="member names, one per TABLE (default: the "
                         "tables' folder names when unique, e.g. ensemble/3/... -> 3, else 0, 1, ...)")
    cluster.add_argument("--qmin", type=float, default=0.5, help="lower end of the feature q range in 1/Bohr "
                         "(default 0.5: leaves out the diverging long-range tail -a4 4pi/q^2 below the shortest "
                         "reciprocal lattice vectors; 0 uses the whole table)")
    cluster.add_argument("--qmax", type=float, default=None, help="upper end of the feature q range in 1/Bohr "
                         "(default: the end of the tables)")
    cluster.add_argument("--title", default="", help="title of the scatter plot")
    cluster.set_defaults(func=_cluster)
    return parser


def _clusters_arg(value: str) -> str:
    if value == "auto" or (value.isdigit() and int(value) >= 1):
        return value
    raise argparse.ArgumentTypeError(f"expected a positive integer or 'auto', not {value!r}")


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

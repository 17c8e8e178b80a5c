"""`sepm prior`, `sepm train`, `sepm mc`: the initialization and fitting stages."""

from __future__ import annotations

from .inputs import device_name, number_above
from .threads import add_threads_arg


def _fit_inputs(args) -> dict:
    """Resolve --init-from (a previous stage's folder) into --init-params / --init-model, once every named
    file and folder is found (one that is not is refused, not ignored)."""
    from pathlib import Path

    from ..errors import Defect, InputError

    named = [("--init-model", getattr(args, "init_model", None), Path.is_file),
             ("--init-optimizer", getattr(args, "init_optimizer", None), Path.is_file),
             ("--init-params", args.init_params, Path.is_dir), ("--init-from", args.init_from, Path.is_dir)]
    missing = [Defect(Path(path), None, f"{option}: {'file' if kind is Path.is_file else 'folder'} not found")
               for option, path, kind in named if path and not kind(Path(path))]
    if missing:
        raise InputError(missing)
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

    from ..fitting.stage import FitSetup, run_prior
    from ..output import remove_stale

    setup = FitSetup(args.bundle, **_fit_inputs(args))
    remove_stale(args.outdir, ["init_record.json"])
    prior = run_prior(setup, Path(args.outdir), args.init_model, record_name="init_record.json.part")
    setup.save(args.outdir, "init_")
    setup.plot_potential(Path(args.outdir) / "init_plotPP", f"prior: {prior['record']['strategy']}")
    Path(args.outdir, "init_record.json.part").replace(Path(args.outdir, "init_record.json"))  # written last
    return 0


def _local_ranks(args) -> int:
    """NN_config num_cores (the bundle's, or --set) when it asks for several processes and no launcher (torchrun,
    srun) started this one as a rank; else 1. Bad input is refused here, once, before any rank starts."""
    from ..fitting.launch import detect
    from ..fitting.objective import check_splits
    from ..io import read_bundle
    from ..io.nnconfig import apply_overrides
    from ..settings import setting

    if detect() is not None:
        return 1
    config = apply_overrides(read_bundle(args.bundle).config, args.set)
    n = setting(config, "num_cores")
    if n > 1:
        check_splits(config, args.bundle)
    return n


def _run_ranks(args, stage) -> int:
    """``stage(outdir=..., device=..., **inputs)`` in this process (a rank of torchrun or srun, if any), or as
    num_cores ranks on this machine (:func:`sepm.fitting.launch.run_local`)."""
    from ..fitting.launch import run_local, session

    inputs = _fit_inputs(args)  # first: --init-from sets args.init_model (a prior's network is reused, not refitted)
    n = _local_ranks(args)
    if n > 1:
        return run_local(args.argv, n, args.cpu_threads)
    with session(args.outdir, inputs.pop("device")) as (outdir, device):  # torchrun / srun ranks, if any
        stage(args.bundle, outdir, init_model=args.init_model, stop_after=args.stop_after, device=device, **inputs)
    return 0


def _train(args) -> int:
    from functools import partial

    from ..fitting.stage import run_fit

    return _run_ranks(args, partial(run_fit, init_optimizer=args.init_optimizer))


def _mc(args) -> int:
    from ..fitting.montecarlo import run_mc

    return _run_ranks(args, run_mc)


def _add_fit_inputs(p):
    p.add_argument("bundle", help="input bundle folder")
    p.add_argument("outdir", help="output folder (created if needed)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override an NN_config.par key (repeatable; the keys are listed below), e.g. "
                   "--set max_num_epochs=50")
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
    p.add_argument("--device", type=device_name, default="cpu",
                   help="torch device, e.g. cpu or cuda (default: cpu)")
    add_threads_arg(p)


SPIN_ORBIT = ("Spin-orbit: with SObool = 1 in NN_config.par the Hamiltonian acts on spinors (2N x 2N for N plane "
              "waves, about 8x the cost of a spin-doubled evaluation) and adds each species' spin-orbit term of "
              "strength a5 and its l = 1 nonlocal terms a6, a7 (lines 6-8 of init_<Sym>Params.par); the reference "
              "bands are then the lowest nBands levels of the spinor spectrum, while without it every level is "
              "counted twice (spin-doubled) and a5..a7 play no part. a5..a7 keep their starting values unless "
              "trainable_params names them (a network fit trains the network only, as DeepPseudopot); cacheSO = 1 "
              "keeps the SO/NL matrices between epochs (faster, more memory).")


def _parser(sub, name: str, **kwargs):
    """A fitting command's parser; its help ends with every NN_config key (sepm.settings)."""
    import argparse
    import textwrap

    from ..settings import help_text

    kwargs["description"] = textwrap.fill(kwargs["description"], 79)
    return sub.add_parser(name, epilog=help_text(), formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs)


RANKS = ("With NN_config num_cores = N > 1 the command runs itself as N ranks on this machine (--threads divided "
         "among them); started by torchrun or srun as several ranks (e.g. torchrun --nproc-per-node 4 -m sepm train "
         "...) it runs as those. The ranks share every system's k-points and sum losses and gradients "
         "(torch.distributed: gloo on the CPU, NCCL on CUDA); rank 0 writes OUTDIR.")


def register(sub) -> None:
    prior = _parser(sub, "prior", help="initialize the local-potential model (Zunger fit, q-table fit, checkpoint, "
                           "or the network's own initializer) and save it as init_*",
                           description="Run DeepPseudopot's initialization in its order of preference "
                           "(init_PPmodel.pth reuse, fit to the Zunger form when init_Zunger_num_epochs > 0, fit to "
                           "init_qSpace_pot.par, the network initializer) and write init_PPmodel.pth, "
                           "init_<Sym>Params.par, model_config.json, init_record.json and plots.")
    _add_fit_inputs(prior)
    prior.set_defaults(func=_prior)
    trainp = _parser(sub, "train", help="gradient training (max_num_epochs > 0) or init-only evaluation",
                            description="Initialize, evaluate the initial potential, then train by gradients "
                            "(optimizer, lr_schedule, perturbEvery, patience from NN_config.par). Resumes from "
                            "OUTDIR/train_state.pth when present. Writes training_cost.dat, epoch_<N>_* checkpoints, "
                            "final_PPmodel.pth, final_<Sym>Params.par, final band tables and plots, fit_summary.json. "
                            + SPIN_ORBIT + " " + RANKS)
    _add_fit_inputs(trainp)
    trainp.add_argument("--init-optimizer", metavar="PTH", help="optimizer state to start from (e.g. init_AdamState.pth)")
    trainp.add_argument("--stop-after", type=number_above(0, int, inclusive=True), metavar="N",
                        help="stop after epoch N as if killed (resume later)")
    trainp.set_defaults(func=_train)
    mcp = _parser(sub, "mc", help="Monte Carlo fitting by parallel tempering (mc_bool = 1, max_num_epochs = 0)",
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
                         "init_record.json and mc_summary.json. " + RANKS)
    _add_fit_inputs(mcp)
    mcp.add_argument("--stop-after", type=number_above(0, int, inclusive=True), metavar="N",
                     help="stop after iteration N (counted over all stages) as if killed; rerun to resume")
    mcp.set_defaults(func=_mc)

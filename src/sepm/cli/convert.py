"""`sepm convert`: Quantum ESPRESSO / BerkeleyGW outputs -> an input bundle."""

from __future__ import annotations

import logging

from .inputs import finite_number, number_above

log = logging.getLogger("sepm")


def _convert(args) -> int:
    from ..convert import convert
    from ..io.nnconfig import apply_overrides

    apply_overrides({}, args.set)  # unknown keys and bad values stop here, before anything is written
    nn_config = dict((part.strip() for part in item.partition("=")[::2]) for item in args.set)
    summary = convert(args.outdir, qe_xml=args.qe_xml, prior=args.prior, maxke=args.maxke, nbands=args.nbands,
                      qe_bands=args.qe_bands, bgw_eqp=args.bgw_eqp, bgw_bandstructure=args.bgw_bandstructure,
                      bgw_energy=args.bgw_energy, vbm_align=args.vbm_align, name=args.name, nn_config=nn_config)
    log.info("wrote %s: %d k-points, %d bands from %s (species %s; valence top %s eV, shift %+.4f eV)",
             args.outdir, summary["nk"], summary["nbands"], summary["source"], " ".join(summary["species"]),
             "?" if summary["vbm"] is None else f"{summary['vbm']:.4f}", summary["shift"])
    return 0


def register(sub) -> None:
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
    conv.add_argument("--maxke", type=number_above(0.0), required=True, metavar="HARTREE",
                      help="plane-wave cutoff maxKE")
    conv.add_argument("--nbands", type=number_above(1, int, inclusive=True), metavar="N",
                      help="number of (spin-doubled) reference bands "
                      "(default: all the source has)")
    conv.add_argument("--vbm-align", type=finite_number, metavar="EV",
                      help="shift the reference so that the valence-band "
                      "maximum is at EV eV (default: energies as in the source)")
    conv.add_argument("--name", help="systemName in input_0.par (default: the species, e.g. Si)")
    conv.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                      help="NN_config.par key of the bundle (repeatable), e.g. --set PPmodel=Net_celu_HeInit_decayGaussian")
    conv.set_defaults(func=_convert)

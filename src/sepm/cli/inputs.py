"""Arguments shared by the tools that evaluate one system of a bundle with a potential
(decompose, density, masses): BUNDLE OUTDIR [--system X] [--potential DIR --prefix P]; and
argparse number checks."""

from __future__ import annotations

import argparse
import logging
import math

log = logging.getLogger("sepm")


def add_system_potential_args(p) -> None:
    p.add_argument("bundle", help="input bundle folder")
    p.add_argument("outdir", help="output folder (created if needed)")
    p.add_argument("--system", type=int, default=0, metavar="X", help="system index X (default 0)")
    p.add_argument("--potential", metavar="DIR", help="a fitted potential: a folder written by sepm train / mc / "
                   "prior (default: the bundle's analytic init_<Sym>Params.par)")
    p.add_argument("--prefix", default="final_", help="which potential in --potential: final_ (default), best_, "
                   "init_, epoch_<N>_")


def potential_arg(args, device="cpu"):
    """The fitted potential named by --potential / --prefix, or None."""
    if not args.potential:
        return None
    from ..fitting.potential_files import load_potential

    log.info("potential: %s<Sym>Params.par / %sPPmodel.pth from %s", args.prefix, args.prefix, args.potential)
    return load_potential(args.potential, args.prefix, device=device)[0]


def system_and_potential(args, device="cpu", kpath=True):
    """(bundle, system, pseudopotential) of the arguments above. A system without k-points (no
    kpoints_X.par) gets its high-symmetry path when ``kpath``."""
    from ..errors import Defect, InputError
    from ..io import read_bundle
    from ..pseudopotential import Pseudopotential

    bundle = read_bundle(args.bundle)
    if not 0 <= args.system < len(bundle.systems):
        raise InputError(Defect(bundle.path, None, f"--system {args.system}: the bundle has {len(bundle.systems)} "
                                f"system(s), 0..{len(bundle.systems) - 1}"))
    system = bundle.systems[args.system]
    pp = potential_arg(args, device)
    if pp is None:
        pp = Pseudopotential.from_bundle(bundle, device=device)
        log.info("potential: the bundle's analytic init_<Sym>Params.par")
    if kpath:
        from ..evaluate import use_kpath

        use_kpath(system, bundle.path, outdir=args.outdir, force=False)
    return bundle, system, pp


def number_above(low, kind=float, inclusive=False, at_most=None):
    """argparse type: a finite number > low (>= low when ``inclusive``), and <= ``at_most`` when given."""

    def check(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
        if value < low or (value == low and not inclusive):
            raise argparse.ArgumentTypeError(f"must be {'>=' if inclusive else '>'} {low}, got {text}")
        if at_most is not None and value > at_most:
            raise argparse.ArgumentTypeError(f"must be <= {at_most}, got {text}")
        return value

    return check


def finite_number(text):
    """argparse type: any finite float."""
    return number_above(-math.inf)(text)


def device_name(text):
    """argparse type: a torch device this machine has (cpu, cuda, cuda:1, mps)."""
    import torch

    try:
        device = torch.device(text)
    except RuntimeError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a torch device (cpu, cuda, cuda:N, mps)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise argparse.ArgumentTypeError(f"{text}: this machine has no CUDA device (torch {torch.__version__})")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise argparse.ArgumentTypeError(f"{text}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise argparse.ArgumentTypeError(f"{text}: MPS is not available here")
    return text

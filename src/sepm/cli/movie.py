"""`sepm movie`: an animation of bands, potential and cost over training epochs / MC iterations."""

from __future__ import annotations

import logging

from .inputs import device_name, number_above
from .threads import add_threads_arg

log = logging.getLogger("sepm")


def _movie(args) -> int:
    from ..analysis.movie import make_movie

    make_movie(args.fitdir, args.out_file, fps=args.fps, system=args.system, fmt=args.format,
               max_frames=args.max_frames, bundle_dir=args.bundle, device=args.device)
    return 0


def register(sub) -> None:
    mov = sub.add_parser("movie", help="animation (GIF/MP4) of bands, v(q) and cost over epochs or MC iterations",
                         description="Training movie (genMovie) from the snapshots of a fitting folder: the "
                         "epoch_<N>_* checkpoints and training_cost.dat of sepm train, or the iter_<N>_* snapshots "
                         "and mc_cost.dat of sepm mc, in numeric order, closed by the run's end state (final_ / "
                         "best_) when it comes after the last snapshot. Each frame shows the bands of system X "
                         "(saved epoch_<N>_bands_X.dat tables, or recomputed from the snapshot with --bundle) "
                         "against the reference bands, the local form factor v(q) of every species, and the cost "
                         "history with the frame's epoch marked; the axes are fixed over all frames. Writes "
                         "OUT_FILE only: an animated GIF (Pillow), or an MP4 when ffmpeg is on PATH.")
    mov.add_argument("fitdir", help="output folder of sepm train or sepm mc")
    mov.add_argument("out_file", help="the movie, e.g. movie.gif or movie.mp4 (the suffix picks the format)")
    mov.add_argument("--bundle", metavar="DIR", help="the bundle the folder was fitted to: reference bands, k-point "
                     "labels, and bands for snapshots without band tables (MC snapshots need it)")
    mov.add_argument("--system", type=int, default=0, metavar="X", help="system index X (default 0)")
    mov.add_argument("--fps", type=number_above(0.0), default=2.0, help="frames per second (default 2)")
    mov.add_argument("--format", choices=("gif", "mp4"), help="movie format (default: OUT_FILE's suffix; mp4 needs "
                     "ffmpeg)")
    mov.add_argument("--max-frames", type=number_above(0, int, inclusive=True), default=200, metavar="N",
                     help="at most N frames, evenly spaced, first and last kept (default 200; 0 = all)")
    mov.add_argument("--device", type=device_name, default="cpu",
                     help="torch device for recomputed bands (default: cpu)")
    add_threads_arg(mov)
    mov.set_defaults(func=_movie)

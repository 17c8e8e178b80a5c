r"""Training movies (DeepPseudopot's genMovie): bands and local potential over epochs / MC iterations.

A fitting folder holds snapshots of the potential:

- ``sepm train``: ``epoch_<N>_<Sym>Params.par`` (+ ``epoch_<N>_PPmodel.pth``) and the band tables
  ``epoch_<N>_bands_<X>.dat`` every ``plotEvery`` epochs; the cost history ``training_cost.dat``
  (the cost after the step of epoch N is the frame's cost);
- ``sepm mc``: ``iter_<N>_<Sym>Params.par`` (+ ``iter_<N>_PPmodel.pth``), the best state after N
  iterations, every ``writePerIter``; ``mc_cost.dat`` (best cost after iteration N). These have no
  band tables: the bands are recomputed from the snapshot, which needs the bundle.

Every frame is drawn from data with the same axes: the bands of system X at the snapshot (lines)
against the reference bands (dots, from the bundle), the local form factor of every species

    v_s(q)  (Hartree Bohr^3, without the long-range tail; Wang-Zunger a0..a3 or the network),

on 0 <= q <= 10 1/Bohr, and the whole cost history with a marker at the frame's epoch. Frames are
ordered numerically (epoch_10 after epoch_9). The movie is an animated GIF (Pillow) or, when
ffmpeg is on PATH, an MP4; it is written under a temporary name and renamed into place.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..errors import Defect, InputError
from ..output import atomic_path
from ..plotting import collapse_jumps, lattice_namer, path_ticks

log = logging.getLogger("sepm")

#: Snapshot kinds: file prefix pattern, cost table, cost column, axis label.
KINDS = {
    "train": ("epoch", "training_cost.dat", "epoch", "cost_after_step", "epoch"),
    "mc": ("iter", "mc_cost.dat", "iteration", "best_cost", "iteration"),
}
#: The state a run ends with, shown as the last frame when it comes after the last snapshot.
END_PREFIX = {"train": "final_", "mc": "best_"}
FORMATS = ("gif", "mp4")
Q_MAX, N_Q = 10.0, 301
FIGSIZE, DPI = (12.0, 5.4), 100


@dataclass
class Frame:
    """One snapshot: ``step`` (epoch or iteration), bands (nk, nbands) in eV, v(q) (nq, n_species)."""

    step: int
    prefix: str
    bands: np.ndarray
    vq: np.ndarray
    cost: float
    rmse_meV: float = float("nan")


def movie_format(out_file, fmt: str | None = None) -> str:
    """The movie format: ``fmt`` or OUT_FILE's suffix; MP4 needs ffmpeg on PATH."""
    out_file = Path(out_file)
    fmt = (fmt or out_file.suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise InputError(Defect(out_file, None, f"unknown movie format {fmt!r}: name the file .gif or .mp4 "
                                "(or pass --format gif|mp4)"))
    if fmt == "mp4" and shutil.which("ffmpeg") is None:
        raise InputError(Defect(out_file, None, "MP4 needs ffmpeg, which is not on PATH: write an animated GIF "
                                f"instead ({out_file.with_suffix('.gif').name}, or --format gif)"))
    return fmt


def find_snapshots(fitdir) -> tuple[str, list[tuple[int, str]], list[str]]:
    """(kind, [(step, prefix)] in numeric order, species) of the snapshots in ``fitdir``.

    A snapshot counts when every species has its ``<prefix><Sym>Params.par``; the run's end state
    (final_ / best_) closes the list when it comes after the last snapshot (at the cost table's last
    step). Gradient epochs are preferred when a folder has both kinds."""
    fitdir = Path(fitdir)
    cfg_path = fitdir / "model_config.json"
    if not fitdir.is_dir():
        raise InputError(Defect(fitdir, None, "not a folder"))
    if not cfg_path.is_file():
        raise InputError(Defect(cfg_path, None, "missing: FITDIR must be the output folder of sepm train or sepm mc"))
    species = json.loads(cfg_path.read_text())["species"]
    for kind, (stem, table, step_col, cost_col, _) in KINDS.items():
        pattern = re.compile(rf"^{stem}_(\d+)_{re.escape(species[0])}Params\.par$")
        steps = sorted(int(m.group(1)) for p in fitdir.iterdir() if (m := pattern.match(p.name)))
        snapshots = [(n, f"{stem}_{n}_") for n in steps
                     if all((fitdir / f"{stem}_{n}_{s}Params.par").is_file() for s in species)]
        end = END_PREFIX[kind]
        if all((fitdir / f"{end}{s}Params.par").is_file() for s in species):
            costs = read_cost(fitdir / table, step_col, cost_col)
            last = int(costs[-1, 0]) if len(costs) else (snapshots[-1][0] + 1 if snapshots else 0)
            if not snapshots or last > snapshots[-1][0]:  # the end state after the last snapshot
                snapshots.append((last, end))
        if snapshots:
            return kind, snapshots, species
    raise InputError(Defect(fitdir, None, "no snapshots: expected epoch_<N>_<Sym>Params.par / final_<Sym>Params.par "
                            "(sepm train) or iter_<N>_<Sym>Params.par / best_<Sym>Params.par (sepm mc)"))


def pick_frames(snapshots: list, max_frames: int | None) -> list:
    """At most ``max_frames`` snapshots, evenly spaced, always keeping the first and the last."""
    if not max_frames or len(snapshots) <= max_frames:
        return list(snapshots)
    if max_frames == 1:
        return [snapshots[-1]]
    keep = np.unique(np.round(np.linspace(0, len(snapshots) - 1, max_frames)).astype(int))
    return [snapshots[i] for i in keep]


def read_cost(path: Path, step_column: str, cost_column: str) -> np.ndarray:
    """(n, 2) rows (step, cost) of a cost table; empty when the file is missing."""
    if not path.is_file():
        return np.zeros((0, 2))
    from .cost import _read

    columns, data = _read(path)
    col = {c: i for i, c in enumerate(columns)}
    if step_column not in col or cost_column not in col:
        raise InputError(Defect(path, None, f"expected columns {step_column!r} and {cost_column!r}, got {columns}"))
    return data[:, [col[step_column], col[cost_column]]] if len(data) else np.zeros((0, 2))


def _read_band_table(path: Path, nbands: int | None):
    data = np.loadtxt(path, ndmin=2)
    if data.shape[1] < 3 or (nbands is not None and data.shape[1] - 2 != nbands):
        raise InputError(Defect(path, None, f"{data.shape[1]} columns; expected kidx, path and "
                                f"{nbands if nbands is not None else 'the'} band energies"))
    return data[:, 1], data[:, 2:]


def load_frames(fitdir, snapshots, kind: str, system: int = 0, bundle=None, device="cpu"):
    """Frame data of every snapshot and the path distance (1/Bohr). Bands come from the saved
    ``<prefix>bands_<X>.dat`` tables when present, otherwise they are recomputed from the snapshot
    (needs ``bundle``)."""
    from ..bands import band_energies, path_distance, system_hamiltonian
    from ..fitting.potential_files import load_potential
    from ..losses import band_rmse
    from ..settings import setting

    fitdir = Path(fitdir)
    _, table, step_col, cost_col, _ = KINDS[kind]
    costs = read_cost(fitdir / table, step_col, cost_col)
    spec = bundle.systems[system] if bundle is not None else None
    stem = snapshots[0][1].split("_")[0]
    missing = [p for _, p in snapshots if not (fitdir / f"{p}bands_{system}.dat").is_file()]
    if missing and spec is None:
        raise InputError(Defect(fitdir / f"{missing[0]}bands_{system}.dat", None,
                                f"missing ({len(missing)} of {len(snapshots)} {stem} snapshots have no band table "
                                "of this system): pass --bundle BUNDLE to recompute the bands from the snapshots"))
    q = torch.linspace(0.0, Q_MAX, N_Q, dtype=torch.float64)
    frames, distance, ham, target = [], None, None, None
    for step, prefix in tqdm(snapshots, unit="frame", desc="movie data", disable=None):
        pp = load_potential(fitdir, prefix, device)[0]
        with torch.no_grad():
            vq = pp.local_form_factor(q.to(device)).cpu().numpy()
        table = fitdir / f"{prefix}bands_{system}.dat"
        if table.is_file():
            path, bands = _read_band_table(table, spec.nbands if spec is not None else None)
            if spec is not None and len(bands) != len(spec.kpoints):
                raise InputError(Defect(table, None, f"{len(bands)} k-points, but system {system} of the bundle "
                                        f"has {len(spec.kpoints)}: is --bundle the bundle this folder was fitted to?"))
        else:
            if ham is None:  # one Hamiltonian (basis, geometry); each snapshot swaps in its potential
                target = pp
                ham = system_hamiltonian(spec, target, device=device)
                memory = setting(bundle.config, "memory_limit_GB")
            target.params, target.local = pp.params, pp.local
            with torch.no_grad():
                bands = band_energies(ham, spec.kpoints, spec.nbands, spec.order_matrix, memory).cpu().numpy()
            path = distance if distance is not None else path_distance(ham.basis.crystal, spec.kpoints)
        distance = path if distance is None else distance
        row = costs[costs[:, 0] == step] if len(costs) else costs
        cost = float(row[-1, 1]) if len(row) else float("nan")
        rmse = float("nan")
        if spec is not None and spec.ref_bands is not None:
            rmse = 1e3 * band_rmse(torch.as_tensor(bands), torch.as_tensor(spec.ref_bands),
                                   torch.as_tensor(spec.kweights), torch.as_tensor(spec.band_weights))
        frames.append(Frame(step, prefix, bands, vq, cost, rmse))
    return frames, np.asarray(distance), costs


def _limits(values, pad=0.05):
    finite = np.concatenate([np.ravel(v) for v in values])
    finite = finite[np.isfinite(finite)]
    lo, hi = float(finite.min()), float(finite.max())
    span = hi - lo or max(abs(hi), 1.0)
    return lo - pad * span, hi + pad * span


class MovieFigure:
    """The three panels with fixed axes; :meth:`draw` sets one frame's data."""

    def __init__(self, frames, distance, costs, species, kind, reference=None, kfrac=None, window=None,
                 title="", labels=None, lattice=None):
        from matplotlib.figure import Figure

        self.frames, self.kind, self.title = frames, kind, title
        self.fig = Figure(figsize=FIGSIZE, dpi=DPI)
        grid = self.fig.add_gridspec(2, 2, width_ratios=(1.25, 1.0), height_ratios=(1.5, 1.0))
        self.ax_bands = self.fig.add_subplot(grid[:, 0])
        self.ax_pot = self.fig.add_subplot(grid[0, 1])
        self.ax_cost = self.fig.add_subplot(grid[1, 1])
        # the k-path with jumps between equivalent points taking no room (as plotting.plot_bands)
        jumps, ticks = path_ticks(distance, kfrac, labels, namer=lattice_namer(lattice)) if kfrac is not None \
            else (None, [])
        x, jumps = collapse_jumps(distance, jumps)
        self._jumps = jumps
        self._x = np.insert(x, jumps, np.nan)
        ax = self.ax_bands
        if reference is not None:
            ax.plot(x, reference, ls="none", marker="o", ms=2.2, color="black")
            ax.plot([], [], ls="none", marker="o", ms=2.2, color="black", label="reference")
        nbands = frames[0].bands.shape[1]
        self.band_lines = ax.plot(self._x, np.full((len(self._x), nbands), np.nan), color="tab:blue", lw=1.2)
        self.band_lines[0].set_label("sepm")
        if kfrac is not None:
            for i, _ in ticks:
                ax.axvline(x[i], color="0.7", lw=0.6)
            ax.set_xticks([x[i] for i, _ in ticks], [name for _, name in ticks], fontsize=8)
        else:
            ax.set_xlabel("k-path (1/Bohr)")
        ax.set_xlim(x[0], x[-1])
        ax.set_ylim(*(window or _limits([f.bands for f in frames] + ([reference] if reference is not None else []))))
        ax.set_ylabel("Energy (eV)")
        ax.legend(loc="upper right", fontsize=8)
        # v(q) per species
        q = np.linspace(0.0, Q_MAX, N_Q)
        self.pot_lines = [self.ax_pot.plot(q, frames[0].vq[:, i], label=s)[0] for i, s in enumerate(species)]
        self.ax_pot.axhline(0.0, color="gray", lw=0.5)
        self.ax_pot.set_xlim(0.0, Q_MAX)
        self.ax_pot.set_ylim(*_limits([f.vq for f in frames]))
        self.ax_pot.set_xlabel("q (1/Bohr)")
        self.ax_pot.set_ylabel("v(q) (Hartree·Bohr³)")
        self.ax_pot.grid(True, alpha=0.3)
        self.ax_pot.legend(fontsize=8)
        # cost history
        label = KINDS[kind][4]
        cost_label = "cost after the step" if kind == "train" else "best cost"
        axc = self.ax_cost
        if len(costs):
            axc.plot(costs[:, 0], costs[:, 1], "-", color="tab:gray", label=cost_label)
            axc.set_xlim(*_limits([costs[:, 0]], 0.02))
        marks = np.array([[f.step, f.cost] for f in frames])
        axc.plot(marks[:, 0], marks[:, 1], "o", ms=3, color="tab:blue", alpha=0.4, label="frames")
        (self.marker,) = axc.plot([np.nan], [np.nan], "o", ms=8, color="tab:red")
        values = np.concatenate([costs[:, 1], marks[:, 1]]) if len(costs) else marks[:, 1]
        values = values[np.isfinite(values)]
        if len(values) and np.all(values > 0) and values.max() > 20 * values.min():
            axc.set_yscale("log")  # only when the cost spans decades (else log ticks are unreadable)
        elif not len(values):
            axc.text(0.5, 0.5, "no cost history", ha="center", va="center", transform=axc.transAxes)
        axc.set_xlabel(label)
        axc.set_ylabel("cost")
        axc.grid(True, which="both", alpha=0.3)
        axc.legend(fontsize=8)
        self.suptitle = self.fig.suptitle("", fontsize=12)
        self.fig.tight_layout(rect=(0, 0, 1, 0.95))

    def draw(self, frame: Frame):
        bands = np.insert(frame.bands, self._jumps, np.nan, axis=0)
        for b, line in enumerate(self.band_lines):
            line.set_ydata(bands[:, b])
        for i, line in enumerate(self.pot_lines):
            line.set_ydata(frame.vq[:, i])
        self.marker.set_data([frame.step], [frame.cost])
        text = f"{KINDS[self.kind][4]} {frame.step}, cost {frame.cost:.6g}"
        if np.isfinite(frame.rmse_meV):
            text += f", RMSE {frame.rmse_meV:.1f} meV"
        self.suptitle.set_text(f"{self.title}: {text}" if self.title else text)


def make_movie(fitdir, out_file, fps: float = 2.0, system: int = 0, fmt: str | None = None,
               max_frames: int | None = None, bundle_dir=None, device="cpu") -> dict:
    """Render the movie of the snapshots in ``fitdir`` to ``out_file``; returns {frames, steps, kind, format}."""
    from matplotlib.animation import FFMpegWriter, PillowWriter

    out_file = Path(out_file)
    fmt = movie_format(out_file, fmt)
    if fps <= 0:
        raise InputError(Defect(out_file, None, f"--fps must be > 0, got {fps}"))
    kind, snapshots, species = find_snapshots(fitdir)
    bundle = None
    if bundle_dir is not None:
        from ..io import read_bundle

        bundle = read_bundle(bundle_dir)
        if system >= len(bundle.systems) or system < 0:
            raise InputError(Defect(Path(bundle_dir), None, f"no system {system} (the bundle has "
                                    f"{len(bundle.systems)})"))
        if sorted(bundle.species) != sorted(species):
            raise InputError(Defect(Path(bundle_dir), None, f"species {bundle.species} differ from those of "
                                    f"{Path(fitdir) / 'model_config.json'} ({species})"))
    else:
        log.info("no --bundle: the bands are drawn without reference dots and k-point labels")
    chosen = pick_frames(snapshots, max_frames)
    log.info("%d %s snapshots in %s; %d frames: %s %s", len(snapshots), KINDS[kind][0], fitdir, len(chosen),
             KINDS[kind][4], " ".join(str(n) for n, _ in chosen))
    frames, distance, costs = load_frames(fitdir, chosen, kind, system, bundle, device)
    spec = bundle.systems[system] if bundle is not None else None
    window = None
    if spec is not None and "BS_plot_CBVB_range" in spec.settings:
        from ..evaluate import plot_window

        window = plot_window(spec.settings, frames[0].bands)
    movie = MovieFigure(frames, distance, costs, species, kind,
                        reference=spec.ref_bands if spec is not None else None,
                        kfrac=spec.kpoints if spec is not None else None, window=window,
                        title=f"{spec.name}" if spec is not None else f"{Path(fitdir).name} system {system}",
                        labels=spec.klabels if spec is not None else None,
                        lattice=spec.lattice if spec is not None else None)
    writer = FFMpegWriter(fps=fps) if fmt == "mp4" else PillowWriter(fps=fps)
    with atomic_path(out_file) as tmp:
        # the writers pick the container from the suffix: render under .gif / .mp4, whatever OUT_FILE's name
        render = tmp if tmp.suffix == f".{fmt}" else tmp.with_name(f"{tmp.name}.{fmt}")
        try:
            with writer.saving(movie.fig, str(render), DPI):
                for frame in tqdm(frames, unit="frame", desc="movie", disable=None):
                    movie.draw(frame)
                    writer.grab_frame()
            if render != tmp:
                os.replace(render, tmp)
        finally:
            if render != tmp:
                render.unlink(missing_ok=True)
    log.info("wrote %s (%s, %d frames at %g fps, %dx%d pixels)", out_file, fmt.upper(), len(frames), fps,
             int(FIGSIZE[0] * DPI), int(FIGSIZE[1] * DPI))
    return {"kind": kind, "format": fmt, "frames": len(frames), "steps": [f.step for f in frames],
            "costs": [f.cost for f in frames], "rmse_meV": [f.rmse_meV for f in frames]}

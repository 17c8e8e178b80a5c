"""Band-structure plots (PNG + PDF)."""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .output import save_figure  # noqa: E402
from .structure.points import k_label, point_name  # noqa: E402

log = logging.getLogger("sepm")

#: Reference energies at or below this (eV) are DeepPseudopot's placeholders for bands a bundle does not give
#: (it writes -100 eV; its own plots skip E <= -50 too): not drawn, and no part of a plot window.
PLACEHOLDER_EV = -50.0


def path_jumps(distance: np.ndarray, factor: float = 4.0) -> np.ndarray:
    """Indices i where the path jumps between points i-1 and i (a step much longer than typical)."""
    steps = np.diff(distance)
    typical = np.median(steps[steps > 0]) if np.any(steps > 0) else 0.0
    return np.nonzero(steps > factor * typical)[0] + 1


def path_corners(kfrac: np.ndarray, tol: float = 1e-6) -> list[int]:
    """Indices where a straight k-path segment ends (direction changes), plus the two ends."""
    steps = np.diff(kfrac, axis=0)
    norms = np.linalg.norm(steps, axis=1)
    unit = steps / np.where(norms > tol, norms, 1.0)[:, None]
    turns = np.linalg.norm(np.diff(unit, axis=0), axis=1) > 1e-4
    small = (norms[1:] < tol) | (norms[:-1] < tol)
    inner = np.nonzero(turns | small)[0] + 1
    return sorted({0, len(kfrac) - 1, *inner.tolist()})


def tick_label(name: str) -> str:
    """A point name for the axis: seekpath-style ``X_1`` becomes X with subscript 1."""
    head, sep, sub = name.partition("_")
    return f"{head}$_{{{sub}}}$" if sep and sub else name


def collapse_jumps(distance: np.ndarray, jumps=None) -> tuple[np.ndarray, np.ndarray]:
    """Plot coordinates of a k-path in which jumps between equivalent points take no room, and the jump rows
    (``jumps``, e.g. from :func:`path_ticks`, which also knows labelled jumps; default :func:`path_jumps`)."""
    jumps = path_jumps(distance) if jumps is None else np.asarray(jumps, dtype=np.int64)
    steps = np.diff(distance, prepend=distance[0])
    steps[jumps] = 0.0
    return np.cumsum(steps), jumps


def lattice_namer(lattice=None):
    """k-point naming function: by the lattice's high-symmetry points when ``lattice`` is given."""
    return k_label if lattice is None else (lambda k: point_name(k, lattice))


def path_ticks(distance: np.ndarray, kfrac: np.ndarray, labels: dict | None = None, namer=k_label):
    """``(jumps, ticks)`` of a k-path: rows where the path jumps, and (row, name) tick marks.

    Without ``labels`` the ticks are the segment corners and every row that ``namer`` names as a
    high-symmetry point (K inside the straight segment X-K-Γ, say); other corners are named by their
    coordinates. With ``labels`` ({row: name}, e.g. from a labelled kpoints file) the ticks are the
    labelled rows; two labelled rows in a row are a jump (a generated path has an interior point on every
    segment). At a jump from row i-1 to row i one tick ``A|B`` is placed (the jump takes no room on the
    axis). When row i is not a named point, B names where its segment starts, one step before row i (a
    path that jumps to an equivalent point and continues from one step past it); when A and B are the
    same point the tick is just ``A``. ``namer(k)`` names an unlabelled row from its fractional coordinates.
    """
    kfrac = np.asarray(kfrac, dtype=np.float64)
    jumps = set(path_jumps(distance).tolist())
    if labels:
        labels = {int(i): str(n) for i, n in labels.items() if 0 <= int(i) < len(distance)}
        jumps |= {i for i in labels if i - 1 in labels and i > 0}
        rows = sorted(set(labels) | jumps)
    else:
        labels = {}
        points = {i for i in range(len(kfrac)) if _is_point(namer(kfrac[i]))}
        rows = sorted(set(path_corners(kfrac)) | jumps | points)

    def name(i):
        return tick_label(labels[i]) if i in labels else namer(kfrac[i])

    def jump_name(i):
        before, after = name(i - 1), name(i)
        if not _is_point(after) and i + 1 < len(kfrac):
            after = namer(2.0 * kfrac[i] - kfrac[i + 1])
        if after == before or not after:
            return before
        return f"{before}|{after}"

    ticks = [(i, jump_name(i) if i in jumps else name(i)) for i in rows if i + 1 not in jumps]
    return np.array(sorted(jumps), dtype=np.int64), ticks


def system_title(system, bundle_path) -> str:
    """A system's name for plot titles: ``GaAs system_0`` (bundle folder and system) for a system with the
    default name, else its own systemName."""
    if system.name == f"system_{system.index}":
        return f"{Path(bundle_path).name} {system.name}"
    return system.name


def _is_point(name: str) -> bool:
    """A tick name that is a high-symmetry point, not coordinates like (1/4,0,1/4) or nothing."""
    return bool(name) and not name.startswith("(")


def plot_bands(stem, distance, bands, kfrac, reference=None, title="", window=None, labels=None, lattice=None,
               vb_index=None, vbm_zero=False):
    """Computed bands (lines) against reference bands (dots). ``window`` = (emin, emax) in eV.

    ``labels``: optional {k index: name} of high-symmetry points for the x axis (see :func:`path_ticks`);
    other corners are named from ``lattice`` (rows in Bohr; Γ, X, L, ... of cubic lattices) when given.
    Reference values at or below :data:`PLACEHOLDER_EV` (DeepPseudopot's -100 eV rows) are not drawn. The
    computed VBM and CBM are marked and the gap given in the legend, the valence band top being band
    ``vb_index`` (0-based, idxVB; default: the band below the highest gap of the reference, else of the
    computed bands); ``vbm_zero`` shifts every energy (the window too) so that the computed VBM is at 0 eV.
    """
    from .analysis.bandfiles import band_edges, detect_vb_index

    distance, kfrac, bands = np.asarray(distance), np.asarray(kfrac), np.asarray(bands)
    if vb_index is None:  # the reference's band slots when there is one (a poor fit's own gaps mislead)
        vb_index = detect_vb_index(bands if reference is None else np.asarray(reference))
    edges = band_edges(bands, vb_index) if vb_index is not None and vb_index + 1 < bands.shape[1] else None
    shift = -edges.vbm if edges is not None and vbm_zero else 0.0
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    jumps, ticks = path_ticks(distance, kfrac, labels, namer=lattice_namer(lattice))
    distance = collapse_jumps(distance, jumps)[0]
    for lo, hi in zip([0, *jumps], [*jumps, len(distance)]):
        ax.plot(distance[lo:hi], bands[lo:hi] + shift, color="tab:blue", lw=1.2)
    if reference is not None:
        ax.plot([], [], color="tab:blue", lw=1.2, label="sepm")
        shown = np.where(np.asarray(reference) > PLACEHOLDER_EV, reference, np.nan)
        ax.plot(distance, shown + shift, ls="none", marker="o", ms=2.2, color="black")
        ax.plot([], [], ls="none", marker="o", ms=2.2, color="black", label="reference")
    if edges is not None:
        _mark_gap(ax, distance, edges, shift, lattice_namer(lattice), kfrac)
    for i, _ in ticks:
        ax.axvline(distance[i], color="0.7", lw=0.6)
    ax.set_xticks([distance[i] for i, _ in ticks])
    names = [name for _, name in ticks]
    ax.set_xticklabels(names, fontsize=10 if all(map(_is_point, names)) else 8)  # coordinates take room
    ax.set_xlim(distance[0], distance[-1])
    if window is not None:
        ax.set_ylim(window[0] + shift, window[1] + shift)
    if vbm_zero and edges is not None:
        ax.axhline(0.0, color="0.5", lw=0.6, ls="--", zorder=0)
    ax.set_ylabel("Energy - VBM (eV)" if shift else "Energy (eV)")
    ax.set_title(title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize=8)
    paths = save_figure(fig, stem)
    plt.close(fig)
    return paths


def _mark_gap(ax, x, edges, shift: float, namer, kfrac):
    """VBM (up triangle) and CBM (down triangle) of the computed bands, the gap in the legend; a CBM at or below
    the VBM (a metal, or idxVB naming the wrong band) is said in the legend and the log instead of a gap."""
    for k, energy, marker, color in ((edges.vbm_k, edges.vbm, "^", "tab:red"),
                                     (edges.cbm_k, edges.cbm, "v", "tab:green")):
        ax.plot([x[k]], [energy + shift], marker=marker, ms=7, color=color, mec="black", ls="none", zorder=5,
                clip_on=False)
    if edges.gap <= 0:
        log.warning("band %d: its top (%.4f eV) is above the next band's bottom (%.4f eV): no gap (a metal, or "
                    "idxVB names the wrong band)", edges.vb_index + 1, edges.vbm, edges.cbm)
        text = f"no gap: CBM {edges.vbm - edges.cbm:.3f} eV below the VBM (band {edges.vb_index + 1})"
    else:
        where = f"{_name(namer, kfrac, edges.vbm_k)}→{_name(namer, kfrac, edges.cbm_k)}"
        text = f"gap {edges.gap:.3f} eV, {'direct' if edges.is_direct else 'indirect'} ({where})"
    ax.plot([], [], ls="none", marker="^", color="tab:red", mec="black", label=text)


def _name(namer, kfrac, i: int) -> str:
    """A high-symmetry point's name, else the k index (k12)."""
    name = namer(kfrac[i])
    return tick_label(name) if _is_point(name) else f"k{i}"

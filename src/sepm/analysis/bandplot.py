"""Overlay plot of band tables of any kind (DeepPseudopot's plot_BS_from_file), with gap annotation.

Each table's path is drawn with jumps between equivalent points collapsed (:func:`sepm.plotting.collapse_jumps`).
The k axis is the path length in 1/Bohr when every table has one and their lengths agree within 2 %;
otherwise each path is normalized to [0, 1] (the axis label says which). For every table with a
valence-band index b the plot marks VBM = max_k E_b and CBM = min_k E_{b+1} and draws an arrow with the
gap Eg = CBM - VBM; ``align='vbm'`` shifts each table so that its VBM is at 0 eV.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..output import save_figure, write_text  # noqa: E402
from ..plotting import collapse_jumps, lattice_namer, path_ticks  # noqa: E402
from .bandfiles import BandTable, band_edges, point_name  # noqa: E402

log = logging.getLogger("sepm")

#: Relative disagreement of path lengths (1/Bohr) above which every path is normalized to [0, 1].
LENGTH_TOLERANCE = 0.02

_STYLES = [dict(ls="-", lw=1.3, marker=None), dict(ls="none", marker="o", ms=2.4), dict(ls="--", lw=1.2, marker=None),
           dict(ls="none", marker="s", ms=2.2), dict(ls=":", lw=1.4, marker=None), dict(ls="none", marker="^", ms=2.4)]


def share_lattice(tables: list[BandTable]) -> None:
    """Tables without a lattice (BerkeleyGW files) take the first other table's, assuming the same crystal:
    eqp's fractional path becomes 1/Bohr, inteqp's Cartesian k-points get fractional coordinates (labels)."""
    donor = next((t for t in tables if t.lattice is not None), None)
    if donor is None:
        return
    for t in tables:
        if t.lattice is not None or t.format not in ("bgw-eqp", "bgw-bandstructure"):
            continue
        t.lattice = donor.lattice
        recip = 2 * np.pi * np.linalg.inv(donor.lattice).T
        if t.format == "bgw-eqp":
            k = t.kfrac @ recip
            t.distance = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(k, axis=0), axis=1))])
            t.distance_unit = "1/Bohr"
        else:
            t.kfrac = t.meta["kcart_1_bohr"] @ donor.lattice.T / (2 * np.pi)
        log.info("%s: lattice of %s used (same crystal assumed)", t.path, donor.path)


def plot_axes(tables: list[BandTable]) -> tuple[list[np.ndarray], str]:
    """x coordinates of every table and the axis label: 1/Bohr if all agree, else normalized to [0, 1]."""
    xs = [collapse_jumps(t.distance)[0] for t in tables]
    lengths = np.array([x[-1] for x in xs])
    same_unit = all(t.distance_unit == "1/Bohr" for t in tables)
    if same_unit and lengths.min() > 0 and np.ptp(lengths) <= LENGTH_TOLERANCE * lengths.max():
        return xs, "k path (1/Bohr)"
    why = "units differ" if not same_unit else f"path lengths differ: {', '.join(f'{v:.4g}' for v in lengths)}"
    log.info("k axis normalized to [0, 1] per table (%s)", why)
    return [x / x[-1] if x[-1] > 0 else x for x in xs], "k path (normalized to [0, 1] per table)"


def _ticks(table: BandTable, x: np.ndarray):
    """Corner positions and names from a table that knows its k-points."""
    k = table.kfrac if table.kfrac is not None else table.meta.get("kcart_2pi_alat", table.meta.get("kcart_1_bohr"))
    if k is None:
        return [], []
    if table.kfrac is not None:
        ticks = path_ticks(table.distance, k, namer=lattice_namer(table.lattice))[1]
    else:  # Cartesian k-points only: name Γ, leave the rest unnamed
        ticks = path_ticks(table.distance, k, namer=lambda kc: "Γ" if np.allclose(kc, 0) else "")[1]
    return [x[i] for i, _ in ticks], [name for _, name in ticks]


def table_summary(table: BandTable, label: str) -> dict:
    """Band edges of one table (eV), with k indices and names; {} entries are None without a VB index."""
    out = {"label": label, "file": str(table.path), "format": table.format, "nk": table.nk, "nbands": table.nbands,
           "vb_band": None if table.vb_index is None else table.vb_index + 1, "vb_source": table.vb_source}
    if table.vb_index is None:
        return out
    e = band_edges(table.energies, table.vb_index)

    def kname(i):
        return point_name(table.kfrac[i], table.lattice) if table.kfrac is not None else f"k{i}"

    out.update(vbm=e.vbm, cbm=e.cbm, gap=e.gap, direct_gap=e.direct_gap, is_direct=e.is_direct, vbm_k=e.vbm_k,
               cbm_k=e.cbm_k, direct_k=e.direct_k, vbm_label=kname(e.vbm_k), cbm_label=kname(e.cbm_k),
               direct_label=kname(e.direct_k))
    return out


def plot_band_files(tables: list[BandTable], stem, labels=None, window=None, align: str = "vbm",
                    title: str = "") -> list[dict]:
    """Overlay ``tables``; write ``stem.png``, ``stem.pdf`` and ``stem.json`` (band edges per table).

    ``window`` = (emin, emax) in eV after alignment; ``align`` is 'vbm' (each table's VBM at 0 eV; tables
    without a valence-band index are left as they are) or 'none'. Returns the per-table summaries."""
    if align not in ("vbm", "none"):
        raise ValueError(f"align must be 'vbm' or 'none', got {align!r}")
    labels = list(labels or [])
    labels += [t.path.name for t in tables[len(labels):]]
    share_lattice(tables)
    xs, xlabel = plot_axes(tables)
    summaries = [table_summary(t, lab) for t, lab in zip(tables, labels)]
    fig, ax = plt.subplots(figsize=(7.0, 5.2))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    emin, emax = np.inf, -np.inf
    for i, (t, x, s) in enumerate(zip(tables, xs, summaries)):
        shift = -s["vbm"] if align == "vbm" and "vbm" in s else 0.0
        s["shift"] = shift
        e = t.energies + shift
        emin, emax = min(emin, e.min()), max(emax, e.max())
        color, style = colors[i % len(colors)], _STYLES[i % len(_STYLES)]
        jumps = collapse_jumps(t.distance)[1]
        for lo, hi in zip([0, *jumps], [*jumps, t.nk]):
            ax.plot(x[lo:hi], e[lo:hi], color=color, **style)
        text = s["label"]
        if "gap" in s:
            kind = "direct" if s["is_direct"] else "indirect"
            text += f": Eg {s['gap']:.3f} eV {kind} ({s['vbm_label']}→{s['cbm_label']})"
            xv, xc = x[s["vbm_k"]], x[s["cbm_k"]]
            yv, yc = s["vbm"] + shift, s["cbm"] + shift
            ax.plot([xv], [yv], marker="^", ms=8, color=color, mec="black", ls="none", zorder=5)
            ax.plot([xc], [yc], marker="v", ms=8, color=color, mec="black", ls="none", zorder=5)
            ax.annotate("", xy=(xc, yc), xytext=(xv, yv),
                        arrowprops=dict(arrowstyle="->", color=color, lw=1.4, shrinkA=4, shrinkB=4), zorder=6)
            ax.annotate(f"{s['gap']:.3f} eV", xy=(0.5 * (xv + xc), 0.5 * (yv + yc)), xytext=(6, 11 * i),
                        textcoords="offset points", color=color, fontsize=8, ha="left", va="center", zorder=7,
                        bbox=dict(fc="white", ec="none", alpha=0.8, pad=1))
        ax.plot([], [], color=color, **{**style, "ms": 5}, label=text)
    positions, names = [], []
    for t, x in zip(tables, xs):
        positions, names = _ticks(t, x)
        if positions:
            break
    for p in positions:
        ax.axvline(p, color="0.75", lw=0.6, zorder=0)
    if positions:
        ax.set_xticks(positions, names, fontsize=9)
    ax.set_xlim(min(x[0] for x in xs), max(x[-1] for x in xs))
    ax.set_ylim(*(window if window is not None else (emin - 0.5, emax + 0.5)))
    if align == "vbm":
        ax.axhline(0.0, color="0.5", lw=0.6, ls="--", zorder=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Energy (eV)" + (", VBM at 0" if align == "vbm" else ""))
    ax.set_title(title or "Band structures")
    ax.legend(loc="best", fontsize=7.5, framealpha=0.85)
    save_figure(fig, stem)
    plt.close(fig)
    write_text(Path(f"{stem}.json"), json.dumps({"k_axis": xlabel, "align": align, "tables": summaries}, indent=2,
                                                     ensure_ascii=False)
               + "\n")
    for s in summaries:
        if "gap" in s:
            log.info("%s: VBM %.4f eV at k%d (%s), CBM %.4f eV at k%d (%s), gap %.4f eV (%s), direct gap %.4f eV "
                     "at k%d (%s)", s["label"], s["vbm"], s["vbm_k"], s["vbm_label"], s["cbm"], s["cbm_k"],
                     s["cbm_label"], s["gap"], "direct" if s["is_direct"] else "indirect", s["direct_gap"],
                     s["direct_k"], s["direct_label"])
        else:
            log.info("%s: no valence-band index (%s); no gap marked", s["label"], s["vb_source"])
    return summaries

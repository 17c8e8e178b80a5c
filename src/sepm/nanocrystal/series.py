r"""The gap against dot size: a table and a plot from the ``dot.json`` records of several radii.

``gap_vs_size.dat`` columns: radius (Bohr), diameter (nm), core atoms, ligands, HOMO, LUMO, gap (eV),
flagged (1 when the dot failed a sanity check of :mod:`.location`, listed in the header); the header
records the bulk VBM, CBM and gap of the same local potential (the first record's reference,
:mod:`.grid_bulk`, and the plane waves at the fit's maxKE). The plot shows the gap against the radius
with the bulk gap dashed (left) and the HOMO and LUMO against the bulk edges (right; dotted: the plane-wave
edges); flagged dots are red crosses; PNG and PDF.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ..constants import BOHR_PER_ANGSTROM
from ..io.jsonfile import read_json
from ..output import save_figure, write_table

log = logging.getLogger("sepm")


#: Keys of a dot.json record that the series reads.
RECORD_KEYS = ("radius_bohr", "n_core", "n_ligands", "homo_ev", "lumo_ev", "gap_ev", "bulk")


def read_records(paths) -> list[dict]:
    """The dot.json records, sorted by radius (each file checked: one line names a missing, damaged or
    foreign one)."""
    records = [read_json(p, "dot.json written by sepm dot", RECORD_KEYS) for p in paths]
    return sorted(records, key=lambda r: r["radius_bohr"])


def _bulk_lines(bulk: dict) -> list[str]:
    """The header lines of the bulk reference: its method (plane waves at maxKE for older or spinor records)
    and, for a grid reference, the plane-wave edges beside it."""
    method = bulk.get("method", f"plane waves, maxKE {bulk.get('maxke', float('nan')):g} Hartree")
    lines = [f"bulk (same potential, {method}): VBM {bulk['vbm']:.6f} eV, CBM {bulk['cbm']:.6f} eV, "
             f"gap {bulk['gap']:.6f} eV"]
    plane = bulk.get("plane_waves")
    if plane:
        lines.append(f"bulk in plane waves at maxKE {plane['maxke']:g} Hartree: VBM {plane['vbm']:.6f} eV, "
                     f"CBM {plane['cbm']:.6f} eV, gap {plane['gap']:.6f} eV")
    return lines


def write_series(stem, records: list[dict], title: str = "") -> list[Path]:
    """``<stem>.dat`` and ``<stem>.png/.pdf`` from dot records (one per radius, one potential)."""
    records = sorted(records, key=lambda r: r["radius_bohr"])
    bulk = records[0]["bulk"]
    radius = np.array([r["radius_bohr"] for r in records])
    diameter_nm = 2.0 * radius / BOHR_PER_ANGSTROM / 10.0
    flags = [r.get("sanity", {}).get("flags", []) for r in records]
    bad = np.array([bool(f) for f in flags])
    data = np.column_stack([radius, diameter_nm, [r["n_core"] for r in records], [r["n_ligands"] for r in records],
                            [r["homo_ev"] for r in records], [r["lumo_ev"] for r in records],
                            [r["gap_ev"] for r in records], bad.astype(int)])
    for r, f in zip(radius, flags):
        if f:
            log.warning("dot R = %g Bohr is FLAGGED unphysical: %s (marked in %s.png)", r, ", ".join(f),
                        Path(stem).name)
    stem = Path(stem)
    write_table(stem.with_suffix(".dat"), ["radius_bohr", "diameter_nm", "n_atoms", "n_ligands", "HOMO_eV",
                                           "LUMO_eV", "gap_eV", "flagged"], data,
                header_lines=["sepm quantum dots: gap against size (" + (
                                  "spinor dots, the fit's SOC/NL terms)" if records[0].get("spinor") else
                                  "spin-free local potential, passivated)"),
                              *_bulk_lines(bulk),
                              *(f"FLAGGED R = {r:g} Bohr: {', '.join(f)}" for r, f in zip(radius, flags) if f)],
                fmt=["%.4f", "%.4f", "%d", "%d", "%.6f", "%.6f", "%.6f", "%d"])
    fig = Figure(figsize=(13.5, 4.4))
    left, right = fig.subplots(1, 2)
    left.plot(radius, data[:, 6], "o-", color="C0", label="dot gap (LUMO − HOMO)")
    if bad.any():
        for ax, columns in ((left, [6]), (right, [4, 5])):
            for j, c in enumerate(columns):
                ax.plot(radius[bad], data[bad, c], "x", color="red", ms=12, mew=2.5, zorder=5,
                        label="unphysical (sanity flags, dot.json)" if j == 0 else None)
    left.axhline(bulk["gap"], color="k", ls="--", lw=1, label=f"bulk gap {bulk['gap']:.3f} eV")
    left.set_ylabel("gap (eV)")
    left.set_title("Gap against size")
    right.plot(radius, data[:, 5], "o-", color="C3", label="LUMO")
    right.plot(radius, data[:, 4], "s-", color="C0", label="HOMO")
    where = " (the dots' grid)" if bulk.get("plane_waves") else ""
    right.axhline(bulk["cbm"], color="C3", ls="--", lw=1, label=f"bulk CBM{where}")
    right.axhline(bulk["vbm"], color="C0", ls="--", lw=1, label=f"bulk VBM{where}")
    if bulk.get("plane_waves"):
        plane = bulk["plane_waves"]
        for edge, color in (("cbm", "C3"), ("vbm", "C0")):
            right.axhline(plane[edge], color=color, ls=":", lw=1, alpha=0.7,
                          label=f"bulk edges, plane waves at maxKE {plane['maxke']:g} Ha" if edge == "cbm" else None)
    right.set_ylabel("energy (eV)")
    right.set_title("Band edges against size")
    for ax in (left, right):
        ax.set_xlabel("radius (Bohr)")
        top = ax.secondary_xaxis("top", functions=(lambda r: 2 * r / BOHR_PER_ANGSTROM / 10,
                                                   lambda d: d * 10 * BOHR_PER_ANGSTROM / 2))
        top.set_xlabel("diameter (nm)")
        lo, hi = ax.get_ylim()
        ax.set_ylim(lo - 0.1 * (hi - lo), hi)  # a strip below the data for the atom counts
        for r, n in zip(radius, data[:, 2]):
            ax.annotate(f"{int(n)}", (r, 0.0), xycoords=("data", "axes fraction"), textcoords="offset points",
                        xytext=(0, 3), ha="center", fontsize=7, color="gray")
        ax.grid(True, alpha=0.3)
        if ax is left:
            ax.legend(fontsize=8)
    right.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))  # outside: the bulk lines stay visible
    if bad.any():
        title = (title or "Passivated quantum dots") + f" — {int(bad.sum())} of {len(bad)} dots FLAGGED unphysical"
    fig.suptitle(title or "Passivated quantum dots (numbers: atoms without ligands)")
    fig.tight_layout()
    return [stem.with_suffix(".dat"), *save_figure(fig, stem)]

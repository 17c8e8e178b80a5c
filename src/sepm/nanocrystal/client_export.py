r"""Client-ready potential files of a fitted potential: ``pot<Sym>.par`` per species and ligand, plus a
sidecar ``nanocrystal_potentials.json`` that records what the files hold and what they leave out.

The files hold the local potential only. Left out, and recorded in the sidecar:

- the long-range tail -a4 erf(gamma r)/r: the client has no such term, and summed over a dot's atoms a
  non-neutral tail (sum of a4 over a formula unit != 0) is a deep spurious well that removes the gap.
  It is included only on request and only when every system it is checked against is neutral;
- spin-orbit (a5) and the l = 1 nonlocal terms (a6, a7): the client has no nonlocal term, and its
  spinor version takes SO strengths from its own input.

The grid is the group's (1024 rows, dr = pi/125 Bohr) unless told otherwise; the transform's
convergence and the decay at the last row (what the client's shift by the last value removes) are
measured and recorded beside the files, never inside them.

Decay guarantee. The client subtracts the last row and takes zero beyond, which changes every atom's
v(q -> 0) by Delta v_s(0) = v_table_s(0) - v_s(0) and shifts every bulk level of a system by
sum_s N_s Delta v_s(0) / Omega (the G = 0 term of the local potential). When max |v| over the last Bohr
exceeds ``DECAY_TOL`` (1e-6 Hartree) the grid is lengthened (same dr, rows doubled, at most the
client's 8192; not with the long-range tail, which never decays); if it decays on none, the files are
written on the first grid with a WARNING in the log and ``"decayed": false`` in the sidecar. The
sidecar and the log state Delta v_s(0) and, for the systems given, the implied level shift in eV (:data:`SHIFT_WARN` and more is a WARNING: the dot's bulk
reference is then not the fit's).

Last row brought to zero. A decayed table still ends at some v_last of up to 1e-6 Hartree, and the
client's subtraction of it does not act alike in a bulk crystal and in a dot: in the bulk every atom
within r_last of a point adds -v_last, every level moves by -(4 pi / 3) r_last^3 v_last N_s / Omega
(-0.36 eV for a default GaAs fit's 4096-row tables, v_last = 6e-7 Hartree at 103 Bohr), while a dot
smaller than r_last holds only its own atoms (a few meV). The dot's bulk reference (the band edges of
these tables) would then sit that far from the dot's own levels, and the ligands calibrated to it move
by as much. So the last Bohr of a decayed table is multiplied by cos^2 from 1 to 0 (:func:`settle`):
the last row is 0, the client subtracts nothing, and v changes by at most DECAY_TOL where it changes.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import torch

from ..constants import HARTREE_EV
from ..crystal import Crystal
from ..errors import Defect, InputError
from ..output import write_text
from ..terms.longrange import long_range_form_factor
from .dot import bulk_edges, bulk_edges_of
from .ligand_calibration import calibrate_ligands
from .ligands import LIGAND_A, LIGAND_B, ligand_tables
from .potfiles import (DEFAULT_DR, DEFAULT_ROWS, MAX_ROWS, RadialTable, pot_path, read_library, tail_value,
                       write_pot_file)
from .radial import LibraryFormFactor, tables_from_form_factor

log = logging.getLogger("sepm")

SIDECAR = "nanocrystal_potentials.json"
#: max |v| over the last Bohr of a table above which the export lengthens the grid, then warns (Hartree).
DECAY_TOL = 1e-6
#: |implied bulk-level shift| (eV) from which the log warns.
SHIFT_WARN = 0.02
#: |sum of a4| per formula unit below which a tail counts as charge-neutral.
NEUTRAL_TOL = 1e-8


def tail_charge(a4: dict[str, float], composition: dict[str, int]) -> float:
    """sum over the atoms of one cell of a4: zero for a charge-neutral long-range tail."""
    return float(sum(a4[s] * n for s, n in composition.items()))


def settle(table: RadialTable, width: float = 1.0) -> RadialTable:
    """``table`` with its last ``width`` Bohr multiplied by cos^2(pi x / 2) = (1 + cos pi x) / 2, x from 0 to 1:
    the last row is exactly 0."""
    x = np.clip((table.r - (table.rmax - width)) / width, 0.0, 1.0)
    return dataclasses.replace(table, v=table.v * 0.5 * (1.0 + np.cos(np.pi * x)))


def decayed_tables(vq, species, rows: int, dr: float):
    """Tables on the shortest grid of ``rows`` x 2^k rows (at most MAX_ROWS) whose last Bohr is within
    DECAY_TOL of zero, settled (:func:`settle`), else on ``rows`` rows as they are (a longer grid of a tail
    that never decays only multiplies the client's shift by r_last^3): (tables, transform record, rows)."""
    first, n = None, rows
    while True:
        tables, transform = tables_from_form_factor(vq, species, n, dr)
        first = first or (tables, transform, n)
        if max(tail_value(t) for t in tables.values()) <= DECAY_TOL:
            return {s: settle(t) for s, t in tables.items()}, transform, n
        if n >= MAX_ROWS:
            log.info("v(r) has not decayed to %.0e Hartree on any grid up to %d rows: keeping %d rows", DECAY_TOL,
                     MAX_ROWS, rows)
            return first
        log.info("v(r) has not decayed to %.0e Hartree at r = %.2f Bohr (%d rows): trying %d rows", DECAY_TOL,
                 dr * (n - 1), n, min(2 * n, MAX_ROWS))
        n = min(2 * n, MAX_ROWS)


def level_shift(vq, tables: dict, species, cells: dict[str, tuple[dict[str, int], float]]) -> dict:
    """Delta v_s(0) (Hartree Bohr^3) of the client's convention and the implied bulk-level shift (eV) of every
    system of ``cells`` (name -> (atom counts per species, cell volume in Bohr^3))."""
    zero = torch.zeros(1, dtype=torch.float64)
    with torch.no_grad():
        dv0 = (LibraryFormFactor(tables, species)(zero) - torch.as_tensor(vq(zero), dtype=torch.float64).cpu())[0]
    dv0 = {s: float(v) for s, v in zip(species, dv0)}
    shifts = {name: sum(n * dv0[s] for s, n in counts.items()) / volume * HARTREE_EV
              for name, (counts, volume) in cells.items()}
    return {"delta_v0_hartree_bohr3": dv0, "bulk_level_shift_ev": shifts,
            "formula": "client tables: v(r) - v(r_last) on [0, r_last], 0 beyond; Delta v_s(0) = v_table_s(0) - "
                       "v_s(0); every bulk level moves by sum_s N_s Delta v_s(0) / Omega"}


def export_for_client(outdir, pseudopotential, source: str = "", rows: int = DEFAULT_ROWS, dr: float = DEFAULT_DR,
                      include_long_range: bool = False, compositions: dict[str, dict[str, int]] | None = None,
                      write_ligands: bool = True, volumes: dict[str, float] | None = None,
                      ligand_reference=None, system=None, user_ligands=None) -> dict:
    """Write ``pot<Sym>.par`` of every species (and the ligands P1-P4) of ``pseudopotential`` to ``outdir``.

    ``compositions`` maps a system name to its atom counts per species; with ``include_long_range`` the
    tail is added only if every composition is neutral (else ``InputError``). ``volumes`` (system name ->
    cell volume, Bohr^3) give the implied bulk-level shift of those systems. ``rows`` is the shortest grid
    tried (see the module's decay guarantee). With ``ligand_reference`` (v(q) of the library the client's
    ligands were tuned with, ``species`` order) and a bundle ``system`` the P1/P2 amplitudes are calibrated
    to the bulk band edges of the written tables against the reference's (:mod:`.ligand_calibration`).
    A ligand file ``pot<P>.par`` in the folder ``user_ligands`` wins: it is copied unchanged. Returns the
    sidecar record.
    """
    if not 2 <= rows <= MAX_ROWS or dr <= 0:
        raise ValueError(f"grid of {rows} rows, dr = {dr}: the client reads 2..{MAX_ROWS} rows, dr > 0")
    if user_ligands is not None and not Path(user_ligands).is_dir():
        raise InputError(Defect(Path(user_ligands), None, "not a folder: name the folder of your potP1..potP4.par"))
    yours = [s for s in LIGAND_A if write_ligands and user_ligands and pot_path(user_ligands, s).is_file()]
    if user_ligands is not None and not yours:
        log.warning("%s holds none of %s: every ligand is the Gaussian", user_ligands,
                    ", ".join(f"pot{s}.par" for s in LIGAND_A))
    read_library(Path(user_ligands or "."), yours)  # a malformed file of yours: one clear line, before any work
    pp = pseudopotential
    species = list(pp.species)
    a4 = {s: float(v) for s, v in zip(species, pp.params[:, 4].detach().cpu().numpy())}
    charges = {name: tail_charge(a4, comp) for name, comp in (compositions or {}).items()}
    neutral = bool(charges) and all(abs(c) < NEUTRAL_TOL for c in charges.values())
    if include_long_range and not neutral:
        detail = "; ".join(f"{name}: sum of a4 = {c:+.6g}" for name, c in charges.items()) or "no system given"
        raise InputError(Defect(Path(source or "."), None, "refusing to include the long-range tail in the "
                                "nanocrystal files: it is not charge-neutral (" + detail + "); summed over a dot's "
                                "atoms it makes a deep spurious well. Export without it (the default)."))

    def vq(q):
        v = pp.local_form_factor(q)
        return v + long_range_form_factor(q, pp.params[:, 4], pp.lr_gamma) if include_long_range else v

    # A long-range tail is a 1/r tail by design (neutral only in the sum over atoms): no grid makes it decay.
    tables, transform, rows = (decayed_tables(vq, species, rows, dr) if not include_long_range else
                               (*tables_from_form_factor(vq, species, rows, dr), rows))
    cells = {name: (comp, volumes[name]) for name, comp in (compositions or {}).items() if name in (volumes or {})}
    shift = level_shift(vq, tables, species, cells)
    outdir = Path(outdir)
    files, decay = {}, {}
    for s, table in tables.items():
        files[s] = write_pot_file(pot_path(outdir, s), table).name
        decay[s] = dict(max_abs_last_bohr=tail_value(table), last_row=float(table.v[-1]))
        if decay[s]["max_abs_last_bohr"] > DECAY_TOL:
            log.warning("pot%s.par: v(r) has not decayed: |v| reaches %.2e Hartree within 1 Bohr of the last row "
                        "(r = %.2f Bohr, %d rows, the client's most is %d; target %.0e). The client subtracts the "
                        "last value and cuts there, which moves v(q->0) by %+.4g Hartree Bohr^3: the dots will not "
                        "see the fitted bulk levels (fit with penalize_tail_lambda > 0)", s,
                        decay[s]["max_abs_last_bohr"], table.rmax, rows, MAX_ROWS, DECAY_TOL,
                        shift["delta_v0_hartree_bohr3"][s])
    for name, ev in shift["bulk_level_shift_ev"].items():
        (log.warning if abs(ev) >= SHIFT_WARN else log.info)(
            "%s: the client's cut of these tables shifts every bulk level by %+.4f eV (from Delta v(0) %s Hartree "
            "Bohr^3)%s", name, ev, " ".join(f"{s} {v:+.3g}" for s, v in shift["delta_v0_hartree_bohr3"].items()),
            "" if abs(ev) < SHIFT_WARN else f": more than {SHIFT_WARN} eV between the fit's bulk levels and the "
                                            "client's")
    calibration = None
    if write_ligands and ligand_reference is not None:
        with torch.no_grad():
            edges, reference = bulk_edges(system, tables, species), bulk_edges_of(system, ligand_reference, species)
        calibration = calibrate_ligands(edges, reference)
        log.info("ligands calibrated to the bulk band edges of these tables (VBM %.4f, CBM %.4f eV) against the "
                 "reference's (VBM %.4f, CBM %.4f eV): %s", *(e[k] * HARTREE_EV for e in (edges, reference)
                                                             for k in ("vbm", "cbm")), ", ".join(
            f"{s} a = {calibration['amplitudes'][s]:+.4f} ({d:+.4f}) Hartree" for s, d in calibration["shift"].items()))
    amplitudes = calibration["amplitudes"] if calibration else LIGAND_A
    ligands = {}
    if write_ligands:
        for s, table in ligand_tables(rows, dr, amplitudes).items():
            if s in yours:
                files[s] = shutil.copyfile(pot_path(user_ligands, s), pot_path(outdir, s)).name
                ligands[s] = {"file": str(pot_path(user_ligands, s)), "form": "your file, copied unchanged"}
                log.info("ligand %s: your file %s, copied unchanged (it wins over the Gaussian a = %+.4f Hartree)", s,
                         ligands[s]["file"], amplitudes[s])
            else:
                files[s] = write_pot_file(pot_path(outdir, s), table).name
                ligands[s] = {"a_hartree": amplitudes[s], "b_bohr2": LIGAND_B, "form": "a exp(-r^2/b)"}
    record = {
        "source": source,
        "format": "client pot<Sym>.par: two columns 'r v' (Bohr, Hartree), no header, uniform r from 0",
        "species": species,
        "files": files,
        "grid": {"rows": rows, "dr_bohr": dr, "rmax_bohr": dr * (rows - 1)},
        "transform": {"formula": "v(r) = 1/(2 pi^2) int_0^qmax q^2 v(q) j0(q r) dq",
                      "qmax": transform["qmax"], "nq": transform["nq"], "tol_hartree": transform["tol"],
                      "max_change_hartree": transform["max_change"], "converged": transform["converged"]},
        "decay": decay,
        "decay_tol_hartree": DECAY_TOL,
        "decayed": all(d["max_abs_last_bohr"] <= DECAY_TOL for d in decay.values()),
        "settled": all(d["last_row"] == 0.0 for d in decay.values()),  # last Bohr x cos^2: the client subtracts 0
        "level_shift": shift,
        "long_range": {
            "included": include_long_range, "a4": a4, "gamma": float(pp.lr_gamma),
            "sum_a4_per_system": charges, "neutral": neutral,
            "why": ("included on request; neutral in every system" if include_long_range else
                    "left out: the client has no long-range term, and a non-neutral tail summed over a dot's "
                    "atoms is a spurious well"),
        },
        "left_out": {
            "spin_orbit_a5": {s: float(p[5]) for s, p in zip(species, pp.params.detach().cpu().numpy())},
            "nonlocal_a6_a7": {s: [float(p[6]), float(p[7])] for s, p in zip(species, pp.params.detach().cpu().numpy())},
            "soc": bool(pp.soc), "nonlocal": bool(pp.nonlocal_),   # whether the fit uses them (sepm dot does)
            "why": "local potential only: the client has no nonlocal term and its spinor version takes SO "
                   "strengths from its own input",
        },
        "ligands": ligands,
        "ligand_calibration": calibration or "none: the client's amplitudes (tuned with the group's library)",
    }
    write_text(outdir / SIDECAR, json.dumps(record, indent=2) + "\n")
    dropped = []
    for s in species:
        a5, (a6, a7) = record["left_out"]["spin_orbit_a5"][s], record["left_out"]["nonlocal_a6_a7"][s]
        if a5 or a6 or a7:
            dropped.append(f"{s}: spin-orbit a5 = {a5:.6g}" + (f", nonlocal a6 = {a6:.6g}, a7 = {a7:.6g}" if a6 or a7
                                                               else ""))
    if dropped:
        log.warning("nanocrystal files: local potential only, left out %s (the client has no nonlocal term; its "
                    "spinor version takes the SO strengths from its own input)", "; ".join(dropped))
    log.info("nanocrystal files: %s in %s (%d rows, dr %.6g Bohr; transform max change %.1e Hartree; long-range "
             "tail %s)", " ".join(files.values()), outdir, rows, dr, transform["max_change"],
             "included" if include_long_range else "left out")
    return record


def volumes_of(bundle) -> dict[str, float]:
    """Cell volume (Bohr^3) of every system of a bundle, keyed 'system_X'."""
    return {f"system_{i}": float(Crystal.from_system(system).volume) for i, system in enumerate(bundle.systems)}


def compositions_of(bundle) -> dict[str, dict[str, int]]:
    """Atom counts per species of every system of a bundle, keyed 'system_X'."""
    out = {}
    for i, system in enumerate(bundle.systems):
        symbols, counts = np.unique(np.asarray(system.atom_species), return_counts=True)
        out[f"system_{i}"] = {str(s): int(n) for s, n in zip(symbols, counts)}
    return out


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
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from ..errors import Defect, InputError
from ..output import write_text
from ..terms.longrange import long_range_form_factor
from .ligands import LIGAND_A, LIGAND_B, ligand_tables
from .potfiles import DEFAULT_DR, DEFAULT_ROWS, MAX_ROWS, pot_path, tail_value, write_pot_file
from .radial import tables_from_form_factor

log = logging.getLogger("sepm")

SIDECAR = "nanocrystal_potentials.json"
#: max |v| over the last Bohr of a table above which the export says the potential has not decayed.
DECAY_TOL = 1e-4
#: |sum of a4| per formula unit below which a tail counts as charge-neutral.
NEUTRAL_TOL = 1e-8


def tail_charge(a4: dict[str, float], composition: dict[str, int]) -> float:
    """sum over the atoms of one cell of a4: zero for a charge-neutral long-range tail."""
    return float(sum(a4[s] * n for s, n in composition.items()))


def export_for_client(outdir, pseudopotential, source: str = "", rows: int = DEFAULT_ROWS, dr: float = DEFAULT_DR,
                      include_long_range: bool = False, compositions: dict[str, dict[str, int]] | None = None,
                      write_ligands: bool = True) -> dict:
    """Write ``pot<Sym>.par`` of every species (and the ligands P1-P4) of ``pseudopotential`` to ``outdir``.

    ``compositions`` maps a system name to its atom counts per species; with ``include_long_range`` the
    tail is added only if every composition is neutral (else ``InputError``). Returns the sidecar record.
    """
    if not 2 <= rows <= MAX_ROWS or dr <= 0:
        raise ValueError(f"grid of {rows} rows, dr = {dr}: the client reads 2..{MAX_ROWS} rows, dr > 0")
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

    tables, transform = tables_from_form_factor(vq, species, rows, dr)
    outdir = Path(outdir)
    files, decay = {}, {}
    for s, table in tables.items():
        files[s] = write_pot_file(pot_path(outdir, s), table).name
        decay[s] = dict(max_abs_last_bohr=tail_value(table), last_row=float(table.v[-1]))
        if decay[s]["max_abs_last_bohr"] > DECAY_TOL:
            log.warning("pot%s.par: |v| reaches %.2e Hartree within 1 Bohr of the last row (r = %.2f Bohr); the "
                        "client subtracts the last value and cuts there: use more rows or a larger dr",
                        s, decay[s]["max_abs_last_bohr"], table.rmax)
    if write_ligands:
        for s, table in ligand_tables(rows, dr).items():
            files[s] = write_pot_file(pot_path(outdir, s), table).name
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
        "decayed": all(d["max_abs_last_bohr"] <= DECAY_TOL for d in decay.values()),
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
            "why": "local potential only: the client has no nonlocal term and its spinor version takes SO "
                   "strengths from its own input",
        },
        "ligands": ({s: {"a_hartree": a, "b_bohr2": LIGAND_B, "form": "a exp(-r^2/b)"} for s, a in LIGAND_A.items()}
                    if write_ligands else {}),
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


def compositions_of(bundle) -> dict[str, dict[str, int]]:
    """Atom counts per species of every system of a bundle, keyed 'system_X'."""
    out = {}
    for i, system in enumerate(bundle.systems):
        symbols, counts = np.unique(np.asarray(system.atom_species), return_counts=True)
        out[f"system_{i}"] = {str(s): int(n) for s, n in zip(symbols, counts)}
    return out


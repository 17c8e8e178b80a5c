r"""One spinor quantum dot end to end: any structure, the fit's local tables plus its SOC/NL terms.

The potential: the exported radial tables (``pot<Sym>.par``, ligands included) as the local part, and the
spin-orbit (a5) and nonlocal (a6, a7) coefficients per species that the export's sidecar carries
(``nanocrystal_potentials.json``, ``left_out``), switched on as the fit had them (:func:`sidecar_terms`).
The bulk edges are found in the fit's basis and recomputed at their k-points in the dot's (plane waves up
to its kinetic cap, :func:`.bulk_reference.edges_in_dot_basis`); the dot is compared with the latter.
That reference is not exactly the dot's Hamiltonian on the bulk, and a potential whose v(r) has not decayed
within its tables shifts a small dot against the bulk. For the shipped CsPbI3 checkpoint the first is 5 meV
(VBM) and 83 meV (CBM), the second ~0.1 eV on a 2-cell cube (``bench/dot_cube_reference.py``): the
edge-against-bulk flags are no sharper than that.
The Hamiltonian is :func:`.spinor.dot_hamiltonian` (complex two-component states, atom-centred
projectors), its states near the bulk edges are found by the folded-spectrum LOBPCG (:func:`.solver.
edge_states`, started as spin-free dots are: coarse grid, complex64 first) and the bulk edges are those
of the same terms. Every level is a Kramers pair; ``n_valence`` and
``n_conduction`` count pairs. The HOMO index is the electron count's (:mod:`.structure`): N_e - 1.

Files (``outdir``): ``dot.xyz`` (the atoms, Angstrom, any species), ``dot.json``, ``levels.dat``,
``homo.cube`` / ``lumo.cube`` (|psi_up|^2 + |psi_down|^2 in 1/Bohr^3, averaged over the Kramers pair).
The sanity flags of :mod:`.location` apply unchanged, with the spin-summed density; a flagged dot's gap
is a WARNING, never reported as a confinement gap.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..analysis.volumetric import atomic_number, write_cube
from ..constants import BOHR_PER_ANGSTROM, HARTREE_EV, N_PARAMS
from ..errors import Defect, InputError
from ..output import write_table, write_text
from ..progress import Progress
from ..pseudopotential import Pseudopotential
from .bulk_reference import bulk_band_edges, edges_in_dot_basis
from .grid import CUT_TOL, VACUUM, DotGrid, centred
from .hamiltonian import KINETIC_CAP
from .location import REGIONS, grid_regions, location_weights, sanity_flags, surface_volume_share
from .projectors import K_MAX
from .radial import LibraryFormFactor
from .solver import DEGENERACY, SHIFT, TOL, edge_states
from .spinor import dot_hamiltonian
from .threads import choose_threads, free_hamiltonian

log = logging.getLogger("sepm")

#: Bulk edges moving more than this (eV) between the fit's basis and the dot's are a WARNING.
BASIS_WARN = 0.05
#: What a spinor dot writes, dot.json (its completion record) last.
SPINOR_DOT_FILES = ("dot.xyz", "homo.cube", "lumo.cube", "levels.dat", "dot.json")


@dataclass
class SpinorDotSettings:
    """Everything that defines one spinor dot besides the structure and the potential. ``spacing``: 0.5
    Bohr resolves the 0.7-Bohr SOC Gaussian (projector error 1.6e-3 relative, :mod:`.projectors`)."""

    spacing: float = 0.5
    vacuum: float = VACUUM
    n_valence: int = 2
    n_conduction: int = 2
    tol: float = TOL
    kinetic_cap: float = KINETIC_CAP
    cut_tol: float = CUT_TOL
    shift: float = SHIFT
    max_iter: int = 2000
    seed: int = 0
    k_max: float = K_MAX


def sidecar_terms(folder) -> tuple[dict[str, np.ndarray], bool, bool]:
    """({species: [a5, a6, a7]}, soc, nonlocal) from ``folder``/nanocrystal_potentials.json. A sidecar
    without the switches (written before they were recorded) counts a non-zero coefficient as on."""
    from .client_export import SIDECAR

    path = Path(folder) / SIDECAR
    try:
        left = json.loads(path.read_text())["left_out"]
        a5, nl = left["spin_orbit_a5"], left["nonlocal_a6_a7"]
        coeffs = {s: np.array([a5[s], *nl[s]], dtype=np.float64) for s in a5}
    except FileNotFoundError:
        raise InputError(Defect(path, None, "missing: the export's sidecar carries the SOC/NL coefficients "
                                "(sepm export --nanocrystal)")) from None
    except (ValueError, KeyError, TypeError) as err:
        raise InputError(Defect(path, None, f"no per-species 'left_out' spin_orbit_a5 / nonlocal_a6_a7 ({err})")) \
            from None
    any_soc = any(c[0] != 0 for c in coeffs.values())
    any_nl = any(c[1] != 0 or c[2] != 0 for c in coeffs.values())
    return coeffs, bool(left.get("soc", any_soc)), bool(left.get("nonlocal", any_nl))


def dot_pseudopotential(tables: dict, coeffs: dict[str, np.ndarray], soc: bool, nonlocal_: bool) -> Pseudopotential:
    """The dot's potential as a Pseudopotential: local part the tables, a5-a7 the sidecar's."""
    species = tuple(sorted(coeffs))
    params = torch.zeros((len(species), N_PARAMS), dtype=torch.float64)
    params[:, 5:8] = torch.as_tensor(np.stack([coeffs[s] for s in species]))
    return Pseudopotential(species, params, local=LibraryFormFactor(tables, species), soc=soc, nonlocal_=nonlocal_,
                           long_range=False)


def _side(H, sigma, n_want, mid, conduction, s: SpinorDotSettings):
    label = "conduction" if conduction else "valence"
    start, applications = time.perf_counter(), H.applications
    progress = Progress(f"spinor dot {label} states", "iteration")

    def report(it, e, res):
        progress.update(it, f"largest residual {float(res.max()):.1e} Ha (tolerance {s.tol:.0e})")

    levels, side, tried = edge_states(H, sigma, n_want, mid, conduction, tol=s.tol, max_iter=s.max_iter,
                                      shift=s.shift, seed=s.seed, progress=report)
    seconds = time.perf_counter() - start
    if not levels.converged:
        log.warning("%s states near %.4f eV: not converged to %.1e Hartree in %d iterations (largest residual "
                    "%.1e)", label, tried[-1] * HARTREE_EV, s.tol, levels.iterations, levels.residuals.max())
    used = H.applications - applications
    log.info("%s states near %.4f eV: %d iterations, %d H applications (%.0f per state), %.1f s", label,
             tried[-1] * HARTREE_EV, levels.iterations, used, used / max(1, len(levels.energies)), seconds)
    return levels, side, dict(reference_ev=[x * HARTREE_EV for x in tried], iterations=levels.iterations,
                              applications=used, applications_per_state=used / max(1, len(levels.energies)),
                              seconds=seconds, converged=levels.converged)


def _density(vectors: torch.Tensor, grid: DotGrid) -> np.ndarray:
    """|psi_up|^2 + |psi_down|^2 per grid point of every row of (m, 2N) spinors: (m, N)."""
    v = vectors.reshape(len(vectors), 2, -1).abs() ** 2
    return v.sum(1).cpu().numpy()


def run_spinor_dot(structure, system, pseudopotential: Pseudopotential, tables: dict, settings: SpinorDotSettings,
                   outdir, size: dict, device="cpu", source: str = "") -> dict:
    """Compute one spinor dot: ``structure`` (:class:`.structure.DotStructure`), ``system`` the bulk crystal
    of the references, ``size`` what the series plots ({"radius_bohr": .., and e.g. "cells", "edge_bohr"})."""
    outdir = Path(outdir)
    symbols, positions = structure.symbols, centred(structure.positions)
    missing = sorted(set(symbols) - set(tables))
    if missing:
        raise ValueError(f"no radial table for {', '.join(missing)} (pot<Sym>.par in the potential folder)")
    homo_index = structure.homo_index(spinor=True)
    lines = [str(len(symbols)), f"sepm spinor dot: {' '.join(f'{s} {n}' for s, n in structure.counts.items())}"]
    lines += [f"{s} {x:.8f} {y:.8f} {z:.8f}" for s, (x, y, z) in zip(symbols, positions / BOHR_PER_ANGSTROM)]
    write_text(outdir / "dot.xyz", "\n".join(lines) + "\n")
    log.info("spinor dot %s: %s; %d valence electrons, HOMO index %d (spinor levels)", size,
             " ".join(f"{s} {n}" for s, n in structure.counts.items()), structure.n_electrons, homo_index)
    s = settings
    grid = DotGrid.around(positions, s.spacing, s.vacuum)
    threads = choose_threads(free_hamiltonian(grid, s.kinetic_cap, device), device)[1]
    fit_edges = bulk_band_edges(system, pseudopotential, tables, structure.valence, device)
    edges = edges_in_dot_basis(system, pseudopotential, tables, fit_edges, s.kinetic_cap, structure.valence, device)
    for name, e in (("fit's basis", fit_edges), ("dot's basis", edges)):
        log.info("bulk edges, %s (same local tables, SOC %s, NL %s, maxKE %g): VBM %.4f eV at %s, CBM %.4f eV at %s, "
                 "gap %.4f eV", name, "on" if e["soc"] else "off", "on" if e["nonlocal_"] else "off", e["maxke"],
                 e["vbm"] * HARTREE_EV, e["k_vbm"], e["cbm"] * HARTREE_EV, e["k_cbm"], e["gap"] * HARTREE_EV)
    moved = max(abs(edges["vbm"] - fit_edges["vbm"]), abs(edges["cbm"] - fit_edges["cbm"])) * HARTREE_EV
    if moved > BASIS_WARN:
        log.warning("the bulk edges move by up to %.3f eV from the fit's basis (maxKE %g) to the dot's (%g Hartree): "
                    "the potential's high-q part, which the fit never saw, acts in the dot; its levels are compared "
                    "with the dot basis's edges", moved, fit_edges["maxke"], s.kinetic_cap)
    t0 = time.perf_counter()
    H = dot_hamiltonian(grid, symbols, positions, tables, pseudopotential, s.k_max, s.kinetic_cap, s.cut_tol, device)
    t_build = time.perf_counter() - t0
    probe = H.smooth_random(4, 1)
    t0 = time.perf_counter()
    H.apply(probe)
    t_apply = (time.perf_counter() - t0) / len(probe)
    H.applications = 0
    projectors = H.projectors.record if H.projectors is not None else None
    log.info("grid %s, spacing %s Bohr; Hamiltonian built in %.1f s (projectors: %s); one spinor application %.3g s",
             "x".join(map(str, grid.shape)), " ".join(f"{h:.3f}" for h in grid.spacing), t_build,
             projectors["species"] if projectors else "none: a5 = a6 = a7 = 0", t_apply)
    mid = 0.5 * (edges["vbm"] + edges["cbm"])
    val, vb, val_run = _side(H, edges["vbm"], 2 * s.n_valence, mid, False, s)
    con, cb, con_run = _side(H, edges["cbm"], 2 * s.n_conduction, mid, True, s)
    homo, lumo = float(val.energies[vb].max()), float(con.energies[cb].min())
    regions = grid_regions(grid, positions, structure.n_core, structure.bond_length, structure.surface)
    where = []
    for levels, mask in ((val, vb), (con, cb)):
        weights = location_weights(np.sqrt(_density(levels.vectors[mask], grid)), regions)
        energies = levels.energies[mask].cpu().numpy()
        for e in energies:
            pick = np.abs(energies - e) < DEGENERACY
            where.append((float(e), dict(zip(REGIONS, weights[pick].mean(axis=0).tolist()))))

    def location(energy):
        return min(where, key=lambda item: abs(item[0] - energy))[1]

    edge_where = {"homo": location(homo), "lumo": location(lumo)}
    flags = sanity_flags(homo, lumo, edges["vbm"], edges["cbm"], edge_where, surface_volume_share(regions),
                         {"valence": val_run["converged"], "conduction": con_run["converged"]})
    box = np.diag(2.0 * np.asarray(grid.half_width))
    for name, levels, energy in (("homo", val, homo), ("lumo", con, lumo)):
        pick = (levels.energies - energy).abs() < DEGENERACY
        density = _density(levels.vectors[pick], grid).mean(axis=0).reshape(grid.shape) / grid.volume_element
        write_cube(outdir / f"{name}.cube", density, box, [atomic_number(x) for x in symbols], positions - grid.origin,
                   comment=f"sepm spinor dot: {name.upper()} |psi_up|^2 + |psi_down|^2 (1/Bohr^3) at "
                           f"{energy * HARTREE_EV:.6f} eV")
    ev, rv = val.energies[vb].flip(0).tolist(), val.residuals[vb].flip(0).tolist()
    ec, rc = con.energies[cb].tolist(), con.residuals[cb].tolist()
    rows = sorted([(homo_index - i, e, r, 0) for i, (e, r) in enumerate(zip(ev, rv))] +
                  [(homo_index + 1 + i, e, r, 1) for i, (e, r) in enumerate(zip(ec, rc))])
    write_table(outdir / "levels.dat", ["index", "E_eV", "E_hartree", "residual_hartree", "edge"],
                np.array([(i, e * HARTREE_EV, e, r, x) for i, e, r, x in rows]),
                header_lines=["sepm spinor dot: levels near the gap (Kramers pairs); index 0-based from the electron "
                              f"count (HOMO = N_e - 1 = {homo_index})",
                              "residual = ||H psi - E psi|| (Hartree); edge 0 = valence, 1 = conduction"],
                fmt=["%d", "%.6f", "%.9f", "%.2e", "%d"])
    n_lig = len(symbols) - structure.n_core
    record = {
        "source": source, **size, "spinor": True, "structure": structure.notes, "atoms": structure.counts,
        "n_core": structure.n_core, "n_ligands": n_lig, "valence_electrons": structure.valence,
        "n_electrons": structure.n_electrons, "homo_index": homo_index,
        "homo_ev": homo * HARTREE_EV, "lumo_ev": lumo * HARTREE_EV, "gap_ev": (lumo - homo) * HARTREE_EV,
        "bulk": {k: (v * HARTREE_EV if k in ("vbm", "cbm", "gap") else v) for k, v in edges.items()},
        "bulk_fit_basis": {k: (v * HARTREE_EV if k in ("vbm", "cbm", "gap") else v) for k, v in fit_edges.items()},
        "terms": {"soc": bool(pseudopotential.soc), "nonlocal": bool(pseudopotential.nonlocal_),
                  "a5_a6_a7": {sp: p[5:8].tolist() for sp, p in zip(pseudopotential.species,
                                                                     pseudopotential.params.cpu().numpy())},
                  "projectors": projectors},
        "levels": [dict(index=int(i), energy_ev=e * HARTREE_EV, residual_hartree=r,
                        edge="conduction" if x else "valence", location=location(e)) for i, e, r, x in rows],
        "sanity": {"flags": flags, "ok": not flags, "homo_location": edge_where["homo"],
                   "lumo_location": edge_where["lumo"], "surface_volume_share": surface_volume_share(regions)},
        "settings": asdict(s),
        "grid": {"shape": list(grid.shape), "spacing_bohr": grid.spacing.tolist(),
                 "half_width_bohr": list(grid.half_width)},
        "solver": {"method": f"{val.method}; complex spinors", "valence": val_run, "conduction": con_run,
                   "seconds_hamiltonian": t_build, "seconds_per_application": t_apply, "device": str(device),
                   **threads},
    }
    write_text(outdir / "dot.json", json.dumps(record, indent=2) + "\n")
    log.info("spinor dot %s: HOMO %.4f eV, LUMO %.4f eV, gap %.4f eV (bulk %.4f eV); HOMO weights %s; LUMO weights %s",
             size, record["homo_ev"], record["lumo_ev"], record["gap_ev"], record["bulk"]["gap"],
             *(" ".join(f"{k} {v:.2f}" for k, v in edge_where[e].items()) for e in ("homo", "lumo")))
    if flags:
        log.warning("spinor dot %s: UNPHYSICAL %s (HOMO %.4f vs bulk VBM %.4f eV, LUMO %.4f vs bulk CBM %.4f eV): "
                    "this gap is not a confinement gap of the bulk material", size, ", ".join(flags),
                    record["homo_ev"], record["bulk"]["vbm"], record["lumo_ev"], record["bulk"]["cbm"])
    return record

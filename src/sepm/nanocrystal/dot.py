r"""One quantum dot end to end: build, grid, Hamiltonian, band-edge states, files.

Reference energies. The states are found nearest two energies, the bulk valence-band maximum and
conduction-band minimum of the same local potential in the dot's own discretization (:mod:`.grid_bulk`:
the bulk crystal on a grid of the dot's spacing and kinetic cap, no SOC/NL, no long-range tail; plane
waves at maxKE = the cap where no such grid applies). The plane-wave edges at the system's maxKE (the
fit's basis) are recorded beside them, with the offset between the two. Confinement pushes the dot's HOMO
below the bulk VBM and its LUMO above the bulk CBM, so the states nearest the VBM are the top valence
states and those nearest the CBM the bottom conduction states; a level is valence when it lies below
the bulk mid-gap. Each edge's fine-grid runs then place their reference 0.8 eV from the coarse-grid
start's levels, on the gap side (:func:`.solver.edge_states`: fewer iterations, the same states, and a run
from the bulk edge again if a state found lies across mid-gap); ``dot.json`` records the references used.
HOMO = the highest valence level, LUMO = the lowest conduction level. Level indices
come from the electron count of a fully passivated dot, 4 N_anion valence states (HOMO index
4 N_anion - 1, 0-based). Both energy windows searched, [sigma - d, sigma + d] with d the distance of
the farthest level kept, are recorded: a state outside both (a gap state between them) is not found.

Files (``outdir``): ``conf.par`` (the client's atom file), ``dot.json`` (everything measured),
``levels.dat`` and ``homo.cube`` / ``lumo.cube`` (|psi|^2 in 1/Bohr^3, averaged over a degenerate level).
Every level's location (shares of |psi|^2 on core atoms, surface atoms, ligands, vacuum) and the sanity
flags of the band edges (:mod:`.location`) are in ``dot.json``; a flagged dot is a WARNING in the log.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..analysis.volumetric import atomic_number, write_cube
from ..bands import band_energies, system_hamiltonian
from ..constants import HARTREE_EV
from ..crystal import Crystal
from ..output import write_table, write_text
from ..progress import Progress, duration
from ..pseudopotential import Pseudopotential
from .builder import build_nanocrystal
from .conffile import write_conf
from .estimate import solve_seconds
from .grid import CUT_TOL, VACUUM, DotGrid, centred, potential_on_grid
from .grid_bulk import grid_bulk_edges
from .hamiltonian import KINETIC_CAP, GridHamiltonian
from .ligands import Passivation, is_cation
from .location import (REGIONS, SURFACE_EXCESS, SURFACE_MAX, VACUUM_MAX, grid_regions, location_weights,
                       sanity_flags, surface_volume_share)
from .radial import LibraryFormFactor
from .solver import DEGENERACY, SHIFT, TOL, edge_states
from .threads import choose_threads, free_hamiltonian

log = logging.getLogger("sepm")

#: What a dot writes, dot.json (its completion record) last.
DOT_FILES = ("conf.par", "homo.cube", "lumo.cube", "levels.dat", "dot.json")
#: Bulk k-points added to the bundle's when searching the bulk band edges (Gamma, X, L).
EDGE_KPOINTS = np.array([[0.0, 0.0, 0.0], [0.0, 0.5, 0.5], [0.5, 0.5, 0.5]])


@dataclass
class DotSettings:
    """Everything that defines one dot calculation besides the structure and the potential."""

    radius: float
    spacing: float = 0.8
    vacuum: float = VACUUM
    center: tuple[float, float, float] | None = None
    center_atom: int = 0
    min_bonds: int = 2
    passivation: Passivation = field(default_factory=Passivation)
    n_valence: int = 4
    n_conduction: int = 4
    tol: float = TOL
    kinetic_cap: float = KINETIC_CAP
    cut_tol: float = CUT_TOL
    shift: float = SHIFT
    max_iter: int = 2000
    seed: int = 0


def bulk_edges(system, tables: dict, species, device="cpu") -> dict:
    """VBM, CBM (Hartree) of the bulk crystal with the dot's local potential, and where they are."""
    return bulk_edges_of(system, LibraryFormFactor(tables, species), species, device)


def bulk_edges_of(system, local, species, device="cpu") -> dict:
    """VBM, CBM (Hartree) of the bulk crystal with the local form factor ``local(q) -> (nq, n_species)``."""
    pp = Pseudopotential(tuple(species), torch.zeros((len(species), 9), dtype=torch.float64, device=device),
                         local=local)
    crystal = Crystal.from_system(system, species=species)
    n_vb = 8 * sum(1 for s in crystal.atom_species if not is_cation(s))
    own = np.zeros((0, 3)) if system.kpoints is None else np.asarray(system.kpoints, dtype=np.float64).reshape(-1, 3)
    kfrac = np.concatenate([own, EDGE_KPOINTS])
    bands = band_energies(system_hamiltonian(system, pp, device=device), kfrac, n_vb + 2).cpu().numpy() / HARTREE_EV
    vbm, cbm = bands[:, n_vb - 1].max(), bands[:, n_vb].min()
    return dict(vbm=float(vbm), cbm=float(cbm), gap=float(cbm - vbm), maxke=float(system.maxke),
                k_vbm=kfrac[int(bands[:, n_vb - 1].argmax())].tolist(), k_cbm=kfrac[int(bands[:, n_vb].argmin())].tolist())


def dot_bulk_edges(system, tables: dict, species, grid: DotGrid, kinetic_cap: float, device="cpu") -> dict:
    """The dot's reference edges (Hartree): :func:`.grid_bulk.grid_bulk_edges` at the grid's spacing and the
    kinetic cap, with the plane-wave edges at the system's maxKE under "plane_waves" and the offset
    (grid - plane waves) of each edge under "offset"; the choice and the offset logged."""
    plane = bulk_edges(system, tables, species, device)
    edges = grid_bulk_edges(system, tables, species, grid.spacing, kinetic_cap, plane, device=device)
    offset = {e: edges[e] - plane[e] for e in ("vbm", "cbm", "gap")}
    if "fallback" in edges:
        log.warning("bulk reference: %s, because %s", edges["method"], edges["fallback"])
    log.info("bulk reference (%s, %.1f s): VBM %.4f, CBM %.4f eV; plane waves at maxKE %g Hartree: VBM %.4f, CBM %.4f "
             "eV; offset VBM %+.1f, CBM %+.1f meV", edges["method"], edges["seconds"], edges["vbm"] * HARTREE_EV,
             edges["cbm"] * HARTREE_EV, plane["maxke"], plane["vbm"] * HARTREE_EV, plane["cbm"] * HARTREE_EV,
             offset["vbm"] * HARTREE_EV * 1e3, offset["cbm"] * HARTREE_EV * 1e3)
    return {**edges, "plane_waves": plane, "offset": offset}


def _in_ev(edges: dict) -> dict:
    """The edge record with its energies (vbm, cbm, gap, nested too) in eV."""
    return {k: _in_ev(v) if isinstance(v, dict) else (v * HARTREE_EV if k in ("vbm", "cbm", "gap") else v)
            for k, v in edges.items()}


def _side(H, sigma, n_want, mid, conduction: bool, settings: DotSettings):
    label = "conduction" if conduction else "valence"
    start, applications = time.perf_counter(), H.applications
    progress = Progress(f"dot {label} states", "iteration")

    def report(it, e, res):
        progress.update(it, f"largest residual {float(res.max()):.1e} Ha (tolerance {settings.tol:.0e}, at most "
                        f"{settings.max_iter} iterations)")

    levels, side, tried = edge_states(H, sigma, n_want, mid, conduction, tol=settings.tol, max_iter=settings.max_iter,
                                      shift=settings.shift, seed=settings.seed, progress=report)
    seconds = time.perf_counter() - start
    if not levels.converged:
        log.warning("%s states near %.4f eV: not converged to %.1e Hartree in %d iterations (largest residual "
                    "%.1e)", label, tried[-1] * HARTREE_EV, settings.tol, levels.iterations, levels.residuals.max())
    reach = float((levels.energies - tried[-1]).abs().max())
    log.info("%s states near %.4f eV: %d iterations, %d H applications, %.1f s", label, tried[-1] * HARTREE_EV,
             levels.iterations, H.applications - applications, seconds)
    return levels, side, dict(reference_ev=[x * HARTREE_EV for x in tried],
                              window_ev=[(tried[-1] - reach) * HARTREE_EV, (tried[-1] + reach) * HARTREE_EV],
                              iterations=levels.iterations, applications=H.applications - applications,
                              seconds=seconds, converged=levels.converged)


def _level_density(levels, energy: float, grid: DotGrid) -> np.ndarray:
    """|psi|^2 / dV on the grid (1/Bohr^3, integrates to 1), averaged over the level's degenerate states."""
    pick = (levels.energies - energy).abs() < DEGENERACY
    return (levels.vectors[pick] ** 2).mean(dim=0).reshape(grid.shape).cpu().numpy() / grid.volume_element


def _levels_table(val, con, vb, cb, homo_index: int) -> list[tuple]:
    """(index, E Hartree, residual, edge 0/1) of the valence levels below and conduction levels above mid-gap."""
    ev, rv = val.energies[vb].flip(0).tolist(), val.residuals[vb].flip(0).tolist()
    ec, rc = con.energies[cb].tolist(), con.residuals[cb].tolist()
    rows = [(homo_index - i, e, r, 0) for i, (e, r) in enumerate(zip(ev, rv))]
    rows += [(homo_index + 1 + i, e, r, 1) for i, (e, r) in enumerate(zip(ec, rc))]
    return sorted(rows)


def _write_levels(path, rows) -> None:
    data = np.array([(i, e * HARTREE_EV, e, r, s) for i, e, r, s in rows])
    write_table(path, ["index", "E_eV", "E_hartree", "residual_hartree", "edge"], data, header_lines=[
        "sepm dot: levels near the gap; index 0-based from the electron count (HOMO = 4 N_anion - 1)",
        "residual = ||H psi - E psi|| (Hartree); edge 0 = valence, 1 = conduction"],
        fmt=["%d", "%.6f", "%.9f", "%.2e", "%d"])


def _settings_record(settings: DotSettings) -> dict:
    out = asdict(settings)
    out["center"] = None if settings.center is None else list(settings.center)
    return out


def run_dot(system, tables: dict, settings: DotSettings, outdir, device="cpu", source: str = "") -> dict:
    """Compute one dot of ``system`` (a bundle system) with the radial ``tables`` (atoms and ligands)."""
    outdir = Path(outdir)
    species = sorted(set(system.atom_species))
    crystal = Crystal.from_system(system, species=species)
    nc = build_nanocrystal(crystal, settings.radius, settings.center, settings.center_atom, settings.passivation,
                           settings.min_bonds)
    if nc.n_core == 0:
        raise ValueError(f"radius {settings.radius:g} Bohr leaves no atom with {settings.min_bonds} or more bonds: "
                         f"use a larger radius (the bond length is {nc.bond_length:.3f} Bohr)")
    positions = centred(nc.positions)
    write_conf(outdir / "conf.par", nc.symbols, positions)
    log.info("dot R = %g Bohr: %s (%d atoms removed for < %d bonds); HOMO index %d", settings.radius,
             " ".join(f"{s} {n}" for s, n in nc.counts.items()), nc.removed, settings.min_bonds, nc.homo_index)
    grid = DotGrid.around(positions, settings.spacing, settings.vacuum)
    t_apply, threads = choose_threads(free_hamiltonian(grid, settings.kinetic_cap, device), device)
    edges = dot_bulk_edges(system, tables, species, grid, settings.kinetic_cap, device)
    t0 = time.perf_counter()
    V, cuts = potential_on_grid(grid, nc.symbols, positions, tables, settings.cut_tol, device)
    H = GridHamiltonian(grid, V, settings.kinetic_cap)
    t_potential = time.perf_counter() - t0
    log.info("grid %s, spacing %s Bohr, box half-widths %s Bohr; one H application %.3g s", "x".join(map(str, grid.shape)),
             " ".join(f"{h:.3f}" for h in grid.spacing), " ".join(f"{L:g}" for L in grid.half_width), t_apply)
    n_states = settings.n_valence + settings.n_conduction
    log.info("dot R = %g Bohr: solve estimated at about %s for %d states (applications per state measured by "
             "bench/dot.py, sepm.nanocrystal.estimate)", settings.radius,
             duration(solve_seconds(nc.n_core, n_states, t_apply)), n_states)
    mid = 0.5 * (edges["vbm"] + edges["cbm"])
    val, vb, val_run = _side(H, edges["vbm"], settings.n_valence, mid, False, settings)
    con, cb, con_run = _side(H, edges["cbm"], settings.n_conduction, mid, True, settings)
    homo, lumo = float(val.energies[vb].max()), float(con.energies[cb].min())
    rows = _levels_table(val, con, vb, cb, nc.homo_index)
    regions = grid_regions(grid, positions, nc.n_core, nc.bond_length)
    where = _locations(val, con, vb, cb, regions)
    edge_where = {"homo": _edge_location(where, homo), "lumo": _edge_location(where, lumo)}
    surface_share = surface_volume_share(regions)
    flags = sanity_flags(homo, lumo, edges["vbm"], edges["cbm"], edge_where, surface_share,
                         {"valence": val_run["converged"], "conduction": con_run["converged"]})
    box = np.diag(2.0 * np.asarray(grid.half_width))
    for name, levels, energy in (("homo", val, homo), ("lumo", con, lumo)):
        write_cube(outdir / f"{name}.cube", _level_density(levels, energy, grid), box,
                   [atomic_number(s) for s in nc.symbols], positions - grid.origin,
                   comment=f"sepm dot R={settings.radius:g} Bohr: {name.upper()} |psi|^2 (1/Bohr^3) at "
                           f"{energy * HARTREE_EV:.6f} eV")
    _write_levels(outdir / "levels.dat", rows)
    record = {
        "source": source, "radius_bohr": settings.radius, "settings": _settings_record(settings),
        "atoms": nc.counts, "n_core": nc.n_core, "n_ligands": len(nc.symbols) - nc.n_core, "removed": nc.removed,
        "bond_length_bohr": nc.bond_length, "homo_index": nc.homo_index,
        "homo_ev": homo * HARTREE_EV, "lumo_ev": lumo * HARTREE_EV, "gap_ev": (lumo - homo) * HARTREE_EV,
        "bulk": _in_ev(edges), "homo_minus_vbm_ev": (homo - edges["vbm"]) * HARTREE_EV,
        "lumo_minus_cbm_ev": (lumo - edges["cbm"]) * HARTREE_EV,
        "levels": [dict(index=int(i), energy_ev=e * HARTREE_EV, residual_hartree=r,
                        edge="conduction" if s else "valence", location=_edge_location(where, e))
                   for i, e, r, s in rows],
        "sanity": {"flags": flags, "ok": not flags, "homo_location": edge_where["homo"],
                   "lumo_location": edge_where["lumo"], "surface_volume_share": surface_share,
                   "rules": "location.py: HOMO <= bulk VBM, LUMO >= bulk CBM; an edge state with more than "
                            f"{SURFACE_MAX:g} of its weight (and {SURFACE_EXCESS:g} x the volume share) on surface "
                            f"atoms, ligands and vacuum, or more than {VACUUM_MAX:g} in the vacuum, is flagged"},
        "grid": {"shape": list(grid.shape), "spacing_bohr": grid.spacing.tolist(), "half_width_bohr":
                 list(grid.half_width), "kinetic_cap_hartree": settings.kinetic_cap, "cut_radius_bohr": cuts},
        "solver": {"method": val.method, "valence": val_run, "conduction": con_run,
                   "seconds_potential": t_potential, "seconds_per_application": t_apply,
                   "device": str(device), **threads},
    }
    write_text(outdir / "dot.json", json.dumps(record, indent=2) + "\n")
    log.info("dot R = %g Bohr: HOMO %.4f eV, LUMO %.4f eV, gap %.4f eV (bulk %.4f eV)", settings.radius,
             record["homo_ev"], record["lumo_ev"], record["gap_ev"], record["bulk"]["gap"])
    log.info("dot R = %g Bohr: HOMO weights %s; LUMO weights %s", settings.radius,
             *(" ".join(f"{k} {v:.2f}" for k, v in edge_where[e].items()) for e in ("homo", "lumo")))
    if flags:
        log.warning("dot R = %g Bohr: UNPHYSICAL %s (HOMO %.4f vs bulk VBM %.4f eV, LUMO %.4f vs bulk CBM %.4f eV): "
                    "this gap is not a confinement gap of the bulk material; check the potential's decay (export "
                    "sidecar) and the passivation", settings.radius, ", ".join(flags), record["homo_ev"],
                    record["bulk"]["vbm"], record["lumo_ev"], record["bulk"]["cbm"])
    return record


def _locations(val, con, vb, cb, regions) -> list[tuple[float, dict]]:
    """(energy, region weights averaged over the level's degenerate states) of every level kept."""
    out = []
    for levels, mask in ((val, vb), (con, cb)):
        weights = location_weights(levels.vectors[mask].cpu().numpy(), regions)
        energies = levels.energies[mask].cpu().numpy()
        for e in energies:
            pick = np.abs(energies - e) < DEGENERACY
            out.append((float(e), dict(zip(REGIONS, weights[pick].mean(axis=0).tolist()))))
    return out


def _edge_location(where, energy: float) -> dict:
    """The region weights of the level at ``energy`` (Hartree)."""
    return min(where, key=lambda item: abs(item[0] - energy))[1]

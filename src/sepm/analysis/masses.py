r"""Band gaps, band edges and effective masses of a potential, next to the reference band table.

Band numbers. Everything written (logs, masses_X.dat, gaps_X.json, --ref-mass names) numbers bands from
1, like the E_1 .. E_nBands columns of the band tables; the library's slots b are 0-based (band b + 1).

Band edges. With the valence-band top in band slot b (from idxVB of input_X.par, :mod:`sepm.io.band_index`,
else the highest gap of the reference table, else of the computed bands), E_v(k) = E_b(k) and
E_c(k) = E_{b+1}(k) are evaluated at the bundle's k-points and at the 8 time-reversal-invariant points
k = (n1, n2, n3)/2 (Γ, X, L for fcc). The
VBM is max_k E_v, the CBM min_k E_c; an edge found between two path points is refined by a bounded 1-D
search along the path (scipy ``minimize_scalar``). Fundamental gap Eg = CBM - VBM (indirect when the
two k differ); direct gap = min_k (E_c(k) - E_v(k)) over the same points.

Effective masses. In Hartree atomic units (hbar = m_e = 1), along a unit Cartesian direction u at the
edge k0

    1 / m* = d^2 E / dk^2,     D(h) = [E(k0 + h u) - 2 E(k0) + E(k0 - h u)] / h^2 = E'' + E'''' h^2 / 12 + O(h^4),

with E in Hartree and k in 1/Bohr. Richardson extrapolation R(h) = [4 D(h/2) - D(h)] / 3 removes the h^2
error; the reported mass is 1 / R(h), and |1/R(h) - 1/R(h/2)| is the step-convergence check. Masses are
signed: negative for a valence maximum (a hole mass is -m*). Degenerate bands at the edge (e.g. the heavy
and light holes at Γ) are reported per band slot and direction, since their masses depend on the direction;
slots whose energies agree at every sampled k (spin doubling, Kramers pairs) share one row.

Reference masses are taken from the bundle's reference table along the path: through the extremum and the
next two path points on one side, E - E0 = A d^2 + B d^4 (exact solve; A = (E1 - E0)/d1^2 with one point),
m* = 1 / (2A). They are attached to the computed rows whose direction is parallel to that path side.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy.optimize import minimize_scalar  # noqa: E402

from ..bands import band_energies  # noqa: E402
from ..constants import HARTREE_EV  # noqa: E402
from ..io.band_index import slot_text, table_slot  # noqa: E402
from ..output import save_figure, write_text  # noqa: E402
from .bandfiles import band_edges, detect_vb_index, point_name  # noqa: E402

log = logging.getLogger("sepm")

#: Default Cartesian directions of the finite differences.
DIRECTIONS = {"[100]": (1.0, 0.0, 0.0), "[110]": (1.0, 1.0, 0.0), "[111]": (1.0, 1.0, 1.0)}

#: Energies (eV) within this of the edge count as degenerate with it.
DEGENERACY_EV = 1e-4
#: Reference tables are rounded (often to 0.1 meV): looser degeneracy there.
REF_DEGENERACY_EV = 2e-3

_TRIM = np.array([[i, j, k] for i in (0, 0.5) for j in (0, 0.5) for k in (0, 0.5)], dtype=np.float64)


class BandSampler:
    """Band energies (eV, the bundle's band slots) of a Hamiltonian at Cartesian k-points (1/Bohr)."""

    def __init__(self, ham, nbands: int):
        self.ham, self.nbands = ham, nbands
        self.calls = 0
        with torch.no_grad():
            self.prepared = ham.prepare()  # the k-independent part, built once

    def frac(self, kcart) -> np.ndarray:
        return self.ham.basis.crystal.kpoints_fractional(kcart)

    @torch.no_grad()
    def __call__(self, kcart) -> np.ndarray:
        kfrac = self.frac(kcart)
        self.calls += len(kfrac)
        return band_energies(self.ham, kfrac, self.nbands, prepared=self.prepared).cpu().numpy()


# ----------------------------------------------------------------------------------------- finite differences
@dataclass
class MassResult:
    """Signed masses m* (units of m_e) per band slot: Richardson 1/R(h) and 1/R(h/2), plain 1/D(h), 1/D(h/2)."""

    richardson: np.ndarray
    richardson_half: np.ndarray
    plain: np.ndarray
    plain_half: np.ndarray
    samples: np.ndarray  # (7, nbands) eV at t = -h, -h/2, -h/4, 0, h/4, h/2, h

    @property
    def convergence(self) -> np.ndarray:
        """|1/R(h) - 1/R(h/2)|: how much the extrapolated mass still changes with the step."""
        return np.abs(self.richardson - self.richardson_half)


def finite_difference_masses(sampler, k0, direction, step: float) -> MassResult:
    """Masses of every band slot at Cartesian ``k0`` along ``direction`` by central differences of step
    ``step`` (1/Bohr) and its halves, with Richardson extrapolation (see the module docstring)."""
    u = np.asarray(direction, dtype=np.float64)
    u = u / np.linalg.norm(u)
    t = np.array([-1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0]) * step
    e = sampler(np.asarray(k0)[None, :] + t[:, None] * u[None, :])
    eh = e / HARTREE_EV

    def second(i_minus, i_plus, h):
        return (eh[i_plus] - 2.0 * eh[3] + eh[i_minus]) / h**2

    d1, d2, d4 = second(0, 6, step), second(1, 5, step / 2), second(2, 4, step / 4)
    r1, r2 = (4.0 * d2 - d1) / 3.0, (4.0 * d4 - d2) / 3.0
    with np.errstate(divide="ignore"):
        return MassResult(1.0 / r1, 1.0 / r2, 1.0 / d1, 1.0 / d2, e)


# ----------------------------------------------------------------------------------------- band edges
def _refine_on_path(sampler, kpath: np.ndarray, i: int, slot: int, sign: float):
    """Refine an extremum of ``sign * E_slot`` found at interior path point i: bounded search on the
    broken line k_{i-1} -> k_i -> k_{i+1}. Returns (k, E in eV)."""
    lo, mid, hi = kpath[i - 1], kpath[i], kpath[i + 1]

    def k_of(tau):
        return mid + tau * (hi - mid) if tau >= 0 else mid - tau * (lo - mid)

    res = minimize_scalar(lambda tau: -sign * sampler(k_of(tau))[0, slot], bounds=(-1.0, 1.0), method="bounded",
                          options={"xatol": 1e-7})
    e0, best = float(sampler(mid)[0, slot]), float(-sign * res.fun)
    if sign * best > sign * e0:
        return k_of(res.x), best
    return mid, e0


def find_edges(sampler, kfrac_path: np.ndarray, vb: int, lattice) -> dict:
    """VBM, CBM and direct gap over the path k-points and the 8 TRIM points, refined along the path."""
    recip = sampler.ham.basis.crystal.reciprocal
    kpath = np.asarray(kfrac_path, dtype=np.float64) @ recip
    ktrim = _TRIM @ recip
    kall = np.concatenate([kpath, ktrim])
    energies = sampler(kall)
    e = band_edges(energies, vb)
    npath = len(kpath)
    out = {"vb_index": vb, "path_energies": energies[:npath]}
    for name, idx, slot, sign, value in (("vbm", e.vbm_k, vb, 1.0, e.vbm), ("cbm", e.cbm_k, vb + 1, -1.0, e.cbm)):
        k, energy, where = kall[idx], value, "path" if idx < npath else "TRIM"
        half = 2.0 * sampler.frac(k)[0]
        if 0 < idx < npath - 1 and not np.allclose(half, np.round(half), atol=1e-9):  # not a TRIM point
            k, energy = _refine_on_path(sampler, kpath, idx, slot, sign)
            if not np.allclose(k, kall[idx]):
                where = "refined on the path"
                log.info("%s refined between path points %d and its neighbours: %.6f -> %.6f eV", name.upper(), idx,
                         value, energy)
        kf = sampler.frac(k)[0]
        out[name] = {"energy_eV": energy, "kfrac": kf.tolist(), "kcart": k.tolist(), "label": point_name(kf, lattice),
                     "path_index": int(idx) if idx < npath and where != "refined on the path" else None,
                     "found": where, "slot": slot}
    kd = sampler.frac(kall[e.direct_k])[0]
    out["direct_gap"] = {"energy_eV": e.direct_gap, "kfrac": kd.tolist(), "label": point_name(kd, lattice),
                         "path_index": int(e.direct_k) if e.direct_k < npath else None}
    out["gap_eV"] = out["cbm"]["energy_eV"] - out["vbm"]["energy_eV"]
    out["is_direct"] = bool(np.allclose(out["vbm"]["kcart"], out["cbm"]["kcart"], atol=1e-9))
    return out


# ----------------------------------------------------------------------------------------- directions
def _path_sides(kpath_cart: np.ndarray, i: int, kfrac_path, lattice) -> list[tuple[np.ndarray, str, list[int]]]:
    """Directions leaving path point i toward each neighbour: (unit vector, 'Γ→X', [i+1, i+2] same segment)."""
    sides = []
    for step in (-1, 1):
        j = i + step
        if not 0 <= j < len(kpath_cart):
            continue
        d = kpath_cart[j] - kpath_cart[i]
        if np.linalg.norm(d) < 1e-12 or np.linalg.norm(d) > 0.3:  # a repeated point or a jump
            continue
        u = d / np.linalg.norm(d)
        idx = [j]
        j2 = j + step
        if 0 <= j2 < len(kpath_cart):
            d2 = kpath_cart[j2] - kpath_cart[i]
            if np.linalg.norm(d2) > 1e-12 and np.allclose(d2 / np.linalg.norm(d2), u, atol=1e-6):
                idx.append(j2)
        end = j
        while 0 <= end + step < len(kpath_cart):  # the end of this straight segment, for the name
            nxt = kpath_cart[end + step] - kpath_cart[i]
            if np.linalg.norm(nxt) < 1e-12 or not np.allclose(nxt / np.linalg.norm(nxt), u, atol=1e-6):
                break
            end += step
        name = f"{point_name(kfrac_path[i], lattice)}→{point_name(kfrac_path[end], lattice)}"
        sides.append((u, name, idx))
    return sides


def _parallel(u, v) -> bool:
    return abs(float(np.dot(u, v))) > 1.0 - 1e-6


def reference_path_mass(energies: np.ndarray, kpath_cart: np.ndarray, i: int, idx: list[int], slot: int) -> float:
    """m* from the reference table: E - E0 = A d^2 (+ B d^4 with a second point), m* = 1/(2A) (a.u.)."""
    e = energies[:, slot] / HARTREE_EV
    d = np.array([np.linalg.norm(kpath_cart[j] - kpath_cart[i]) for j in idx])
    de = np.array([e[j] - e[i] for j in idx])
    if len(idx) >= 2:
        a, _ = np.linalg.solve(np.column_stack([d**2, d**4]), de)
    else:
        a = de[0] / d[0] ** 2
    return 1.0 / (2.0 * a)


def _groups(slots: list[int], result: MassResult) -> list[list[int]]:
    """Slots whose sampled energies agree to 1e-9 eV (spin or Kramers partners) as one group."""
    groups: list[list[int]] = []
    for s in slots:
        for g in groups:
            if np.allclose(result.samples[:, g[0]], result.samples[:, s], atol=1e-9, rtol=0):
                g.append(s)
                break
        else:
            groups.append([s])
    return groups


# ----------------------------------------------------------------------------------------- report
def mass_report(sampler, system, vb: int | None = None, step: float = 0.01, directions=None,
                literature: dict | None = None, lattice=None) -> dict:
    """Band edges, gaps and masses of ``sampler`` for bundle system ``system`` (see the module docstring).

    Returns a dict with 'edges' (computed), 'reference' (from system.ref_bands or None) and 'rows', one per
    (edge, band group, direction)."""
    lattice = system.lattice if lattice is None else lattice
    kfrac = np.asarray(system.kpoints, dtype=np.float64)
    kpath = sampler.ham.basis.crystal.kpoints_cartesian(kfrac)
    vb_source = "given"
    if vb is None and "idxVB" in system.settings:
        spinor = sampler.ham.spinor
        vb = table_slot(system.settings["idxVB"], spinor)
        vb_source = f"idxVB of input_{system.index}.par, {slot_text(spinor)}"
    if vb is None and system.ref_bands is not None:
        vb, vb_source = detect_vb_index(system.ref_bands), "highest gap of the reference table"
    if vb is None:
        vb, vb_source = detect_vb_index(sampler(kpath)), "highest gap of the computed bands"
    if vb is None or not 0 <= vb < system.nbands - 1:
        raise ValueError(f"no valence-band top in bands 1..{system.nbands - 1} "
                         f"(got {'none' if vb is None else vb + 1}); pass --vb-band")
    log.info("valence-band top: band %d (E_%d; %s)", vb + 1, vb + 1, vb_source)
    edges = find_edges(sampler, kfrac, vb, lattice)
    edges["vb_source"] = vb_source

    ref = None
    if system.ref_bands is not None:
        r = band_edges(system.ref_bands, vb)
        ref = {"vbm_eV": r.vbm, "vbm_index": r.vbm_k, "vbm_label": point_name(kfrac[r.vbm_k], lattice),
               "cbm_eV": r.cbm, "cbm_index": r.cbm_k, "cbm_label": point_name(kfrac[r.cbm_k], lattice),
               "gap_eV": r.gap, "is_direct": r.is_direct, "direct_gap_eV": r.direct_gap, "direct_index": r.direct_k,
               "direct_label": point_name(kfrac[r.direct_k], lattice)}

    dirs = {name: np.asarray(v, dtype=np.float64) / np.linalg.norm(v)
            for name, v in (directions or DIRECTIONS).items()}
    literature = dict(literature or {})
    rows = []
    for edge_name, key in (("VB", "vbm"), ("CB", "cbm")):
        e = edges[key]
        k0 = np.asarray(e["kcart"])
        e0 = sampler(k0)[0]
        slots = [s for s in (range(vb + 1) if edge_name == "VB" else range(vb + 1, system.nbands))
                 if abs(e0[s] - e["energy_eV"]) < DEGENERACY_EV]
        # directions: the fixed ones, plus the path sides at the edge (merged when parallel)
        todo = [(name, u, None) for name, u in dirs.items()]
        if e["path_index"] is not None:
            for u, side, idx in _path_sides(kpath, e["path_index"], kfrac, lattice):
                hit = next((n for n, (name, v, s) in enumerate(todo) if _parallel(u, v) and s is None), None)
                if hit is None:
                    todo.append((side, u, (side, idx)))
                else:
                    todo[hit] = (f"{todo[hit][0]} {side}", todo[hit][1], (side, idx))
        ref_sides = []
        if ref is not None:  # path sides at the reference's own extremum
            ri = ref[f"{key}_index"]
            ref_slots = [s for s in (range(vb + 1) if edge_name == "VB" else range(vb + 1, system.nbands))
                         if abs(system.ref_bands[ri, s] - system.ref_bands[ri, e["slot"]]) < REF_DEGENERACY_EV]
            ref_sides = [(u, side, idx, ri, ref_slots) for u, side, idx in _path_sides(kpath, ri, kfrac, lattice)]
        for dname, u, _side in todo:
            res = finite_difference_masses(sampler, k0, u, step)
            for group in _groups(slots, res):
                s = group[-1]
                m_ref, ref_note = np.nan, ""
                for v, side, idx, ri, ref_slots in ref_sides:
                    if _parallel(u, v) and s in ref_slots:
                        m_ref, ref_note = reference_path_mass(system.ref_bands, kpath, ri, idx, s), side
                        break
                tokens = _row_names(edge_name, group, dname)
                lit = next((v for n, v in literature.items() if n in tokens), np.nan)
                row = {"edge": edge_name, "slots": group, "k_label": e["label"], "direction": dname,
                       "u": u.tolist(), "m": float(res.richardson[s]), "m_step": float(res.plain[s]),
                       "m_half_step": float(res.plain_half[s]), "m_richardson_half": float(res.richardson_half[s]),
                       "convergence": float(res.convergence[s]), "m_ref_path": float(m_ref), "ref_side": ref_note,
                       "m_literature": float(lit)}
                rows.append(row)
                log.info("%s band %s at %s along %s: m* = %.5f m_e (1/D(h) %.5f, 1/D(h/2) %.5f, Richardson change "
                         "with h/2: %.2e); reference path %.4f", edge_name, _numbers(group), e["label"],
                         dname, row["m"], row["m_step"], row["m_half_step"], row["convergence"], m_ref)
    unused = [n for n in literature if not any(n in _row_names(r["edge"], r["slots"], r["direction"]) for r in rows)]
    for n in unused:
        log.warning("--ref-mass %s matches no row (names: VB, CB, CB[100], CB9, CB9[100], ...)", n)
    return {"system": system.index, "name": system.name, "step": step, "edges": edges, "reference": ref,
            "rows": rows, "literature": literature}


def _row_names(edge: str, slots: list[int], direction: str) -> set[str]:
    """Names a --ref-mass value can use for a row: CB, CB[100], CB9, CB9[100] (any band number of the group)."""
    d = direction.split()[0]
    return {edge, f"{edge}{d}"} | {f"{edge}{s + 1}" for s in slots} | {f"{edge}{s + 1}{d}" for s in slots}


def _numbers(slots: list[int]) -> str:
    """Band numbers (1-based) of a group of slots, e.g. 9-10."""
    return "-".join(str(s + 1) for s in slots)


def _fmt(v: float, width: int = 10) -> str:
    return f"{v:{width}.4f}" if np.isfinite(v) else f"{'-':>{width}}"


def write_mass_report(outdir, report: dict, sampler=None, title: str = "") -> list[Path]:
    """masses_X.dat (table), gaps_X.json and masses_X.png/.pdf (E(k) at the edges with the parabolas)."""
    outdir = Path(outdir)
    x = report["system"]
    edges, ref = report["edges"], report["reference"]
    lines = [f"# effective masses m*/m_e of system {x} ({report['name']}): m* = 1 / (d^2E/dk^2), Hartree a.u., "
             "signed (a valence maximum has m* < 0; hole mass = -m*)",
             f"# m: central differences along the direction with Richardson extrapolation, step h = "
             f"{report['step']:g} 1/Bohr; m_h, m_h/2: plain differences; conv = |m(h) - m(h/2)| of the extrapolation",
             "# m_ref: the reference table (expBandStruct) along the path side named in ref_side, parabola "
             "E - E0 = A d^2 + B d^4 through the extremum and the next 2 path points (m = 1/(2A)); '-' where the "
             "path does not run along the direction",
             "# m_lit: --ref-mass values; bands: band numbers, 1-based like the E_n columns of the band tables",
             f"# VBM {edges['vbm']['energy_eV']:.6f} eV at {edges['vbm']['label']}, "
             f"CBM {edges['cbm']['energy_eV']:.6f} eV at {edges['cbm']['label']}, gap {edges['gap_eV']:.6f} eV "
             f"({'direct' if edges['is_direct'] else 'indirect'}), "
             f"direct gap {edges['direct_gap']['energy_eV']:.6f} eV at {edges['direct_gap']['label']}"]
    if ref is not None:
        lines.append(f"# reference: VBM {ref['vbm_eV']:.4f} eV at {ref['vbm_label']}, CBM {ref['cbm_eV']:.4f} eV at "
                     f"{ref['cbm_label']}, gap {ref['gap_eV']:.4f} eV, direct gap {ref['direct_gap_eV']:.4f} eV at "
                     f"{ref['direct_label']}")
    head = f"{'edge':<4} {'bands':<7} {'k':<10} {'direction':<22} {'m':>10} {'m_h':>10} {'m_h/2':>10} " \
           f"{'conv':>9} {'m_ref':>10} {'m_lit':>10}  ref_side"
    lines.append("# " + head)
    for r in report["rows"]:
        lines.append(f"  {r['edge']:<4} {_numbers(r['slots']):<7} {r['k_label']:<10} {r['direction']:<22} "
                     f"{_fmt(r['m'])} {_fmt(r['m_step'])} {_fmt(r['m_half_step'])} {r['convergence']:9.2e} "
                     f"{_fmt(r['m_ref_path'])} {_fmt(r['m_literature'])}  {r['ref_side'] or '-'}")
    paths = [write_text(outdir / f"masses_{x}.dat", "\n".join(lines) + "\n")]
    gaps = {k: v for k, v in edges.items() if k not in ("path_energies", "vb_index")}
    gaps["vb_band"] = edges["vb_index"] + 1
    for key in ("vbm", "cbm"):
        gaps[key] = {("band" if k == "slot" else k): (v + 1 if k == "slot" else v) for k, v in edges[key].items()}
    gaps.update(reference=ref, step=report["step"], literature=report["literature"])
    paths.append(write_text(outdir / f"gaps_{x}.json", json.dumps(gaps, indent=2, ensure_ascii=False) + "\n"))
    if sampler is not None:
        paths += _plot(outdir / f"masses_{x}", report, sampler, title)
    return paths


def _plot(stem, report, sampler, title) -> list[Path]:
    """E(k0 + t u) - E0 near each edge (solid) against the parabola t^2 / (2 m*) (dashed), meV vs 1/Bohr."""
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 4.2))
    t = np.linspace(-0.06, 0.06, 41)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (edge, key) in zip(axes, (("VB", "vbm"), ("CB", "cbm"))):
        e = report["edges"][key]
        k0 = np.asarray(e["kcart"])
        rows = [r for r in report["rows"] if r["edge"] == edge]
        seen, lines, same_as = {}, {}, {}
        for r in rows:
            d = r["direction"]
            if d not in lines:  # all bands along this line, once
                u = np.asarray(r["u"])
                lines[d] = sampler(k0[None, :] + t[:, None] * u[None, :])
                # a symmetry-equivalent direction ([100] and Γ→X = [010] of a cubic crystal) draws the same
                # curves: drawn once, with both names in the legend
                twin = next((o for o in seen if np.allclose(lines[o], lines[d], rtol=0, atol=1e-6)), None)
                if twin is not None:
                    same_as[d] = twin
            if d in same_as:
                continue
            c = seen.setdefault(d, colors[len(seen) % len(colors)])
            band = lines[d][:, r["slots"][-1]]
            ax.plot(t, 1e3 * (band - e["energy_eV"]), color=c, lw=1.3)
            ax.plot(t, 1e3 * HARTREE_EV * t**2 / (2 * r["m"]), color=c, lw=1.0, ls="--")
        for d, c in seen.items():
            ax.plot([], [], color=c, label=" = ".join([d, *(a for a, o in same_as.items() if o == d)]))
        ax.plot([], [], color="0.3", ls="--", label="parabola t²/(2m*)")
        ax.set_xlabel(f"t (1/Bohr) along the direction from {e['label']}")
        ax.set_ylabel(f"E - E({edge}M) (meV)")
        ax.set_title(f"{edge} edge at {e['label']}", fontsize=10)
        ax.axhline(0, color="0.6", lw=0.5)
        ax.legend(fontsize=7)
    fig.suptitle(title or f"band edges of system {report['system']}: Eg = {report['edges']['gap_eV']:.4f} eV")
    fig.tight_layout()
    paths = save_figure(fig, stem)
    plt.close(fig)
    return paths

r"""Valence charge density from the occupied eigenvectors (DeepPseudopot's charge_density_from_wfns).

Sign convention: the Hamiltonian (SPEC section 3) builds V_ij = sum_a v(|G_i - G_j|) exp(+i (G_i - G_j).tau_a) / Omega,
which is the matrix of V(r) = sum_a v(r - tau_a) in the plane waves exp(-i(k+G).r). So

    psi_nk(r) = (1/sqrt(Omega)) sum_G c_nk(G) exp(-i(k+G).r),
    rho(r) = sum_k w_k sum_{n occupied} f_n |psi_nk(r)|^2,        sum_k w_k = 1,

in e/Bohr^3, int_cell rho = N_electrons, and the density sits around the atoms at tau_a as written in
system_X.par and in the cube/XSF files (with exp(+i(k+G).r) it would come out inverted through the origin:
moving every atom by t would move rho by -t). |psi|^2 does not depend on the phase exp(-ik.r), so c_nk(G)
is placed on the FFT grid at its Miller indices n (mod M) and one unnormalized forward FFT per batch of
bands gives psi at the grid points r_j = sum_i (j_i/M_i) a_i exactly (no aliasing when M_i >= 2 max|n_i| + 1):

    psi(r_j) = (1/sqrt(Omega)) sum_G c(G) exp(-2 pi i sum_i n_i j_i / M_i),
    sum_j rho(r_j) Omega / (M1 M2 M3) = sum_k w_k sum_n f_n sum_G |c_nk(G)|^2 = N_electrons.

Occupations: without SOC the Hamiltonian is spin-free and each of the N_e/2 lowest levels holds f = 2
electrons; with SOC the 2N-component spinors hold f = 1 each (N_e levels) and |psi|^2 = |psi_up|^2 +
|psi_down|^2. The electron count comes from ``--electrons``, else from ``idxVB`` of input_X.par (the
0-based top valence level, :mod:`sepm.io.band_index`: N_e = idxVB + 1 with SOC, 2 (idxVB + 1) without),
else from the s + p valence electrons of the species (filled d shells count as core: Ga 3, As 5, Cd 2,
Pb 4, I 7, Cs 1).

k-points: a Monkhorst-Pack grid (Gamma-centred k = j/N_i, or shifted by half a step), each point moved
to its shortest image k + G0 (the Wigner-Seitz cell). The plane-wave basis is cut on |G|, not |k+G|,
so k and k + G0 are not equivalent here; equidistant images share the weight, which keeps the k-set
closed under k -> -k and under the point group, so rho has the crystal's symmetry. Time reversal gives
rho_{-k} = rho_k, so each pair k, -k is computed once with the summed weight.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import Defect, InputError
from ..io.band_index import table_slot

log = logging.getLogger("sepm")

#: Noble-gas atomic numbers (period boundaries) for the valence-electron rule.
_NOBLE = (0, 2, 10, 18, 36, 54, 86, 118)

#: Two levels closer than this (Hartree) are degenerate (occupied / empty boundary check).
DEGENERATE_HA = 1e-6

#: Working memory for one batch of band FFTs (bytes).
FFT_BATCH_BYTES = 256 * 2**20


# ----------------------------------------------------------------------------------------- electrons
def valence_electrons(symbol: str) -> int | None:
    """s + p valence electrons of an element (filled d shells in the core), None for open-d/f elements
    or labels that are not elements. Main groups 1, 2, 13-18 give 1, 2, 3-8; group 12 (Zn, Cd, Hg) 2."""
    from ase.data import atomic_numbers

    z = atomic_numbers.get(symbol)
    if not z:
        return None
    period = next(i for i in range(1, len(_NOBLE)) if z <= _NOBLE[i])
    p = z - _NOBLE[period - 1]
    if period <= 3:
        return p
    if p <= 2:
        return p
    d_start = 3 if period <= 5 else 17  # periods 6-7: the f block (p = 3..16) comes first
    if period >= 6 and p < 17:
        return None
    group12 = d_start + 9
    if p == group12:
        return 2
    if p > group12:
        return p - group12 + 2
    return None


def _idxvb_line(path: Path) -> int | None:
    from ..io.bundle import INPUT_SCHEMA
    from ..io.parfile import read_keyvalue

    return read_keyvalue(path, INPUT_SCHEMA, [])[1].get("idxVB") if path.is_file() else None


def electron_count(system, bundle_path, electrons: int | None = None, spinor: bool = False) -> tuple[int, str]:
    """(N_e, where it came from): ``electrons`` if given, else from idxVB of input_X.par (a level of the
    spinor spectrum when ``spinor``, else a spatial level), else the sum of the species' s + p valence
    electrons. InputError when none of them gives a count."""
    if electrons is not None:
        if electrons <= 0:
            raise InputError(Defect(Path("--electrons"), None, f"must be a positive integer, got {electrons}"))
        return int(electrons), "--electrons"
    inp = Path(bundle_path) / f"input_{system.index}.par"
    if system.settings.get("idxVB") is not None:
        idx = int(system.settings["idxVB"])
        return table_slot(idx, spinor) + 1, f"{inp.name}: {'idxVB + 1' if spinor else '2 (idxVB + 1)'}"
    counts = {s: valence_electrons(s) for s in set(system.atom_species)}
    unknown = sorted(s for s, v in counts.items() if v is None)
    if unknown:
        raise InputError(Defect(inp, None, f"no idxVB and no s+p valence count for species {', '.join(unknown)}: "
                                "set idxVB (0-based top valence level) or pass --electrons N"))
    total = sum(counts[s] for s in system.atom_species)
    detail = " + ".join(f"{s} {counts[s]}" for s in system.atom_species)
    return total, f"s+p valence electrons ({detail})"


def occupied_levels(n_electrons: int, spinor: bool, source: str, where: Path | None = None) -> tuple[int, float]:
    """(number of occupied levels, electrons per level): N_e/2 levels of 2 without SOC, N_e of 1 with."""
    if spinor:
        if n_electrons % 2:
            log.warning("odd electron count %d with SOC: half of a Kramers pair is filled", n_electrons)
        return n_electrons, 1.0
    if n_electrons % 2:
        path = where or Path("--electrons")
        line = _idxvb_line(path) if where is not None else None
        raise InputError(Defect(path, line, f"{n_electrons} electrons ({source}) is odd, but the Hamiltonian is "
                                "spin-free: every level holds 2 electrons; give an even count"))
    return n_electrons // 2, 2.0


# ----------------------------------------------------------------------------------------- grids
def monkhorst_pack(kgrid, shift: bool = False) -> np.ndarray:
    """Fractional k-points j/N_i (Gamma-centred) or (j + 1/2)/N_i (``shift``), j = 0..N_i-1; (prod N, 3)."""
    axes = [(np.arange(n) + (0.5 if shift else 0.0)) / n for n in kgrid]
    return np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)


def fold_wigner_seitz(kfrac: np.ndarray, reciprocal: np.ndarray, tol: float = 1e-8) -> tuple[np.ndarray, np.ndarray]:
    """Move each k to its shortest images k + G0; a point with m equidistant images becomes m points of
    weight 1/(m nk). Returns (kfrac (n', 3), weights (n',)) with sum of weights 1."""
    shifts = np.stack(np.meshgrid(*[np.arange(-2, 3)] * 3, indexing="ij"), -1).reshape(-1, 3)
    images = kfrac[:, None, :] + shifts[None, :, :]
    length = np.linalg.norm(images @ reciprocal, axis=-1)
    shortest = length.min(axis=1, keepdims=True)
    keep = length <= shortest + tol * max(1.0, float(np.linalg.norm(reciprocal, axis=1).max()))
    counts = keep.sum(axis=1)
    point, image = np.nonzero(keep)
    return images[point, image], 1.0 / (counts[point] * len(kfrac))


def time_reversal_pairs(kfrac: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep one of each pair k, -k with the summed weight. Time reversal makes rho_{-k} = rho_k exactly:
    with the G -> -G symmetric basis, H(-k) = H(k)^* (spin-free) or sigma_y H(k)^* sigma_y (spinor), so the
    occupied states at -k are the time-reversed ones at k and have the same |psi|^2."""
    keys = np.rint(np.asarray(kfrac) * 1e8).astype(np.int64)
    _, ids = np.unique(np.concatenate([keys, -keys]), axis=0, return_inverse=True)
    ids = ids.ravel()
    index = np.full(ids.max() + 1, -1)
    index[ids[: len(keys)]] = np.arange(len(keys))
    partner = index[ids[len(keys):]]
    keep = (partner < 0) | (np.arange(len(keys)) <= partner)
    paired = keep & (partner >= 0) & (partner != np.arange(len(keys)))
    new_weights = np.where(paired, weights + weights[np.maximum(partner, 0)], weights)
    return kfrac[keep], new_weights[keep]


def _fast_size(n: int) -> int:
    """Smallest m >= n whose prime factors are 2, 3 and 5."""
    m = n
    while True:
        k = m
        for p in (2, 3, 5):
            while k % p == 0:
                k //= p
        if k == 1:
            return m
        m += 1


def minimum_fft_grid(miller: np.ndarray) -> tuple[int, int, int]:
    """M_i = 2 max|n_i| + 1: every basis G has its own grid point, so psi(r_j) is exact."""
    return tuple(int(2 * m + 1) for m in np.abs(miller).max(axis=0))


def default_fft_grid(miller: np.ndarray) -> tuple[int, int, int]:
    """The minimum grid rounded up to 2,3,5-smooth sizes."""
    return tuple(_fast_size(m) for m in minimum_fft_grid(miller))


# ----------------------------------------------------------------------------------------- density
@dataclass
class ChargeDensity:
    """rho on the FFT grid (e/Bohr^3) and what it was built from. ``energies`` (nk, n_occ + 1) Hartree:
    the occupied levels and the lowest empty one at each k; ``point_values``: rho at the requested points."""

    rho: np.ndarray
    lattice: np.ndarray
    kfrac: np.ndarray
    kweights: np.ndarray
    n_electrons: int
    n_occupied: int
    occupancy: float
    spinor: bool
    energies: np.ndarray
    basis_size: int
    point_values: np.ndarray | None = None

    @property
    def volume(self) -> float:
        return float(abs(np.linalg.det(self.lattice)))

    @property
    def voxel_volume(self) -> float:
        return self.volume / self.rho.size

    @property
    def integrated_electrons(self) -> float:
        """sum_j rho(r_j) dV, dV = Omega / (M1 M2 M3)."""
        return float(self.rho.sum() * self.voxel_volume)


@torch.no_grad()
def charge_density(ham, kfrac, kweights, n_electrons: int, fft_grid=None, points=None,
                   progress: bool = True, source: str = "given", where: Path | None = None) -> ChargeDensity:
    """rho(r) of the ``n_electrons`` lowest states of ``ham`` at fractional k-points ``kfrac`` with
    weights ``kweights`` (normalized here to sum 1), on the FFT grid ``fft_grid`` (default
    :func:`default_fft_grid`). ``points`` (P, 3) Cartesian Bohr: rho there too, by direct summation."""
    from tqdm import tqdm

    from ..eigensolver import lowest_eigenpairs

    basis = ham.basis
    device = basis.G.device
    n_occ, occupancy = occupied_levels(int(n_electrons), ham.spinor, source, where)
    if n_occ + 1 > ham.dim:
        raise InputError(Defect(Path("--electrons"), None, f"{n_electrons} electrons need {n_occ} occupied levels "
                                f"(+1 to check the gap) but the basis has only {ham.dim} states; raise maxKE"))
    need = minimum_fft_grid(basis.miller)
    grid = tuple(int(m) for m in (fft_grid if fft_grid is not None else default_fft_grid(basis.miller)))
    if any(m < n for m, n in zip(grid, need)):
        raise InputError(Defect(Path("--fft-grid"), None, f"{' '.join(map(str, grid))} is too small for the basis "
                                f"(max |n_i| = {(np.array(need) - 1) // 2}): need at least {' '.join(map(str, need))}"))
    kfrac = np.asarray(kfrac, dtype=np.float64).reshape(-1, 3)
    weights = np.asarray(kweights, dtype=np.float64)
    weights = weights / weights.sum()
    n_pw = basis.size
    n_comp = 2 if ham.spinor else 1
    m_tot = math.prod(grid)
    miller = torch.as_tensor(basis.miller, device=device)
    sizes = torch.as_tensor(grid, device=device)
    flat = (((miller[:, 0] % sizes[0]) * grid[1] + miller[:, 1] % sizes[1]) * grid[2] + miller[:, 2] % sizes[2])
    batch = max(1, FFT_BATCH_BYTES // (16 * m_tot))
    scale = 1.0 / math.sqrt(basis.volume)
    rho = torch.zeros(grid, dtype=torch.float64, device=device)
    phase = None
    if points is not None:
        pts = torch.as_tensor(np.asarray(points, dtype=np.float64).reshape(-1, 3), device=device)
        phase = torch.exp(-1j * (pts @ basis.G.T)) * scale  # (P, N): e^{-iG.r} / sqrt(Omega)
        rho_points = torch.zeros(pts.shape[0], dtype=torch.float64, device=device)
    log.info("charge density: %d electrons in %d levels of %g e (%s), %d k-points, basis %d%s, FFT grid %s",
             n_electrons, n_occ, occupancy, source, len(kfrac), n_pw, " x 2 (spinor)" if ham.spinor else "",
             "x".join(map(str, grid)))
    prepared = ham.prepare()
    kcart = basis.kpoints(kfrac)
    energies = np.empty((len(kfrac), n_occ + 1))
    for ik in tqdm(range(len(kfrac)), desc="density k-points", unit="k", disable=not progress, leave=False):
        h = ham.matrices(kcart[ik:ik + 1], prepared)
        values, vectors = lowest_eigenpairs(h, n_occ + 1)
        energies[ik] = values[0].cpu().numpy()
        occ = vectors[0, :, :n_occ].to(device)  # (n_comp N, n_occ)
        coeffs = occ.reshape(n_comp, n_pw, n_occ).permute(0, 2, 1).reshape(n_comp * n_occ, n_pw)
        factor = float(weights[ik]) * occupancy
        for start in range(0, coeffs.shape[0], batch):
            block = coeffs[start:start + batch]
            on_grid = torch.zeros((block.shape[0], m_tot), dtype=torch.complex128, device=device)
            on_grid[:, flat] = block
            psi = torch.fft.fftn(on_grid.reshape(-1, *grid), dim=(1, 2, 3), norm="backward") * scale
            rho += factor * (psi.real**2 + psi.imag**2).sum(dim=0)
        if phase is not None:
            psi_p = phase @ coeffs.T  # (P, n_comp n_occ)
            rho_points += factor * (psi_p.real**2 + psi_p.imag**2).sum(dim=1)
    gaps = energies[:, n_occ] - energies[:, n_occ - 1]
    if np.any(gaps < DEGENERATE_HA):
        bad = np.flatnonzero(gaps < DEGENERATE_HA)
        log.warning("at %d of %d k-points (first: k = %s) the highest occupied level is degenerate with the lowest "
                    "empty one: rho depends on how that multiplet is split (a metal, or a wrong electron count?)",
                    len(bad), len(kfrac), np.round(kfrac[bad[0]], 4).tolist())
    return ChargeDensity(rho=rho.cpu().numpy(), lattice=basis.crystal.lattice.copy(), kfrac=kfrac, kweights=weights,
                         n_electrons=int(n_electrons), n_occupied=n_occ, occupancy=occupancy, spinor=ham.spinor,
                         energies=energies, basis_size=n_pw,
                         point_values=None if phase is None else rho_points.cpu().numpy())


# ----------------------------------------------------------------------------------------- geometry
def bond(crystal) -> tuple[np.ndarray, np.ndarray, int]:
    """(start, end, neighbour atom index): atom 0 and the nearest periodic image of any atom (Bohr)."""
    shifts = np.stack(np.meshgrid(*[np.arange(-1, 2)] * 3, indexing="ij"), -1).reshape(-1, 3)
    images = (crystal.frac[None, :, :] + shifts[:, None, :]) @ crystal.lattice  # (27, n, 3)
    start = crystal.positions[0]
    dist = np.linalg.norm(images - start, axis=-1)
    dist[dist < 1e-8] = np.inf
    s, a = np.unravel_index(np.argmin(dist), dist.shape)
    return start, images[s, a], int(a)


def slice_axes(u: np.ndarray) -> np.ndarray:
    """A unit vector orthogonal to ``u`` in the plane of ``u`` and the Cartesian axis least parallel to
    it (ties: the last axis), e.g. the (1-10) plane for a [111] bond."""
    axis = np.eye(3)[2 - int(np.argmin(np.abs(u[::-1])))]
    v = axis - (axis @ u) * u
    return v / np.linalg.norm(v)


def interpolate_periodic(rho: np.ndarray, lattice: np.ndarray, points: np.ndarray) -> np.ndarray:
    """rho at Cartesian ``points`` (..., 3) by a periodic cubic spline through the grid values."""
    from scipy.ndimage import map_coordinates

    frac = np.asarray(points).reshape(-1, 3) @ np.linalg.inv(lattice)
    coords = (frac * np.array(rho.shape)).T
    out = map_coordinates(rho, coords, order=3, mode="grid-wrap")
    return out.reshape(np.asarray(points).shape[:-1])


def bond_line(crystal, n_points: int = 301) -> tuple[np.ndarray, np.ndarray, float, int]:
    """Points along the bond from atom 0 to its nearest neighbour, extended half a bond length on both
    sides: (distance from atom 0 (n,), points (n, 3) Bohr, bond length, neighbour index)."""
    start, end, neighbour = bond(crystal)
    length = float(np.linalg.norm(end - start))
    s = np.linspace(-0.5 * length, 1.5 * length, n_points)
    return s, start + s[:, None] * (end - start) / length, length, neighbour


def grid_density(ham, kgrid, shift: bool, n_electrons: int, fft_grid=None, progress: bool = True,
                 source: str = "given", where: Path | None = None) -> ChargeDensity:
    """rho from a Monkhorst-Pack ``kgrid`` folded into the Wigner-Seitz cell (:func:`fold_wigner_seitz`),
    k and -k computed once (:func:`time_reversal_pairs`), with the exact values along :func:`bond_line` in
    ``point_values`` (for :func:`write_density`)."""
    crystal = ham.basis.crystal
    nk = math.prod(kgrid)
    kfrac, weights = fold_wigner_seitz(monkhorst_pack(kgrid, shift), crystal.reciprocal)
    folded, shared = len(kfrac), weights < (1.0 - 1e-9) / nk  # images of a point on the cell's boundary
    on_boundary = int(round(float(weights[shared].sum()) * nk))
    kfrac, weights = time_reversal_pairs(kfrac, weights)
    log.info("k-grid %s%s: %d grid points; %d of them lie on the Wigner-Seitz cell's boundary and are replaced by "
             "their %d equidistant images (sharing the point's weight), so the sum runs over %d k-points, of which "
             "%d are computed (k and -k once)", "x".join(map(str, kgrid)),
             " (shifted)" if shift else " (Gamma-centred)", nk, on_boundary, int(shared.sum()), folded, len(kfrac))
    points = bond_line(crystal)[1]
    return charge_density(ham, kfrac, weights, n_electrons, fft_grid, points, progress, source, where)


# ----------------------------------------------------------------------------------------- outputs
def plot_density(stem, result: ChargeDensity, crystal, line_s, line_values, bond_length, neighbour, title=""):
    """Left: rho on the plane through the bond (periodic spline of the grid); right: rho along the bond
    by direct summation of the plane waves, with the spline of the grid values dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import patheffects

    from ..output import save_figure

    start, end, _ = bond(crystal)
    u = (end - start) / bond_length
    v = slice_axes(u)
    s = np.linspace(-1.0 * bond_length, 2.0 * bond_length, 181)
    t = np.linspace(-1.5 * bond_length, 1.5 * bond_length, 181)
    ss, tt = np.meshgrid(s, t, indexing="xy")
    plane = start + ss[..., None] * u + tt[..., None] * v
    values = interpolate_periodic(result.rho, result.lattice, plane)

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.6), gridspec_kw={"width_ratios": [1.0, 1.25]})
    image = ax.imshow(values, origin="lower", extent=(s[0], s[-1], t[0], t[-1]), cmap="magma", aspect="equal")
    ax.contour(ss, tt, values, levels=10, colors="w", linewidths=0.4, alpha=0.6)
    fig.colorbar(image, ax=ax, shrink=0.85, label="ρ (e/Bohr³)")
    shifts = np.stack(np.meshgrid(*[np.arange(-3, 4)] * 3, indexing="ij"), -1).reshape(-1, 3)
    images = ((crystal.frac[None, :, :] + shifts[:, None, :]) @ crystal.lattice).reshape(-1, 3) - start
    labels = np.tile(np.array(crystal.atom_species), len(shifts))
    along, across = images @ u, images @ v
    near = (np.abs(images @ np.cross(u, v)) < 0.3) & (along >= s[0]) & (along <= s[-1]) & (across >= t[0]) \
        & (across <= t[-1])
    for a, b, lab in zip(along[near], across[near], labels[near]):
        ax.plot(a, b, "o", ms=5, mfc="c", mec="k", mew=0.6)
        ax.annotate(lab, (a, b), xytext=(4, 4), textcoords="offset points", color="w", fontsize=9,
                    path_effects=[patheffects.withStroke(linewidth=2, foreground="k")], clip_on=True)
    ax.set_xlabel("along the bond (Bohr)")
    ax.set_ylabel("in-plane normal (Bohr)")
    ax.set_title("ρ on the plane through the bond", fontsize=10)

    points = start + line_s[:, None] * u
    bx.plot(line_s, line_values, "k-", lw=1.6, label="direct plane-wave sum")
    bx.plot(line_s, interpolate_periodic(result.rho, result.lattice, points), "C1--", lw=1.2,
            label="spline of the FFT grid")
    for x, lab in ((0.0, crystal.atom_species[0]), (bond_length, crystal.atom_species[neighbour])):
        bx.axvline(x, color="0.5", lw=0.8, ls=":")
        bx.annotate(lab, (x, 1.0), xycoords=("data", "axes fraction"), xytext=(3, -12), textcoords="offset points")
    bx.set_xlabel(f"distance from {crystal.atom_species[0]} along the bond (Bohr)")
    bx.set_ylabel("ρ (e/Bohr³)")
    bx.set_title(f"ρ along the {crystal.atom_species[0]}–{crystal.atom_species[neighbour]} bond "
                 f"({bond_length:.3f} Bohr)", fontsize=10)
    bx.legend(fontsize=8)
    fig.suptitle(title or "valence charge density", fontsize=11)
    fig.tight_layout()
    paths = save_figure(fig, stem)
    plt.close(fig)
    return paths


def write_density(outdir, index: int, result: ChargeDensity, crystal, meta: dict) -> dict:
    """density_X.cube (Bohr, e/Bohr^3), density_X.xsf (Angstrom, e/Angstrom^3), density_X.json (summary)
    and density_X.png/.pdf. ``meta`` is merged into the summary. Returns the summary."""
    import json

    from ..constants import BOHR_PER_ANGSTROM, HARTREE_EV
    from ..output import write_text
    from .volumetric import atomic_number, write_cube, write_xsf

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    numbers = [atomic_number(s) for s in crystal.atom_species]
    charges = [float(valence_electrons(s) or 0) for s in crystal.atom_species]
    positions = (crystal.frac % 1.0) @ crystal.lattice
    label = meta.get("system_name", f"system {index}")
    write_cube(outdir / f"density_{index}.cube", result.rho, result.lattice, numbers, positions, charges,
               comment=f"sepm valence charge density (e/Bohr^3) of {label}: {result.n_electrons} electrons")
    write_xsf(outdir / f"density_{index}.xsf", result.rho * BOHR_PER_ANGSTROM**3, result.lattice, numbers, positions,
              name="density",
              comments=[f"sepm valence charge density of {label}: {result.n_electrons} electrons",
                        "lengths in Angstrom, density in e/Angstrom^3 (periodic general grid, last plane = first)"])
    s, _, length, neighbour = bond_line(crystal)
    line_values = result.point_values
    if line_values is None or len(line_values) != len(s):
        raise ValueError("the density must be computed with points=bond_line(crystal)[1] (see grid_density)")
    plot_density(outdir / f"density_{index}", result, crystal, s, line_values, length, neighbour,
                 title=f"{label}: valence charge density ({result.n_electrons} e)")
    imax = np.unravel_index(np.argmax(result.rho), result.rho.shape)
    top_occ = result.energies[:, result.n_occupied - 1]
    lowest_empty = result.energies[:, result.n_occupied]
    summary = {
        **meta,
        "electrons": result.n_electrons,
        "electrons_integrated": result.integrated_electrons,
        "spinor": result.spinor,
        "occupied_levels": result.n_occupied,
        "electrons_per_level": result.occupancy,
        "n_kpoints_computed": len(result.kfrac),
        "fft_grid": list(result.rho.shape),
        "basis_size": result.basis_size,
        "volume_bohr3": result.volume,
        "rho_min_e_per_bohr3": float(result.rho.min()),
        "rho_max_e_per_bohr3": float(result.rho.max()),
        "rho_max_fractional": [float(j / m) for j, m in zip(imax, result.rho.shape)],
        "rho_max_along_bond_bohr_from_atom0": float(s[np.argmax(line_values)]),
        "bond": [crystal.atom_species[0], crystal.atom_species[neighbour], length],
        "top_occupied_eV": float(top_occ.max() * HARTREE_EV),
        "lowest_empty_eV": float(lowest_empty.min() * HARTREE_EV),
        "gap_on_grid_eV": float((lowest_empty.min() - top_occ.max()) * HARTREE_EV),
        "files": [f"density_{index}.{ext}" for ext in ("cube", "xsf", "png", "pdf")],
        "units": "cube: Bohr, e/Bohr^3; xsf: Angstrom, e/Angstrom^3; energies eV",
    }
    write_text(outdir / f"density_{index}.json", json.dumps(summary, indent=2) + "\n")
    return summary

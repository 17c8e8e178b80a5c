r"""The fit's spin-orbit (a5) and l = 1 nonlocal (a6, a7) terms as atom-centred operators on the dot grid.

The bulk terms (``sepm.terms.spinorbit``, ``sepm.terms.nonlocal_projector``) are, per atom at R,

    <K|V|K'> = (a / Omega) 12 pi e^{-i(K - K').R} R_v(|K|, |K'|) A(K^, K'^),
    R_v(k, k') = int_0^inf r^2 j1(k r) j1(k' r) v(r) dr,

with A = K^.K'^ (nonlocal) or (-i)(K^ x K'^).sigma / 2 (spin-orbit) and the unit radial weights
v(r) = exp(-(r/0.7)^2) (a5), exp(-r^2) (a6), exp(-(r - 1.5)^2) (a7). In real space this is the
semilocal l = 1 operator a sum_m |Y_1m> v(r) <Y_1m| (times L.S for a5): with
e^{-iK.r} = sum_l (-i)^l (2l+1) j_l(kr) P_l(K^.r^), a function f(r) x^_a has
<K|f x^_a> = -4 pi i K^_a int r^2 j1(kr) f(r) dr / sqrt(Omega), and sum_m Y_1m(r^) Y_1m(r^')* =
(3 / 4 pi) r^.r^', so

    V = a (3 / 4 pi) sum_a |v x^_a> <x^_a v|   restricted radially to r = r'   (nonlocal),
    V = a5 (3 / 4 pi) sum_ab |v x^_a> (L.S)_ab <x^_b v|,  (L_c)_ab = -i eps_cab,  S = sigma / 2.

The radial delta r = r' is made separable on the wavenumbers a dot's states hold. Take the spherical
waves phi_n(r) = j1(k_n r) at N_REF wavenumbers k_n evenly spaced on (0, k_max] (default K_MAX =
sqrt(2 x 10 Ha), the dot's kinetic-energy cap) and B_nm = int r^2 phi_n v phi_m dr = R_v(k_n, k_m). The
Kleinman-Bylander form with several reference functions, V_sep = sum_nm |v phi_n> B^-1_nm <v phi_m|,
equals the semilocal operator on span{phi_n Y_1m}; with B = U diag(lambda) U^T (eigenvalues below
RANK_TOL lambda_max dropped) it is sum_i |p_i><p_i|, p_i(r) = v(r) sum_n phi_n(r) U_ni / sqrt(lambda_i).
Its kernel sum_i beta_i(k) beta_i(k'), beta_i(k) = int r^2 j1(kr) p_i dr, matches R_v on [0, k_max]^2
to a relative 1e-8 (:meth:`SeparableChannel.kernel_error`, radial Gauss-Legendre quadrature) with 6
(a5), 8 (a6) and 9 (a7) functions (1e-12 with 8, 10, 12 at RANK_TOL 1e-13); beyond k_max it falls off.

On the grid each p_i x^_a is cut where every |p_i| < CUT_TOL max|p| (3.2, 4.7, 6.0 Bohr), an atom
touches only the grid points within that radius, and <p x^_a|psi> is the grid sum sum_r p x^_a psi dV.
That sum aliases the projectors' Fourier content beyond the grid's wavenumbers: the narrow SOC Gaussian
(0.7 Bohr) needs fine grids. Measured against the bulk terms between plane waves (CsPbI3 checkpoint,
largest element): relative error 6e-2 at h = 0.6 Bohr, 1.6e-3 at 0.5, 4e-8 at 0.4 (``tests/
test_dot_spinor.py``). In a periodic box each atom's projector is the sum of its periodic images (its
stencil is wrapped): the bulk operator on periodic functions.

Build: p_i is tabulated once per channel (step TABLE_STEP) and interpolated (cubic) at every stencil
point, relative error < 1e-9 against the direct Bessel sums; each atom's stencil is sorted by distance, so
each channel takes a prefix of it. Application to a block of two-component states psi (m, 2, N): one
gather of every atom's stencil values per species, per channel one batched real GEMM for the projections
onto p_i x^_a, the strength times 3/(4 pi) (times L.S on (a, spin) for a5), one GEMM back, and one
scatter-add per species. Against tabulating nothing, one stencil radius for all channels and projectors
split into p_i and x^_a (the version of commit 4a91b10), side by side in one run on a 40-atom CsPbI3
supercell, h = 0.5, block of 8, 1 thread: build 7-11x, application 4-9x faster (the spread is the shared
machine's noise); same operator to 4e-9 relative.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, replace

import numpy as np
import torch

from ..constants import NL_SHIFT_CENTER, NL_WIDTH, SOC_WIDTH
from ..terms.radial import spherical_j1

#: Reference wavenumbers of the separable expansion per channel, evenly spaced on (0, K_MAX].
N_REF = 24
#: Default k_max (1/Bohr): sqrt(2 x 10 Hartree), the wavenumber of the dot's kinetic-energy cap.
K_MAX = math.sqrt(2.0 * 10.0)
#: Eigenvalues of B below this fraction of the largest are dropped.
RANK_TOL = 1e-8
#: A projector is cut where all its radial functions fall below this fraction of their maximum.
CUT_TOL = 1e-6
#: Step (Bohr) of the table the projectors are interpolated from (cubic: relative error ~ 1e-10 at k_max).
TABLE_STEP = 2e-3
#: Radial quadrature (Gauss-Legendre) for B and the kernel check.
RADIAL_NODES, R_MAX = 600, 12.0

#: The channels: coefficient column of params, unit radial weight v(r).
CHANNELS = {
    "a5": (5, lambda r: torch.exp(-((r / SOC_WIDTH) ** 2))),
    "a6": (6, lambda r: torch.exp(-((r / NL_WIDTH) ** 2))),
    "a7": (7, lambda r: torch.exp(-((r - NL_SHIFT_CENTER) ** 2))),
}


def _radial_quadrature():
    x, w = np.polynomial.legendre.leggauss(RADIAL_NODES)
    return torch.as_tensor(0.5 * R_MAX * (x + 1.0)), torch.as_tensor(0.5 * R_MAX * w)


@dataclass
class SeparableChannel:
    """sum_i p_i(r) p_i(r') on l = 1, replacing v(r) delta(r - r') / r^2 for |k| <= k_max."""

    name: str
    k_ref: torch.Tensor         # (n,)
    coefficients: torch.Tensor  # (n, rank): p_i = v(r) sum_n j1(k_n r) C_ni
    cut: float
    table: torch.Tensor | None = None   # p_i at r = (j - 1) TABLE_STEP, j = 0 .. cut / TABLE_STEP + 3

    @classmethod
    def build(cls, name: str, k_max: float) -> "SeparableChannel":
        v = CHANNELS[name][1]
        r, w = _radial_quadrature()
        k_ref = torch.linspace(0.0, k_max, N_REF + 1, dtype=torch.float64)[1:]
        phi = spherical_j1(k_ref[:, None] * r)
        lam, U = torch.linalg.eigh((phi * (w * r**2 * v(r))) @ phi.T)
        keep = lam > RANK_TOL * lam.max()
        channel = cls(name, k_ref, U[:, keep] / lam[keep].sqrt(), R_MAX)
        size = channel.radial(r).abs().amax(dim=1)
        outside = torch.nonzero(size >= CUT_TOL * size.max()).max()
        channel.cut = float(r[min(int(outside) + 1, len(r) - 1)])
        channel.table = channel.radial(torch.arange(-1, channel.cut / TABLE_STEP + 3, dtype=torch.float64) * TABLE_STEP,
                                       cut=False)
        return channel

    @property
    def rank(self) -> int:
        return self.coefficients.shape[1]

    def radial(self, r: torch.Tensor, cut: bool = True) -> torch.Tensor:
        """p_i(r), (len(r), rank); zero beyond the cut radius unless ``cut`` is False."""
        v = CHANNELS[self.name][1](r)
        p = (v[:, None] * spherical_j1(r[:, None] * self.k_ref.to(r.device))) @ self.coefficients.to(r.device)
        return torch.where((r <= self.cut)[:, None], p, 0.0) if cut else p

    def interpolate(self, r: torch.Tensor) -> torch.Tensor:
        """p_i(r), (*r.shape, rank), by cubic Lagrange interpolation in the table; zero beyond the cut."""
        x = r / TABLE_STEP
        j = x.floor().to(torch.int64).clamp(0, len(self.table) - 4)
        t = (x - j)[..., None]
        table = self.table.to(r.device)
        p = (-t * (t - 1) * (t - 2) / 6 * table[j] + (t + 1) * (t - 1) * (t - 2) / 2 * table[j + 1]
             - (t + 1) * t * (t - 2) / 2 * table[j + 2] + (t + 1) * t * (t - 1) / 6 * table[j + 3])
        return torch.where((r <= self.cut)[..., None], p, 0.0)

    def kernel_error(self, k: torch.Tensor) -> float:
        """max |sum_i beta_i(k) beta_i(k') - R_v(k, k')| / max |R_v| over the given wavenumbers."""
        r, w = _radial_quadrature()
        jk = spherical_j1(k[:, None] * r) * (w * r**2)
        exact = (jk * CHANNELS[self.name][1](r)) @ spherical_j1(k[:, None] * r).T
        beta = jk @ self.radial(r)
        return float((beta @ beta.T - exact).abs().max() / exact.abs().max())


def spin_orbit_matrix() -> torch.Tensor:
    """(L.S) on p_x p_y p_z x (up, down): (6, 6) complex, index 2 a + s; (L_c)_ab = -i eps_cab."""
    eps = torch.zeros((3, 3, 3), dtype=torch.complex128)
    for c, a, b in ((0, 1, 2), (1, 2, 0), (2, 0, 1)):
        eps[c, a, b], eps[c, b, a] = 1.0, -1.0
    sigma = torch.tensor([[[0, 1], [1, 0]], [[0, -1j], [1j, 0]], [[1, 0], [0, -1]]], dtype=torch.complex128)
    return torch.einsum("cab,cst->asbt", -1j * eps, 0.5 * sigma).reshape(6, 6)


def channel_strengths(pseudopotential) -> dict[str, dict[str, float]]:
    """{channel: {symbol: coefficient}} of the terms the pseudopotential enables (SOC: a5; NL: a6, a7)."""
    params = pseudopotential.params.detach().cpu().numpy()
    names = (["a5"] if pseudopotential.soc else []) + (["a6", "a7"] if pseudopotential.nonlocal_ else [])
    return {n: {s: float(p[CHANNELS[n][0]]) for s, p in zip(pseudopotential.species, params)} for n in names}


@dataclass
class _Channel:
    """One channel of one species: its projectors on the first ``points`` stencil points of every atom."""

    projectors: torch.Tensor   # (atoms, points, 3 rank) p_i(|r - R|) x^_a dV^(1/2), index 3 i + a; 0 outside
    strength: float            # the coefficient times 3 / (4 pi)
    spin_orbit: bool


@dataclass
class _Block:
    """One species: the flat grid indices of every atom's stencil (nearest points first) and its channels."""

    index: torch.Tensor        # (atoms, points)
    channels: list[_Channel]


class AtomProjectors:
    """The SOC + NL operator of a set of atoms on a grid; ``apply(psi)`` for psi (m, 2, N) complex.

    ``strengths``: {channel: {symbol: coefficient}}; species whose coefficients are all zero get no
    projectors. ``k_max``: the wavenumbers on which the separable form equals the semilocal one.
    ``periodic``: wrap every stencil (a periodic supercell); otherwise stencil points outside the box are
    dropped (a dot in vacuum).

    Each species has one stencil per atom, its points sorted by distance from the atom's nearest grid
    point, so every channel uses a prefix of it (the SOC channel's 3.2 Bohr a sixth of the a7 channel's
    6 Bohr): one gather and one scatter per species, each channel's GEMMs only over its own radius."""

    def __init__(self, grid, symbols, positions: np.ndarray, strengths: dict[str, dict[str, float]],
                 k_max: float = K_MAX, periodic: bool = False, device="cpu"):
        self.grid = grid
        self._recipe = dict(symbols=symbols, positions=positions, strengths=strengths, k_max=k_max, periodic=periodic,
                            device=device)
        self.channels = {n: SeparableChannel.build(n, k_max) for n in strengths}
        symbols = np.asarray(symbols)
        self.blocks: list[_Block] = []
        self.record = {"k_max": k_max, "rank": {n: c.rank for n, c in self.channels.items()},
                       "cut_radius_bohr": {n: c.cut for n, c in self.channels.items()}, "species": {}}
        for s in sorted(set(symbols.tolist())):
            used = [n for n in self.channels if strengths[n].get(s, 0.0) != 0.0]
            if not used:
                continue
            cuts = [self.channels[n].cut for n in used]
            idx, xhat, dist, inside, counts = stencils(grid, positions[symbols == s], cuts, periodic, device)
            channels = []
            for n, count in zip(used, counts):
                p = self.channels[n].interpolate(dist[:, :count]) * (inside[:, :count, None] * grid.volume_element**0.5)
                p = (p[..., :, None] * xhat[:, :count, None, :]).reshape(*p.shape[:2], -1)
                channels.append(_Channel(p, float(strengths[n][s]) * 3.0 / (4.0 * math.pi), n == "a5"))
            self.blocks.append(_Block(idx[:, :max(counts)], sorted(channels, key=lambda c: -c.projectors.shape[1])))
            self.record["species"][s] = {"channels": used, "atoms": int(idx.shape[0]),
                                         "points": dict(zip(used, counts)),
                                         "projectors_per_atom": sum(3 * self.channels[n].rank for n in used)}
        self._ls = spin_orbit_matrix().to(device)

    def on_grid(self, grid) -> "AtomProjectors":
        """The same atoms and terms on another grid (a coarse one), in this operator's precision."""
        return AtomProjectors(grid, **self._recipe).to(self._ls.real.dtype)

    def to(self, dtype: torch.dtype) -> "AtomProjectors":
        """This operator for states of real ``dtype`` (float32: complex64 states, float64: complex128)."""
        out = copy.copy(self)
        out.blocks = [_Block(b.index, [replace(c, projectors=c.projectors.to(dtype)) for c in b.channels])
                      for b in self.blocks]
        out._ls = self._ls.to(torch.complex64 if dtype == torch.float32 else torch.complex128)
        return out

    def apply(self, psi: torch.Tensor) -> torch.Tensor:
        """V psi for psi (m, 2, N) complex, in the precision of :meth:`to` (complex128 as built)."""
        m = psi.shape[0]
        flat_out = psi.new_zeros((psi.shape[-1], m * 4), dtype=self._ls.real.dtype)   # (N, m 2 2)
        flat_in = torch.view_as_real(psi).permute(2, 0, 1, 3).reshape(-1, m * 4)
        for b in self.blocks:
            g = flat_in.index_select(0, b.index.reshape(-1)).reshape(*b.index.shape, -1)   # (atoms, points, m 2 2)
            back = None
            for ch in b.channels:                                              # widest first
                n_at, n_pt, cols = ch.projectors.shape
                c = torch.bmm(ch.projectors.transpose(1, 2), g[:, :n_pt])       # (atoms, 3 rank, m 2 2)
                if ch.spin_orbit:                                              # (L.S)_(a s),(b t) on (m, rank)
                    z = torch.view_as_complex(c.reshape(n_at, cols // 3, 3, m, 2, 2).permute(0, 1, 3, 2, 4, 5)
                                              .contiguous()).reshape(n_at, cols // 3, m, 6)
                    z = (ch.strength * z) @ self._ls.T
                    c = torch.view_as_real(z.reshape(n_at, cols // 3, m, 3, 2)).permute(0, 1, 3, 2, 4, 5)
                    c = c.reshape(n_at, cols, m * 4)
                else:
                    c = ch.strength * c
                if back is None:
                    back = torch.bmm(ch.projectors, c)
                else:
                    back[:, :n_pt] += torch.bmm(ch.projectors, c)
            flat_out.index_add_(0, b.index.reshape(-1), back.reshape(-1, m * 4))
        return torch.view_as_complex(flat_out.reshape(-1, m, 2, 2).permute(1, 2, 0, 3).contiguous())


def stencil_offsets(grid, cut: float, device="cpu") -> torch.Tensor:
    """Integer offsets (points, 3) from an atom's nearest grid point that can lie within ``cut`` of the atom
    (|offset h| <= cut + |h| / 2, the atom being at most half a cell diagonal from that point), nearest first:
    the offsets of a smaller cut are a prefix."""
    h = torch.as_tensor(grid.spacing, device=device)
    reach = np.ceil(cut / grid.spacing).astype(int) + 1
    offsets = torch.stack(torch.meshgrid(*[torch.arange(-m, m + 1, device=device) for m in reach], indexing="ij"),
                          -1).reshape(-1, 3)
    norm = torch.linalg.norm(offsets * h, dim=1)
    order = torch.argsort(norm, stable=True)
    offsets, norm = offsets[order], norm[order]
    return offsets[norm <= cut + 0.5 * float(np.linalg.norm(grid.spacing))]


def stencils(grid, R: np.ndarray, cut, periodic: bool, device):
    """For atoms at R: flat grid indices (atoms, points) of the grid points within ``cut``, nearest first,
    the unit vectors x^ from the atom, the distances, and the in-box mask (always true when periodic:
    wrapped). ``cut`` a list of radii: the largest is used and the point counts of each come fifth."""
    cuts = [cut] if np.ndim(cut) == 0 else list(cut)
    h = torch.as_tensor(grid.spacing, device=device)
    origin = torch.as_tensor(grid.origin, device=device)
    shape = torch.as_tensor(grid.shape, device=device)
    offsets = stencil_offsets(grid, max(cuts), device)
    R = torch.as_tensor(R, dtype=torch.float64, device=device)
    idx = torch.round((R - origin) / h).to(torch.int64)[:, None, :] + offsets[None]
    diff = idx * h + origin - R[:, None, :]
    dist = torch.linalg.norm(diff, dim=-1)
    xhat = diff / dist.clamp_min(1e-12)[..., None]
    if periodic:
        inside = torch.ones_like(dist, dtype=torch.bool)
        idx = idx % shape
    else:
        inside = ((idx >= 0) & (idx < shape)).all(dim=-1)
        idx = torch.where(inside[..., None], idx, 0)
    inside = inside & (dist <= max(cuts))
    strides = torch.as_tensor([grid.shape[1] * grid.shape[2], grid.shape[2], 1], device=device)
    out = ((idx * strides).sum(-1), xhat, dist, inside)
    if np.ndim(cut) == 0:
        return out
    return out + ([len(stencil_offsets(grid, c, device)) for c in cuts],)

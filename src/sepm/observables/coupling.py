r"""Electron-phonon coupling of the band edges (SPEC section 4), an observable beside the band loss.

For atom alpha, Cartesian direction gamma, phonon wavevector q and band edge e in {vb, cb}:

    M_mn = < psi_m(k_g) | dV / dtau_{alpha gamma}(q) | psi_n(k') >,   k' = k_g + q - G0,

    g = sqrt( (1 / (n_L n_R)) sum_{m in D_e(k_g)} sum_{n in D_e(k')} |M_mn|^2 ) * 27.2114   (eV/Bohr),

k_g the k-point idxGap, k' the k-point of kpoints_X.par equal to k_g + q up to a reciprocal-lattice
vector G0, D_vb the states degenerate (|dE| < 1e-5 Ha) with level idxVB going down, D_cb those
with idxCB going up, at each k separately. g depends only on the spectral projectors of D_e, so it is
unchanged by any unitary rotation inside a degenerate subspace (EPW's average). ``average =
"mean_abs"`` gives DeepPseudopot's (1/(n_L n_R)) sum |M_mn| instead, which is *not* gauge invariant:
it changes when the degenerate eigenvectors are rotated, so it is offered for comparison with the
original's numbers only.

Plane waves K_i = k_g + G_i (bra) and K'_j = k' + G_j (ket, the basis at k'), transfer
dK_ij = K_i - K'_j = G_i - G_j - q + G0. Working in the k' basis is the re-indexing of psi_n by G0
without truncation: the plane wave k_g + q + G of the ket is k' + (G + G0), the phonon pattern
e^{i q.R} is the same for q and q - G0, so both q give the same M. With sepm's structure-factor sign
(V_ij = sum_a e^{+i (G_i - G_j) . tau_a} v(|G_i - G_j|) / Omega) the derivative of every term of atom
alpha is i dK_gamma times that atom's part of the (rectangular) Hamiltonian between the two bases:

    local:  i dK_g e^{i dK.tau} v_alpha(|dK|) / Omega              (v with the a4 tail when used; both spin blocks)
    SO:     i dK_g e^{i dK.tau} a5 / Omega (12 pi / (|K_i||K'_j|)) R_0.7(|K_i|, |K'_j|) (-i) [(K_i x K'_j) . sigma / 2]
    NL:     i dK_g e^{i dK.tau} / Omega (12 pi / (|K_i||K'_j|)) (K_i . K'_j) [a6 R_1.0 + a7 Q](|K_i|, |K'_j|)

(zero where |K_i| or |K'_j| is 0). At q = 0 this is exactly dH(k)/dtau; at q != 0 it is
sum_R e^{i q.R} dH/dtau_{alpha,R} of a supercell, restricted to the two blocks (both checked by finite
differences of the Hamiltonian in the tests). The phase factorizes, e^{i dK.tau} = e^{i K.tau}
e^{-i K'.tau}, so it is folded into the eigenvectors and the geometry is shared by all atoms.

Gradients. g is a function of the projectors of the degenerate sets, which are smooth in the
parameters while the sets keep their members, although the individual eigenvectors are not. The
eigenvectors come from :class:`_EdgeVectors`, whose backward is first-order perturbation theory
restricted to states outside the set: dpsi_m = sum_{l not in D} psi_l <l|dH|m> / (E_m - E_l). The
part inside D (a rotation among degenerate states, ill-defined there) is left out; it does not change
the projector, so the gradient of g is exact (checked against finite differences of the loss). The
potential derivative itself is differentiated by autograd (network weights, a0..a4, a5..a7). Holding the
eigenvectors fixed (Hellmann-Feynman style) would miss the eigenvector response and is not used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..choices import COUPLING_AVERAGES as AVERAGES  # gauge-invariant rms, or DeepPseudopot's mean |M|
from ..constants import HARTREE_EV, NL_SHIFT_CENTER, NL_WIDTH, SOC_WIDTH
from ..eigensolver import lowest_eigenpairs
from ..terms.radial import gaussian_radial_from, shifted_gaussian_radial_matrix

#: Band edges, in the order of the last axis of every coupling array.
EDGES = ("vb", "cb")
#: States within this many Hartree of the edge state belong to its degenerate set (EPW's 0.01 meV).
DEGENERACY_HA = 1e-5
#: Relative resolution deciding that two |dK|^2 values are equal (the form factor is evaluated once).
_SHELL_DIGITS = 9


def edge_set(energies: np.ndarray, level: int, step: int, tol: float = DEGENERACY_HA) -> list[int]:
    """Levels degenerate with ``level`` (within ``tol`` Hartree), walking in direction ``step`` (-1 down, +1 up)
    from it and stopping at the first level that is not."""
    out, i = [level], level + step
    while 0 <= i < len(energies) and abs(energies[i] - energies[level]) < tol:
        out.append(i)
        i += step
    return sorted(out)


class _EdgeVectors(torch.autograd.Function):
    """Eigenvectors of the levels ``index`` of a Hermitian ``h`` whose full eigendecomposition is (w, v);
    backward without the in-set rotation."""

    @staticmethod
    def forward(ctx, h, index, w, v):
        inside = torch.zeros(w.shape[0], dtype=torch.bool, device=w.device)
        inside[list(index)] = True
        ctx.save_for_backward(w, v, inside)
        return v[:, inside]

    @staticmethod
    def backward(ctx, grad):
        w, v, inside = ctx.saved_tensors
        v_in, v_out = v[:, inside], v[:, ~inside]
        denominator = w[inside][None, :] - w[~inside][:, None]  # E_m - E_l, (outside, inside)
        y = (v_out.mH @ grad) / denominator
        return v_out @ y @ v_in.mH, None, None, None


def edge_states(h: torch.Tensor, levels: dict, need_grad: bool):
    """{edge: (vectors (dim, n_e), energies (n_e,) Hartree)} at one k for the edge levels ``levels``
    ({edge: level}); the degenerate sets are found from the spectrum. ``need_grad``: vectors that carry
    the gauge-free gradient of :class:`_EdgeVectors` (full eigendecomposition)."""
    with torch.no_grad():
        if need_grad:
            w, v = torch.linalg.eigh(h.detach())
        else:  # the lowest levels only, enough to close the conduction-band set
            n = min(h.shape[-1], max(levels.values()) + 9)
            while True:
                w, v = (t[0].to(h.device) for t in lowest_eigenpairs(h.detach()[None], n))
                top = edge_set(w.cpu().numpy(), levels["cb"], +1)[-1] if "cb" in levels else 0
                if n == h.shape[-1] or top < n - 1:
                    break
                n = min(h.shape[-1], 2 * n)
    energies = w.cpu().numpy()
    out = {}
    for edge, level in levels.items():
        index = edge_set(energies, level, -1 if edge == "vb" else +1)
        vectors = _EdgeVectors.apply(h, tuple(index), w, v) if need_grad else v[:, index]
        out[edge] = (vectors, w[index])
    return out


def _shells(q2: torch.Tensor):
    """Distinct values of ``q2`` (any shape) and the index of each entry: (|q| unique, inverse); each distinct
    value is one member's exact |q| (members differ by rounding only)."""
    scale = float(q2.max()) or 1.0
    keys = torch.round(q2 / scale * 10**_SHELL_DIGITS).to(torch.int64)
    unique, inverse = torch.unique(keys, return_inverse=True)
    member = torch.zeros(len(unique), dtype=q2.dtype, device=q2.device).scatter_(0, inverse.flatten(), q2.flatten())
    return torch.sqrt(member), inverse


@dataclass
class DerivativeGeometry:
    """Parameter-independent parts of dV/dtau between the bases at k (rows) and k' (columns)."""

    kg: torch.Tensor  # (N, 3) K_i = k + G_i
    kgp: torch.Tensor  # (N, 3) K'_j = k' + G_j
    dk: torch.Tensor  # (3, N, N) K_i - K'_j, component first
    q_unique: torch.Tensor  # distinct |dK|
    q_index: torch.Tensor  # (N, N) index into q_unique
    so: torch.Tensor | None = None  # (3, N, N) (12 pi R_0.7 / (|K||K'|)) (K_i x K'_j)_c / 2
    nl: torch.Tensor | None = None  # (2, N, N) 12 pi (K_i . K'_j) / (|K||K'|) times R_1.0 and Q

    @classmethod
    @torch.no_grad()
    def build(cls, basis, k: torch.Tensor, kp: torch.Tensor, soc: bool, nonlocal_: bool) -> "DerivativeGeometry":
        kg, kgp = k[None, :] + basis.G, kp[None, :] + basis.G
        dk = (kg[:, None, :] - kgp[None, :, :]).permute(2, 0, 1).contiguous()
        q_unique, q_index = _shells((dk**2).sum(0))
        geo = cls(kg, kgp, dk, q_unique, q_index)
        if soc or nonlocal_:
            n, m = torch.linalg.vector_norm(kg, dim=1), torch.linalg.vector_norm(kgp, dim=1)
            product = n[:, None] * m[None, :]
            prefactor = torch.where(product > 0, 12.0 * torch.pi / product.clamp_min(1e-300), 0.0)
            diff2 = (n[:, None] - m[None, :]) ** 2
            if soc:
                radial = gaussian_radial_from(product.clone(), diff2, SOC_WIDTH) * prefactor * 0.5
                a, b = kg[:, None, :], kgp[None, :, :]
                geo.so = torch.linalg.cross(a.expand(-1, len(m), -1), b.expand(len(n), -1, -1), dim=-1) \
                    .permute(2, 0, 1) * radial
            if nonlocal_:
                angular = (kg @ kgp.T) * prefactor
                geo.nl = torch.stack([gaussian_radial_from(product.clone(), diff2, NL_WIDTH) * angular,
                                      shifted_gaussian_radial_matrix(n, m, center=NL_SHIFT_CENTER) * angular])
        return geo


def matrix_elements(basis, pp, geo: DerivativeGeometry, bra: torch.Tensor, ket: torch.Tensor,
                    spinor: bool) -> torch.Tensor:
    """M[a, gamma, m, n] = <bra_m| dV/dtau_{a gamma} |ket_n> (Hartree/Bohr) for every atom a; bra (dim, n_L) in
    the basis at k, ket (dim, n_R) at k', dim = N or 2N (spin-up block first). Each geometry matrix meets the
    phase-folded kets of all atoms (of its species) in one product."""
    n, volume = basis.size, basis.volume
    nspin, n_r = (2 if spinor else 1), ket.shape[-1]
    tau = torch.as_tensor(basis.crystal.positions, dtype=torch.float64, device=bra.device)
    species = basis.crystal.species_index
    natoms = len(species)
    bra_a = bra.reshape(1, nspin, n, -1) * torch.exp(-1j * (tau @ geo.kg.T))[:, None, :, None]  # (A, spin, N, n_L)
    ket_a = ket.reshape(1, nspin, n, n_r) * torch.exp(-1j * (tau @ geo.kgp.T))[:, None, :, None]
    v = pp.total_local_form_factor(geo.q_unique)  # (n_q, n_species)
    params = pp.params
    groups = [np.flatnonzero(species == s) for s in range(basis.n_species) if np.any(species == s)]
    order = torch.as_tensor(np.argsort(np.concatenate(groups)), device=bra.device)
    scalars = []
    for atoms in groups:
        s = int(species[atoms[0]])
        scalar = v[:, s][geo.q_index]
        if geo.nl is not None and pp.nonlocal_:
            scalar = scalar + params[s, 6] * geo.nl[0] + params[s, 7] * geo.nl[1]
        scalars.append(scalar / volume)
    a5 = params[torch.as_tensor(species, device=bra.device), 5] / volume
    cols = ket_a.permute(2, 0, 1, 3).reshape(n, -1)  # (N, A spin n_R), atom-major
    group_cols = [ket_a[atoms].permute(2, 0, 1, 3).reshape(n, -1) for atoms in groups]
    rows = []
    for g in range(3):
        # local + NL (spin-diagonal): i dK_g (v_s + a6 R1 + a7 Q) / Omega, one product per species
        z = torch.cat([(1j * geo.dk[g] * scalar) @ c for c, scalar in zip(group_cols, scalars)], 1)
        z = z.reshape(n, natoms, nspin, n_r)[:, order]
        if spinor and geo.so is not None and pp.soc:
            # SO: i dK_g (-i)(C . sigma)/2 a5 / Omega = dK_g a5 / Omega (radial/2) [[Cz, Cx - iCy], [Cx + iCy, -Cz]]
            tx, ty, tz = ((geo.dk[g] * geo.so[c]).to(torch.complex128) @ cols for c in range(3))
            tx, ty, tz = (t.reshape(n, natoms, 2, n_r) for t in (tx, ty, tz))
            up = tz[:, :, 0] + tx[:, :, 1] - 1j * ty[:, :, 1]
            down = tx[:, :, 0] + 1j * ty[:, :, 0] - tz[:, :, 1]
            z = z + torch.stack([up, down], 2) * a5[None, :, None, None]
        rows.append(torch.einsum("asim,iasn->amn", bra_a.conj(), z))
    return torch.stack(rows, 1)


def average(m: torch.Tensor, how: str = "rms") -> torch.Tensor:
    """Degenerate-set average over the last two axes of M, in eV/Bohr."""
    n = m.shape[-1] * m.shape[-2]
    if how == "rms":
        square = (m.real**2 + m.imag**2).sum((-1, -2)) / n
        # an exactly vanishing coupling (an atom with v = 0) gets 0 and a zero gradient, not NaN
        return torch.where(square > 0, torch.sqrt(square.clamp_min(1e-300)), 0.0) * HARTREE_EV
    if how == "mean_abs":
        return m.abs().sum((-1, -2)) / n * HARTREE_EV
    raise ValueError(f"unknown coupling average {how!r}; use one of {AVERAGES}")

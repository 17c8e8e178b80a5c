r"""Couplings of one bundle system: every atom, direction x y z, q-point of qpoints_X.par and edge, and the
coupling loss  sum_{atom, gamma, q, edge} w_q (g - g_ref)^2  (eV/Bohr)^2 over the targets of
expCoupling_X.par (``Not-fit`` entries left out).

Band levels. idxVB / idxCB are levels as in DeepPseudopot (:mod:`sepm.io.band_index`): with SOC level b
of the 2N spectrum; without SOC spatial level b, and the degenerate sets are sets of spatial (spinless)
states. (An SOC calculation with a5 = 0 doubles both
sets and gives g / sqrt(2), since M is spin-diagonal.) Levels are counted in energy order; an order
matrix (kpoints_X_orderMatrix.par) does not apply. The eigenvectors are computed from the current
parameters at every evaluation.
"""

from __future__ import annotations

import numpy as np
import torch

from .coupling import EDGES, DerivativeGeometry, average, edge_states, matrix_elements


class SystemCouplings:
    """Coupling evaluator of one system (``spec`` a :class:`sepm.io.SystemSpec` with ``couplings``) on the
    Hamiltonian ``ham`` (its basis and pseudopotential)."""

    def __init__(self, ham, spec, how: str = "rms"):
        self.ham, self.spec, self.how = ham, spec, how
        self.inputs = spec.couplings
        if self.inputs is None:
            raise ValueError(f"system {spec.index} has no qpoints_{spec.index}.par")
        s = spec.settings
        self.kgap = int(s["idxGap"])
        self.levels = {"vb": int(s["idxVB"]), "cb": int(s["idxCB"])}
        self._geometry: dict[int, DerivativeGeometry] = {}

    @property
    def reference(self) -> torch.Tensor | None:
        ref = self.inputs.reference
        return None if ref is None else torch.as_tensor(ref, device=self.ham.basis.G.device)

    def geometry(self, kp: int) -> DerivativeGeometry:
        """Parameter-independent derivative geometry between k_g and k-point ``kp`` (kept)."""
        if kp not in self._geometry:
            k = self.ham.basis.kpoints(self.spec.kpoints[[self.kgap, kp]])
            pp = self.ham.pseudopotential
            self._geometry[kp] = DerivativeGeometry.build(self.ham.basis, k[0], k[1], pp.soc and self.ham.spinor,
                                                          pp.nonlocal_)
        return self._geometry[kp]

    def states(self, need_grad: bool = False) -> dict:
        """{k-point index: {edge: (vectors, energies)}} at k_g and every partner k' (current parameters)."""
        needed = sorted({self.kgap, *map(int, self.inputs.partner)})
        h = self.ham.matrices(self.ham.basis.kpoints(self.spec.kpoints[needed]))
        return {kp: edge_states(h[i], self.levels, need_grad) for i, kp in enumerate(needed)}

    def matrix_elements(self, need_grad: bool = False) -> list:
        """Per q-point {edge: M (n_atoms, 3, n_L, n_R)} in Hartree/Bohr."""
        states = self.states(need_grad)
        out = []
        for kp in self.inputs.partner:
            kp = int(kp)
            geo = self.geometry(kp)
            out.append({e: matrix_elements(self.ham.basis, self.ham.pseudopotential, geo, states[self.kgap][e][0],
                                           states[kp][e][0], self.ham.spinor) for e in EDGES})
        return out

    def values(self, need_grad: bool = False, how: str | None = None) -> torch.Tensor:
        """g (n_atoms, 3, nq, 2) in eV/Bohr, edges (vb, cb); differentiable with ``need_grad``."""
        how = how or self.how
        with torch.set_grad_enabled(need_grad):
            per_q = self.matrix_elements(need_grad)
            return torch.stack([torch.stack([average(m[e], how) for e in EDGES], -1) for m in per_q], 2)

    def loss(self, values: torch.Tensor) -> torch.Tensor:
        """sum w_q (g - g_ref)^2 over the targets given (0 without expCoupling_X.par)."""
        ref = self.reference
        if ref is None:
            return values.sum() * 0.0
        w = torch.as_tensor(self.inputs.qweights, device=values.device)[None, None, :, None]
        given = torch.isfinite(ref)
        diff = torch.where(given, values - torch.nan_to_num(ref), 0.0)
        return (w * diff**2).sum()


def coupling_rmse(values: torch.Tensor, reference) -> float:
    """Unweighted RMS deviation (eV/Bohr) over the targets given."""
    ref = torch.as_tensor(np.asarray(reference), dtype=values.dtype)
    given = torch.isfinite(ref)
    return float(torch.sqrt(((values.detach().cpu() - ref)[given] ** 2).mean())) if given.any() else float("nan")


def write_system_couplings(path, couplings: SystemCouplings, title: str) -> torch.Tensor:
    """couplingBands_X.dat of one system (the layout of expCoupling_X.par, with a header); returns the values."""
    from ..io.coupling_files import format_couplings
    from ..output import write_text

    spec, inputs = couplings.spec, couplings.inputs
    values = couplings.values().cpu()
    kind = "root mean square over the degenerate states (gauge invariant)" if couplings.how == "rms" else \
        "mean |M| over the degenerate states (DeepPseudopot's definition; changes with the basis chosen inside a " \
        "degenerate subspace)"
    k = spec.kpoints[couplings.kgap]
    header = [f"{title}: system {spec.index} ({spec.name}); electron-phonon couplings g in eV/Bohr, {kind}",
              f"<psi_m(k_gap)| dV/dtau_(atom, x|y|z)(q) |psi_n(k_gap + q)>, k_gap = k-point {couplings.kgap} "
              f"({' '.join(f'{v:g}' for v in k)}); edges: {'spinor' if couplings.ham.spinor else 'spatial'} "
              f"levels idxVB = {spec.settings['idxVB']} (down) and idxCB = {spec.settings['idxCB']} (up), degenerate "
              "within 1e-5 Ha"]
    for i, (q, kp, g0) in enumerate(zip(inputs.qpoints, inputs.partner, inputs.umklapp)):
        umklapp = f" - G0 ({' '.join(map(str, g0))})" if np.any(g0) else ""
        header.append(f"column {i + 1}: q = ({' '.join(f'{v:g}' for v in q)}), weight {inputs.qweights[i]:g}; "
                      f"k_gap + q{umklapp} = k-point {kp}")
    if inputs.reference is not None:
        header.append(f"RMS deviation from {inputs.reffile.name}: {coupling_rmse(values, inputs.reference):.6g} eV/Bohr; "
                      f"weighted loss {float(couplings.loss(values)):.6g} (eV/Bohr)^2")
    write_text(path, format_couplings(values.numpy(), spec.atom_species, spec.frac, header))
    return values

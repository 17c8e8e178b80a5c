r"""Radial tables v(r) and form factors v(q), both ways.

Forward (fitted v(q) -> client grid): :func:`tables_from_form_factor` uses sepm's converged spherical
transform (:func:`sepm.export.converge_realspace`), v(r) = (1/2 pi^2) ∫ q^2 v(q) j0(q r) dq.

Back (a real-space library -> v(q)): the client uses v(r) - v(r_last) on [0, r_last] and 0 beyond, so
that is the function transformed,

    v(q) = 4 pi ∫_0^{r_last} r^2 [v(r) - v(r_last)] j0(q r) dr,

by composite Simpson quadrature on the file's own uniform grid (one matrix product per call,
:class:`LibraryFormFactor`). With dr = pi/125 Bohr the integrand r^2 v j0(qr) has >= 25 points per
oscillation up to q = 10 1/Bohr. The round trip v(q) -> v(r) on the client grid -> v(q) is measured in
``tests/test_nanocrystal_files.py`` (a few 1e-6 of max|v(q)| for the GaAs fit's potential).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.integrate import simpson

from ..export import converge_realspace
from .potfiles import DEFAULT_DR, DEFAULT_ROWS, RadialTable


def simpson_weights(n: int, dr: float) -> np.ndarray:
    """Weights w with sum_i w_i f(i dr) = scipy's composite Simpson rule on n uniform points."""
    return simpson(np.eye(n), dx=dr, axis=1)


class LibraryFormFactor:
    """v(q) of radial tables (one per species, in ``species`` order): q (nq,) -> (nq, n_species)."""

    def __init__(self, tables: dict[str, RadialTable], species):
        self.species = tuple(species)
        missing = [s for s in self.species if s not in tables]
        if missing:
            raise KeyError(f"no radial table for {missing}")
        dr = {round(tables[s].dr, 12) for s in self.species}
        n = {len(tables[s].v) for s in self.species}
        if len(dr) != 1 or len(n) != 1:
            raise ValueError("the tables of one library must share their r grid")
        first = tables[self.species[0]]
        self.r = torch.as_tensor(first.r)
        w = torch.as_tensor(simpson_weights(len(first.v), first.dr))
        shifted = np.stack([tables[s].v - tables[s].v[-1] for s in self.species], axis=1)
        # 4 pi w_i r_i^2 (v_i - v_last): the q-independent part of the integrand, (nr, n_species).
        self.weighted = 4.0 * math.pi * (w * self.r**2)[:, None] * torch.as_tensor(shifted)

    def __call__(self, q: torch.Tensor) -> torch.Tensor:
        q = torch.as_tensor(q, dtype=torch.float64)
        kernel = torch.special.spherical_bessel_j0(q.reshape(-1, 1) * self.r.to(q.device)[None, :])
        return kernel @ self.weighted.to(q.device)


def tables_from_form_factor(vq, species, rows: int = DEFAULT_ROWS, dr: float = DEFAULT_DR) -> tuple[dict, dict]:
    """v(r) of every species of ``vq`` on the grid r_i = i dr, i < rows: ({symbol: RadialTable}, record).

    The record is :func:`converge_realspace`'s (qmax, nq, max_change, converged, ...) without the values.
    """
    r = torch.arange(rows, dtype=torch.float64) * dr
    result = converge_realspace(vq, r)
    v = result.pop("v").numpy()
    tables = {s: RadialTable(s, dr, v[:, i].copy()) for i, s in enumerate(species)}
    return tables, result


def library_pseudopotential(folder, bundle, device="cpu"):
    """The bundle's pseudopotential with its local part (a0-a3 and the a4 tail) replaced by the real-space
    library in ``folder`` (``pot<Sym>.par`` per species); SOC and NL coefficients stay the bundle's."""
    from ..pseudopotential import Pseudopotential
    from .potfiles import read_library

    tables = read_library(folder, bundle.species)
    pp = Pseudopotential.from_bundle(bundle, device=device, local=LibraryFormFactor(tables, bundle.species))
    pp.params[:, 4] = 0.0
    return pp

r"""The real-space tail penalty: what a bulk fit cannot see and a nanocrystal does.

A bulk crystal samples the local form factor v_s(q) only on its reciprocal-lattice shells |G| (and at
q = 0 through the sum over species); between shells and below the first one (|G| = 1.02 1/Bohr for
GaAs) a network is free. That freedom sets the real-space tail of v_s(r) = 1/(2 pi^2) ∫ q^2 v_s(q)
j0(q r) dq: a slope of v at q = 0 gives a 1/r^4 tail, a kink between shells an oscillating one. The
nanocrystal codes read v(r) on a finite grid, subtract the last row and take zero beyond, which moves
every atom's v(q -> 0) and so every bulk level of the dot's material (bench/transferability.py measured
+1.1 eV for the unpenalized default GaAs fit: a last row of -8e-5 Hartree at r = 25.7 Bohr).

The shift of the bulk levels of a system with N_s atoms of species s in a cell of volume Omega, were the
tables cut at r the client's way, is dominated by

    Delta_s(r) = -N_s (4 pi / 3) r^3 v_s(r) / Omega          (Hartree; reported in eV),

so the penalty is that shift, squared, averaged over a window of cut radii and summed over species:

    P = penalize_tail_lambda * mean_systems mean_{r in [R, R_max]} sum_s Delta_s(r)^2    (eV^2),

R = ``penalize_tail_radius`` (Bohr, default 12: the bundle's Zunger potentials and the published
library have |v| < 1e-4 Hartree there), R_max = ``penalize_tail_rmax`` (default 30 Bohr, beyond the
last row of the group's 1024-row grid at 25.7 Bohr, so that the whole last Bohr the export checks is
inside the window). It is in the units of the band loss (eV^2), so lambda weighs a
level shift against band errors directly. v_s(r) comes from the same Gauss-Legendre transform as the
export (:func:`sepm.export.realspace_potential`, differentiable), at qmax = 12 1/Bohr (the range of
DeepPseudopot's q-space penalties) with enough nodes to resolve j0(q R_max).

Measured on the default GaAs fit (config/config.yaml plus lambda = 1e4, 250 L-BFGS epochs with the
strong-Wolfe line search): |v(r)| over 15-26 Bohr falls from ~1e-4 to a few 1e-6 Hartree, for a weight-20
band RMSE of 24.4-24.9 meV (17.6 without; all bands 53-54 vs 29 meV). The window leaves v(r) beyond
R_max free and the fit moves its tail there: the exported tables' shift (lengthened by the export until
they decay) lands anywhere in -0.04...+0.20 eV over reruns that differ in the last bits, against -0.35 eV
without the penalty. Only a window over every cut the export can pick (R = 25, R_max = 110 Bohr,
lambda = 1e4) held it at -0.012 eV, for 28.3-28.8 meV on the weight-20 bands. The penalty is therefore
off in the default config.

Tail integral (``penalize_tail_integral_lambda``, same window). What a dot's interior misses is not the
value of v at one radius but all the atoms beyond its surface: a point at depth R below the surface lacks,
against the bulk, the average potential of the atoms farther than R,

    I_s(R) = (N_s / Omega) 4 pi ∫_R^inf r^2 v_s(r) dr
           = (N_s / Omega) [v_s(0) - (2 / pi) ∫_0^inf v_s(q) (sin qR - qR cos qR) / q dq]      (eV),

(4 pi ∫_0^R r^2 j0(qr) dr = 4 pi (sin qR - qR cos qR) / q^3), so the dot's interior levels sit
-sum_s I_s(R) from the bulk's. The published library and the bundle's Zunger form have |sum_s I_s| <= 18
meV from R = 10 Bohr on (bench/tail_integral.py), GaAs network fits with the prior anchor at 300-1000 -0.44 to
+0.30 eV, changing sign with R out to 40 Bohr. The penalty is its mean square over the window,

    P = penalize_tail_integral_lambda * mean_systems mean_{R in [R, R_max]} sum_s I_s(R)^2     (eV^2),

through the same Gauss-Legendre rule (differentiable). Unlike Delta_s it does not weigh oscillations of v
that average out over a shell of atoms, only what a dot's interior sees. Measured on the GaAs fit of
config/config.yaml (prior anchor 1000) plus lambda = 1e4 over 10-40 Bohr: |sum_s I_s| <= 20 meV from R = 10 on,
at 57.7 / 65.5 / 20.8 meV band RMSE (all / weight-1 / weight-20) against 38.8 / 43.5 / 18.7 without; its dots
were unflagged but their gap rose from R = 14 to 16 Bohr (+0.04 eV), so it is off by default (README, Tail
integral).
"""

from __future__ import annotations

import math

import torch

from ..constants import HARTREE_EV
from ..export import quadrature, realspace_potential
from ..settings import SETTINGS

#: Defaults of the NN_config keys (Bohr).
TAIL_RADIUS = SETTINGS["penalize_tail_radius"].default
TAIL_RMAX = SETTINGS["penalize_tail_rmax"].default
#: Cut radii per Bohr of the window, and the transform's cutoff (1/Bohr).
POINTS_PER_BOHR = 4
QMAX = 12.0


def tail_radii(radius: float, rmax: float) -> torch.Tensor:
    """The cut radii of the window [radius, rmax] (Bohr)."""
    n = max(2, int(math.ceil((rmax - radius) * POINTS_PER_BOHR)) + 1)
    return torch.linspace(float(radius), float(rmax), n, dtype=torch.float64)


def nodes_for(rmax: float) -> int:
    """Gauss-Legendre nodes on [0, QMAX] for v(r) to ~1e-6 Hartree up to rmax: twice the export's
    oscillation bound qmax rmax / 2 + 32 (measured on the default GaAs fit), a power of 2."""
    return 1 << int(math.ceil(math.log2(QMAX * rmax + 64)))


def level_shifts(v: torch.Tensor, r: torch.Tensor, counts: torch.Tensor, volume: float) -> torch.Tensor:
    """Delta_s(r) in eV, (nr, n_species), from v_s(r) (nr, n_species): the level shift species s causes when
    the tables are cut at r the client's way. ``counts``: atoms per species in the cell; ``volume``: Bohr^3."""
    return -(4.0 * math.pi / 3.0) * r[:, None] ** 3 * v * counts.to(v)[None, :] / volume * HARTREE_EV


def tail_penalty(vq, systems, radius: float = TAIL_RADIUS, rmax: float = TAIL_RMAX) -> torch.Tensor:
    """mean over ``systems`` [(counts (n_species,), volume)] and the window of sum_s Delta_s(r)^2, eV^2."""
    r = tail_radii(radius, rmax)
    v = realspace_potential(vq, r, QMAX, nodes_for(rmax))
    total = sum((level_shifts(v, r, counts, volume) ** 2).sum(dim=1).mean() for counts, volume in systems)
    return total / len(systems)


def tail_integrals(vq, r: torch.Tensor, counts: torch.Tensor, volume: float) -> torch.Tensor:
    """I_s(R) in eV, (nr, n_species): the bulk's average potential from the atoms of species s farther than R
    from a point (``counts`` atoms per cell of ``volume`` Bohr^3)."""
    q, w = quadrature(QMAX, nodes_for(float(r.max())))
    v = torch.as_tensor(vq(q), dtype=torch.float64).reshape(len(q), -1)
    v0 = torch.as_tensor(vq(torch.zeros(1, dtype=torch.float64)), dtype=torch.float64).reshape(1, -1)
    x = r[:, None] * q[None, :]
    kernel = (torch.sin(x) - x * torch.cos(x)) / q[None, :] * (w * 2.0 / math.pi)
    return (v0 - kernel @ v) * counts.to(v)[None, :] / volume * HARTREE_EV


def tail_integral_penalty(vq, systems, radius: float = TAIL_RADIUS, rmax: float = TAIL_RMAX) -> torch.Tensor:
    """mean over ``systems`` [(counts (n_species,), volume)] and the window of sum_s I_s(R)^2, eV^2."""
    r = tail_radii(radius, rmax)
    total = sum((tail_integrals(vq, r, counts, volume) ** 2).sum(dim=1).mean() for counts, volume in systems)
    return total / len(systems)

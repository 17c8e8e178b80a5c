"""Fit the Wang-Zunger form v(q) = a0 (q^2 - a1) / (a2 exp(a3 q^2) - 1) to Si's Cohen-Bergstresser
form factors (Phys. Rev. 141, 789 (1966): VS(3) = -0.21, VS(8) = 0.04, VS(11) = 0.08 Ry, a = 5.43 A)
and to the Thomas-Fermi screening limit v(0) = -(2/3) E_F Omega/2. Prints a0..a3 for init_SiParams.par.

Convention (sepm, SPEC section 8): v(|G|) = VS[Hartree] * Omega / 2, Omega the primitive-cell volume
(Bohr^3), so that S(G) v(G) = VS cos(G.tau) for the two Si atoms at +-(a/8)(1,1,1).
Run: python resources/priors/Si/fit_zunger_cb.py
"""

import numpy as np
from scipy.optimize import least_squares

BOHR_PER_ANGSTROM = 1.0 / 0.529177
a = 5.43 * BOHR_PER_ANGSTROM                     # Bohr
omega = a**3 / 4                                  # primitive fcc cell, Bohr^3
shells = np.array([3.0, 8.0, 11.0])               # |G|^2 in (2 pi / a)^2
vs_ry = np.array([-0.21, 0.04, 0.08])
q = np.sqrt(shells) * 2 * np.pi / a
v = vs_ry / 2 * omega / 2                         # Ry -> Hartree, times Omega/2
kf = (3 * np.pi**2 * 8 / omega) ** (1 / 3)        # 8 valence electrons per cell
v0 = -2 / 3 * kf**2 / 2 * omega / 2               # Thomas-Fermi limit of a screened potential
qs, vt = np.concatenate([[0.0], q]), np.concatenate([[v0], v])


def zunger(p, q):
    a0, a1, a2, a3 = p
    return a0 * (q**2 - a1) / (a2 * np.exp(a3 * q**2) - 1)


fit = least_squares(lambda p: (zunger(p, qs) - vt) / np.abs(vt), x0=[50.0, 2.0, 3.0, 0.5],
                    bounds=([0, 0, 1.01, 0.01], [500, 10, 50, 5]))
print("targets q, v:", np.round(qs, 4), np.round(vt, 4))
print("fitted v:    ", np.round(zunger(fit.x, qs), 4), "max rel. error", np.abs(fit.fun).max())
print("\n".join(f"{x:.8f}" for x in fit.x))

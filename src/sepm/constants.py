"""Physical constants and fixed conventions of the DeepPseudopot bundle format."""

#: eV per Hartree, as used by the DeepPseudopot bundle format (keep this one constant).
HARTREE_EV = 27.2114

#: Bohr per Angstrom (1 Angstrom = 1/0.529177 Bohr).
BOHR_PER_ANGSTROM = 1.0 / 0.529177

#: Gaussian attenuation of the long-range tail, 1/Bohr.
LR_GAMMA = 0.2

#: Below this |q| (1/Bohr) the long-range tail is omitted (the G = G' diagonal).
LR_QMIN = 1e-4

#: Gaussian widths / centres of the SOC and nonlocal radial projectors (Bohr).
SOC_WIDTH = 0.7
NL_WIDTH = 1.0
NL_SHIFT_CENTER = 1.5

#: Number of per-species parameters a0..a8.
N_PARAMS = 9

#: Bytes of working memory per matrix element of one k-point's Hamiltonian (build + eigensolver).
BYTES_PER_ELEMENT = 16 * 6

#: The prior fits sample the form factor on q in [0, PRIOR_Q_MAX] (1/Bohr).
PRIOR_Q_MAX = 10.0

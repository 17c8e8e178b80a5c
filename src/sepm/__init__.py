"""sepm: semi-empirical pseudopotential fitting.

Hartree atomic units inside (lengths in Bohr, q in 1/Bohr, energies in Hartree);
band energies in files and user-facing tables are eV.
"""

__version__ = "0.1.0"

"""Local form-factor models v_s(q): callables mapping q (nq,) in 1/Bohr to (nq, n_species) in
Hartree Bohr^3. The long-range tail and the strain factor are Hamiltonian terms of their own
(``sepm.terms``) and apply on top of any of these models."""

from .shells import ShellFormFactor, cohen_bergstresser
from .tabulated import TabulatedFormFactor
from .zunger import ZungerFormFactor, zunger

__all__ = ["ShellFormFactor", "TabulatedFormFactor", "ZungerFormFactor", "cohen_bergstresser", "zunger"]

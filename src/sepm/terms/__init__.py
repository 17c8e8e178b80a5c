"""Hamiltonian terms, one module per physical term, one interface (:class:`~.base.Term`).

=====================  ==========================  =========  ======
term                   parameters                  k-dep.     spinor
=====================  ==========================  =========  ======
Kinetic                —                           yes        no
LocalPotential         v_s(q) model, a8 (strain)   no         no
LongRange              a4, a8                      no         no
SpinOrbit              a5                          yes        yes
Nonlocal               a6, a7                      yes        no
=====================  ==========================  =========  ======
"""

from .base import Term
from .kinetic import Kinetic
from .local import LocalPotential
from .longrange import LongRange
from .nonlocal_projector import Nonlocal
from .spinorbit import SpinOrbit
from .strain import strain_factor

__all__ = ["Kinetic", "LocalPotential", "LongRange", "Nonlocal", "SpinOrbit", "Term", "strain_factor"]

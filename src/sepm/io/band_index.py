"""idxVB / idxCB of input_X.par as DeepPseudopot means them: indices (0-based) of the eigenstates of the
Hamiltonian it diagonalizes, levels of the 2N-spinor spectrum with spin-orbit (SObool = 1) and spatial
(spinless) levels without it (its coupling code takes eigenvector idxVB of the N x N matrix). sepm's band
tables are spin-doubled without spin-orbit (each spatial level twice, as DeepPseudopot writes them), so
spatial level b fills table slots 2b and 2b + 1: the valence-band top idxVB = b is slot 2b + 1, the
conduction-band bottom idxCB = b slot 2b."""

from __future__ import annotations


def table_slot(index: int, spinor: bool, edge: str = "vb") -> int:
    """The band-table slot of idxVB (``edge`` 'vb': the upper slot of its pair) or idxCB ('cb': the lower)."""
    return int(index) if spinor else 2 * int(index) + (1 if edge == "vb" else 0)


def slot_text(spinor: bool) -> str:
    """How idxVB / idxCB were read, for messages."""
    return "a level of the spinor spectrum (SObool = 1)" if spinor else "a spatial level (SObool = 0)"

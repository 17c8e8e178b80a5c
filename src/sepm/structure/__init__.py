"""Structure tools: crystal-structure files, conventional -> primitive cells, high-symmetry k-paths."""

from .cellfiles import read_cell, read_system_par, write_poscar, write_system_par
from .kpath import DEFAULT_DENSITY, KPath, high_symmetry_path, read_kpoint_labels, write_kpoints
from .primitive import PrimitiveCell, primitive_cell

__all__ = [
    "DEFAULT_DENSITY",
    "KPath",
    "PrimitiveCell",
    "high_symmetry_path",
    "primitive_cell",
    "read_cell",
    "read_kpoint_labels",
    "read_system_par",
    "write_kpoints",
    "write_poscar",
    "write_system_par",
]

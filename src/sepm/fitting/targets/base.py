"""What every term of the fitting objective is (:class:`Target`) and the bundle-file helpers targets share."""

from __future__ import annotations

import re

import numpy as np
import torch

from ...errors import Defect
from ...io.parfile import data_lines, parse_float

#: Names that mean the Brillouin-zone centre in a k-point column, whatever kpoints_X.par labels.
GAMMA_NAMES = ("G", "Gamma", "GAMMA", "Γ")
_DIRECTION = re.compile(r"\[?(-?\d)(-?\d)(-?\d)\]?")


class Target:
    """One term of the objective (SPEC section 4), summed by :class:`~sepm.fitting.objective.FitProblem`.

    Class attributes say what it is: ``name`` (its key in the loss parts, the cost-table header and
    ``fit_summary.json``'s ``final_<name>_cost``), ``label`` (how headers describe it), ``file`` (the optional
    bundle file per system it is read from, ``{x}`` the system index, or None) with ``columns``, ``details``
    (the fit_summary key of its per-row results, or None) and ``splits_over_k`` (a sum over k-points that
    workers and per-k-point gradients can split; only the band energies). ``read(path, spec, defects)``
    parses ``file`` when the bundle is read (each bad line a :class:`~sepm.errors.Defect` naming file and
    line); ``spec.targets[name]`` then holds what it returned.

    An instance is built by FitProblem (``Target(problem)``); ``active`` says whether it adds to the cost, and
    ``loss(problem)`` returns ``(term, rows)``: the weighted term (a scalar tensor with its graph when grad is
    enabled) and the per-row results written under ``details``."""

    name: str = ""
    label: str = ""
    file: str | None = None
    columns: str = ""
    details: str | None = None
    splits_over_k: bool = False

    def __init__(self, problem):
        self.problem = problem

    @property
    def active(self) -> bool:
        return False

    def loss(self, problem) -> tuple[torch.Tensor, list]:
        return torch.zeros((), dtype=torch.float64, device=problem.device), []

    @staticmethod
    def read(path, spec, defects: list[Defect]):
        return None


def cell_compositions(problem) -> list[tuple[torch.Tensor, float]]:
    """[(atoms of each of the pseudopotential's species (n_species,), cell volume Bohr^3)] of every system:
    what turns the form factors v_s(q) into each crystal's potential components N_s v_s(q) / Omega."""
    from ...crystal import Crystal

    species = list(problem.pp.species)
    return [(torch.tensor([list(t.spec.atom_species).count(s) for s in species], dtype=torch.float64),
             Crystal.from_system(t.spec, species=species).volume) for t in problem.targets]


# ----------------------------------------------------------------------------------------- reading helpers
def table_rows(path, spec, defects: list[Defect], columns: str):
    """``(line, fields)`` of every data row of ``path`` with as many fields as ``columns`` names (a defect for
    each other row, and for a file without rows)."""
    want = columns.split()
    rows = []
    for n, content in data_lines(path, defects) or []:
        fields = content.split()
        if len(fields) != len(want):
            defects.append(Defect(path, n, f"expected {len(want)} columns ({columns}), found {len(fields)}"))
        else:
            rows.append((n, fields))
    if not rows and not any(d.path == path for d in defects):
        defects.append(Defect(path, None, f"no rows ({columns})"))
    return rows


def kpoint(path, n: int, col: int, text: str, spec, defects: list[Defect]):
    """A k-point column: a 0-based row of kpoints_X.par, a label of its rows ('# L' comments) or G/Gamma
    (the zone centre). Returns ``(name, fractional k (3,))`` or None (a defect recorded)."""
    if text in GAMMA_NAMES:
        return "Γ", np.zeros(3)
    nk = len(spec.kpoints)
    if re.fullmatch(r"\d+", text):
        if int(text) < nk:
            return spec.klabels.get(int(text), f"k{text}"), np.array(spec.kpoints[int(text)], dtype=np.float64)
        defects.append(Defect(path, n, f"column {col}: k-point index {text} out of range (0..{nk - 1}, "
                              f"kpoints_{spec.index}.par has {nk} k-points)"))
        return None
    rows = [i for i, label in spec.klabels.items() if label == text]
    if rows:
        return text, np.array(spec.kpoints[rows[0]], dtype=np.float64)
    known = sorted(set(spec.klabels.values()))
    defects.append(Defect(path, n, f"column {col}: {text!r} is neither a k-point index nor a label of "
                          f"kpoints_{spec.index}.par ({', '.join(known) if known else 'it labels no rows'}; "
                          "G or Gamma is the zone centre)"))
    return None


def band(path, n: int, col: int, text: str, spec, defects: list[Defect]) -> int | None:
    """A 0-based band slot of system ``spec`` (0..nBands-1), or None (a defect recorded)."""
    if re.fullmatch(r"\d+", text) and int(text) < max(spec.nbands, 1):
        return int(text)
    defects.append(Defect(path, n, f"column {col}: {text!r} is not a band index 0..{spec.nbands - 1} "
                          f"(nBands = {spec.nbands} from input_{spec.index}.par; bands count from 0)"))
    return None


def number(path, n: int, col: int, text: str, what: str, defects: list[Defect], positive=False, nonzero=False):
    """A finite float column (>= 0 with ``positive``, != 0 with ``nonzero``), or None (a defect recorded)."""
    try:
        value = parse_float(text)
    except ValueError:
        value = None
    if value is None or not np.isfinite(value):
        defects.append(Defect(path, n, f"column {col}: {what} {text!r} is not a finite number"))
        return None
    if positive and value < 0:
        defects.append(Defect(path, n, f"column {col}: {what} must be >= 0, got {text}"))
        return None
    if nonzero and value == 0:
        defects.append(Defect(path, n, f"column {col}: {what} must not be 0"))
        return None
    return value


def direction(path, n: int, col: int, text: str, defects: list[Defect]):
    """A Cartesian direction written as three digits ('100', '[110]', '1-10'): ``(text, unit vector)``."""
    match = _DIRECTION.fullmatch(text)
    u = np.array([float(v) for v in match.groups()]) if match else np.zeros(3)
    if not u.any():
        defects.append(Defect(path, n, f"column {col}: direction {text!r} is not three digits such as 100, [110] "
                              "or 111 (Cartesian, not all zero)"))
        return None
    return f"[{''.join(match.groups())}]", u / np.linalg.norm(u)

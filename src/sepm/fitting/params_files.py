"""Per-species coefficient files in the init_<Sym>Params.par format (one number per line, a0..a8),
written by every fitting stage as ``<prefix><Sym>Params.par`` so that the next stage can start from
them (``init_``, ``final_``, ``best_``, ``epoch_<N>_``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import Defect, InputError
from ..io.parfile import read_numbers
from ..output import write_text


def write_params(outdir, prefix: str, species, params) -> list[Path]:
    params = np.asarray(params, dtype=np.float64)
    return [write_text(Path(outdir) / f"{prefix}{sym}Params.par", "\n".join(f"{v:.12g}" for v in params[i]) + "\n")
            for i, sym in enumerate(species)]


def read_params(folder, prefix: str, species) -> np.ndarray:
    """(n_species, 9) from ``<prefix><Sym>Params.par`` files; shorter files are padded with zeros."""
    rows = []
    for sym in species:
        path = Path(folder) / f"{prefix}{sym}Params.par"
        if not path.is_file():
            raise InputError(Defect(path, None, f"missing coefficient file for species {sym}"))
        values = read_numbers(path)[0]
        if len(values) > 9:
            raise InputError(Defect(path, 10, f"{len(values)} numbers; at most 9 (a0..a8)"))
        rows.append(np.pad(values, (0, 9 - len(values))))
    return np.stack(rows)

"""Small, fast variants of the shipped bundles for fitting tests (fewer k-points, lower cutoff)."""

import shutil
from pathlib import Path

import numpy as np

from crystals import BUNDLES


def write_config(folder: Path, config: dict):
    lines = [f"{k} = {' '.join(map(str, v)) if isinstance(v, (list, tuple)) else v}" for k, v in config.items()]
    (folder / "NN_config.par").write_text("\n".join(lines) + "\n")


def shrink_gaas(folder: Path, maxke=3.0, kstride=6, reference=None):
    """Cut a copy of the GaAs bundle in ``folder`` to ``maxke`` and every ``kstride``-th k-point
    (optionally replacing the reference bands)."""
    (folder / "input_0.par").write_text(f"maxKE = {maxke}\nnBands = 16\n")
    k = np.loadtxt(folder / "kpoints_0.par")[::kstride]
    np.savetxt(folder / "kpoints_0.par", k, fmt="%.12f")
    ref = np.loadtxt(folder / "expBandStruct_0.par")[::kstride]
    if reference is not None:
        ref[:, 1:] = reference
    np.savetxt(folder / "expBandStruct_0.par", ref, fmt="%.10f")


def small_gaas(tmp_path, maxke=3.0, kstride=6, config=None, reference=None, params=None, name="GaAs"):
    """GaAs with every ``kstride``-th k-point at ``maxke``; optional NN_config, reference bands
    (nk, 16) and starting coefficients {species: 9 numbers}."""
    folder = Path(tmp_path) / name
    shutil.copytree(BUNDLES / "GaAs", folder)
    shrink_gaas(folder, maxke, kstride, reference)
    write_config(folder, {"nSystem": 1, "PPmodel": "ZeroFunction", **(config or {})})
    for sym, values in (params or {}).items():
        (folder / f"init_{sym}Params.par").write_text("\n".join(f"{v:.12g}" for v in values) + "\n")
    return folder

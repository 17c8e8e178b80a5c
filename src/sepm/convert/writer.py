"""Write a complete DeepPseudopot input bundle (one system) from a structure and reference bands.

Files written into OUTDIR (every file atomically; ``NN_config.par`` last):

- ``system_0.par``: ``scale`` = alat (Bohr), cell in units of alat, fractional atomic positions.
- ``input_0.par``: nBands, maxKE (Hartree), systemName, and idxVB / idxCB (0-based levels of the valence
  top and conduction bottom, spatial levels when the table is spin-doubled: :mod:`sepm.io.band_index`)
  when the electron count is known.
- ``kpoints_0.par``: fractional reciprocal coordinates, weight 1 each.
- ``expBandStruct_0.par``: path distance (cumulative |dk| in 1/Bohr, :func:`sepm.bands.path_distance`)
  and the lowest nBands energies (eV). Without spin-orbit coupling each spatial level is listed twice
  (spin doubling), as the bundle format and sepm's Hamiltonian expect.
- ``bandWeights_0.par``: nBands weights of 1.
- ``init_<Sym>Params.par``: copied from the prior folder for every species present (a missing one is
  an error, raised before anything is written).
- ``NN_config.par``: nSystem = 1, PPmodel = ZeroFunction (analytic-only fits; override with
  ``nn_config``), hiddenLayers = 20 20 20 (used only when PPmodel is a network).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sepm.bands import path_distance
from sepm.errors import Defect, InputError
from sepm.output import write_text
from sepm.structure.cellfiles import system_par_text

#: NN_config.par of a converted bundle unless overridden.
NN_CONFIG_DEFAULTS = {"nSystem": 1, "PPmodel": "ZeroFunction", "hiddenLayers": "20 20 20"}


@dataclass
class Structure:
    """A crystal as the bundle stores it: ``alat`` (Bohr), ``cell`` rows in units of alat,
    ``species`` one symbol per atom, ``frac`` fractional positions (n, 3)."""

    alat: float
    cell: np.ndarray
    species: list[str]
    frac: np.ndarray

    @property
    def lattice(self) -> np.ndarray:
        """Lattice vectors as rows, in Bohr."""
        return self.alat * np.asarray(self.cell)

    @property
    def crystal(self):
        """The structure as a :class:`sepm.crystal.Crystal` (lattice in Bohr)."""
        from sepm.crystal import Crystal

        return Crystal(self.lattice, tuple(self.species), np.asarray(self.frac, dtype=np.float64))

    def frac_from_cartesian_k(self, k_cart, unit: str) -> np.ndarray:
        """Fractional reciprocal coordinates of Cartesian k-points given in ``unit``:
        ``'2pi/alat'`` (Quantum ESPRESSO) or ``'1/bohr'`` (BerkeleyGW inteqp). k_frac_i = k . a_i / 2pi."""
        k = np.atleast_2d(np.asarray(k_cart, dtype=np.float64))
        if unit == "2pi/alat":
            return k @ np.asarray(self.cell).T
        if unit == "1/bohr":
            return k @ self.lattice.T / (2 * np.pi)
        raise ValueError(f"unknown k unit {unit!r}")


def _fmt(values) -> str:
    return " ".join(f"{v:.10f}" for v in values)


def reference_bands(levels, nbands: int, spin_doubled: bool, source: str) -> np.ndarray:
    """The lowest ``nbands`` reference energies per k: each level twice when ``spin_doubled``."""
    levels = np.sort(np.asarray(levels, dtype=np.float64), axis=1)
    if spin_doubled:
        levels = np.repeat(levels, 2, axis=1)
    if nbands > levels.shape[1]:
        have = f"{levels.shape[1] // 2} levels x 2 (spin)" if spin_doubled else f"{levels.shape[1]} levels"
        raise InputError(Defect(Path(source), None, f"nBands = {nbands} requested but the source has only {have}"))
    return levels[:, :nbands]


def find_prior(prior, species) -> dict[str, Path]:
    """``init_<Sym>Params.par`` (or ``<Sym>Params.par``) of every species in the prior folder."""
    prior = Path(prior)
    if not prior.is_dir():
        raise InputError(Defect(prior, None, "prior folder not found (it must hold init_<Sym>Params.par files)"))
    found, defects = {}, []
    for sym in sorted(set(species)):
        hits = [p for p in (prior / f"init_{sym}Params.par", prior / f"{sym}Params.par") if p.is_file()]
        if hits:
            found[sym] = hits[0]
        else:
            defects.append(Defect(prior, None, f"no init_{sym}Params.par for species '{sym}' (give a prior "
                                  "folder holding one, e.g. resources/priors/Si, or another bundle)"))
    if defects:
        raise InputError(defects)
    return found


def write_bundle(outdir, structure: Structure, kfrac, levels, *, nbands: int, maxke: float, prior,
                 spin_doubled: bool = True, nelec: float | None = None, vbm_align: float | None = None,
                 name: str = "system_0", nn_config: dict | None = None, source: str = "source") -> dict:
    """Write the bundle; ``levels`` (nk, nlev) are energies in eV (spatial levels when ``spin_doubled``).

    ``vbm_align``: shift every energy so that the valence-band maximum (the highest of the lowest
    ``nelec`` spin-doubled bands over all k) sits at this value (eV). Returns a summary dict.
    """
    out = Path(outdir)
    priors = find_prior(prior, structure.species)  # fail before writing anything
    kfrac = np.atleast_2d(np.asarray(kfrac, dtype=np.float64))
    bands = reference_bands(levels, nbands, spin_doubled, source)
    if len(bands) != len(kfrac):
        raise InputError(Defect(Path(source), None, f"{len(bands)} k-points of energies but {len(kfrac)} k-points"))
    n_vb = None if nelec is None else int(round(nelec))  # one electron per (spin-doubled) band
    vbm = None
    if n_vb is not None and 0 < n_vb <= bands.shape[1]:
        vbm = float(bands[:, n_vb - 1].max())
    if vbm_align is not None:
        if vbm is None:
            raise InputError(Defect(Path(source), None, "cannot align the valence-band maximum: the electron "
                                    f"count is unknown or above nBands = {nbands}"))
        bands = bands + (vbm_align - vbm)
    dist = path_distance(structure.crystal, kfrac)

    files = {}
    files["system_0.par"] = system_par_text(structure.crystal, structure.alat, f"converted from {source}")
    inp = [f"nBands = {nbands}", f"maxKE = {maxke:g}", f"systemName = {name}"]
    if n_vb is not None and n_vb < nbands and (n_vb % 2 == 0 or not spin_doubled):
        level = n_vb // 2 if spin_doubled else n_vb  # levels below the gap
        inp += [f"idxVB = {level - 1}", f"idxCB = {level}"]
    files["input_0.par"] = "\n".join(inp) + "\n"
    files["kpoints_0.par"] = "".join(f"{_fmt(k)} 1.0\n" for k in kfrac)
    files["expBandStruct_0.par"] = "".join(
        f"{d:.6f} " + " ".join(f"{e:.6f}" for e in row) + "\n" for d, row in zip(dist, bands))
    files["bandWeights_0.par"] = "1.0\n" * nbands
    for fname, text in files.items():
        write_text(out / fname, text)
    for sym, src in priors.items():
        write_text(out / f"init_{sym}Params.par", src.read_text())
    cfg = {**NN_CONFIG_DEFAULTS, **(nn_config or {})}
    write_text(out / "NN_config.par", "".join(f"{k} = {v}\n" for k, v in cfg.items()))
    return {"nk": len(kfrac), "nbands": nbands, "vbm": vbm, "shift": 0.0 if vbm_align is None else vbm_align - vbm,
            "species": sorted(set(structure.species))}

"""The eval_fullBand stage: band structures of a potential for every system of a bundle.

Writes, per system X, ``bands_X.dat`` (k index, path distance in 1/Bohr, energies in eV, with a
header that records the weighted band loss and RMSE against the reference bands when the bundle
has them) and ``bands_X.png`` / ``bands_X.pdf`` (against the reference bands). The k-points are the
bundle's, a given k-point file's (its ``# label`` comments name the x-axis ticks), or a high-symmetry
path generated from each system's crystal (``kpath=True``, seekpath; written to ``kpath_X.par``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from .errors import Defect, InputError
from .bands import band_energies, path_distance, system_hamiltonian
from .crystal import Crystal
from .io import read_bundle
from .io.limits import kpoint_defects
from .io.parfile import read_table
from .losses import band_loss, band_rmse
from .output import write_table
from .plotting import PLACEHOLDER_EV, plot_bands, system_title
from .progress import Progress
from .pseudopotential import Pseudopotential
from .settings import setting
from .io.parfile import read_kpoint_labels
from .structure.kpath import high_symmetry_path, write_kpoints

log = logging.getLogger("sepm")


#: The name of the potential evaluated when none is given (logs, table header, plot title).
ANALYTIC_NAME = "bundle's analytic potential"
#: DeepPseudopot's half-widths of the plot windows when input_X.par gives only BS_plot_center (eV)
DEFAULT_PLOT_RANGE = {"BS_plot_CBVB_range": 10.0, "BS_plot_CBVB_range_zoom": 5.0}


def plot_window(settings: dict, energies: np.ndarray, key: str = "BS_plot_CBVB_range"):
    """(emin, emax) from input_X.par: BS_plot_center +- |BS_plot_CBVB_range| (lower, upper when two values); the
    centre alone keeps DeepPseudopot's default range (:data:`DEFAULT_PLOT_RANGE`), the range alone is about 0 eV;
    neither: every band (DeepPseudopot's placeholder energies, <= PLACEHOLDER_EV, left out)."""
    if key in settings or "BS_plot_center" in settings:
        rng = np.atleast_1d(settings.get(key, DEFAULT_PLOT_RANGE[key])).astype(float)
        lo, hi = (abs(rng[0]), abs(rng[-1]))
        center = float(settings.get("BS_plot_center", 0.0))
        return center - lo, center + hi
    real = energies[energies > PLACEHOLDER_EV]
    return float(real.min()) - 1.0, float(real.max()) + 1.0


def evaluate_bundle(bundle_dir, outdir, pseudopotential: Pseudopotential | None = None, device="cpu",
                    memory_limit_gb: float | None = None, systems=None, kpoints_file=None, kpath: bool = False,
                    kpath_density: float | None = None, name: str | None = None, vbm_zero: bool = False) -> list[dict]:
    """Band structures of ``pseudopotential`` (default: the bundle's analytic potential) for the
    systems with indices in ``systems`` (default: all). ``kpoints_file`` (rows ``k1 k2 k3 weight``,
    e.g. a dense path; trailing ``# name`` comments label high-symmetry rows) replaces the bundle's
    k-points; reference bands are then not compared. Without a file, ``kpath=True`` evaluates every
    system along its seekpath high-symmetry path (``kpath_density`` points per 1/Bohr), written to
    ``outdir/kpath_X.par``, with the point names on the plot's x axis. ``name`` names the potential in the
    logs, the table header and the plot title (default: "bundle's analytic potential", or "potential" when one
    is given). ``vbm_zero`` plots energies relative to the computed VBM (the tables keep absolute ones)."""
    bundle = read_bundle(bundle_dir)
    # NN_config.par's settings only matter for the bundle's own potential (a fit's comes with its own)
    for notice in bundle.notices + (bundle.config_notices() if pseudopotential is None else []):
        log.info("notice: %s", notice)
    pp = pseudopotential or Pseudopotential.from_bundle(bundle, device=device)
    name = name or (ANALYTIC_NAME if pseudopotential is None else "potential")
    if pseudopotential is None:
        log.info("potential: analytic Wang-Zunger from init_<Sym>Params.par (species %s), SOC %s, NL %s",
                 " ".join(pp.species), "on" if pp.soc else "off", "on" if pp.nonlocal_ else "off")
    memory = memory_limit_gb or setting(bundle.config, "memory_limit_GB")
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    wanted = range(len(bundle.systems)) if systems is None else systems
    unknown = sorted(set(wanted) - set(range(len(bundle.systems))))
    if unknown:
        raise InputError(Defect(bundle.path, None, f"no system {unknown[0]} (the bundle has {len(bundle.systems)})"))
    if kpoints_file is not None:
        table, lines = read_table(Path(kpoints_file), 4, columns="k1 k2 k3 weight")
        defects = kpoint_defects(Path(kpoints_file), table[:, :3], lines)
        if defects:
            raise InputError(defects)
        file_labels = read_kpoint_labels(kpoints_file)
        for system in bundle.systems:
            system.kpoints, system.kweights = table[:, :3], table[:, 3]
            system.ref_bands = system.ref_path = system.order_matrix = None
            system.klabels = file_labels
        log.info("k-points from %s (%d points, %d labelled); reference bands not compared", kpoints_file,
                 len(table), len(file_labels))
        if kpath:
            log.info("a k-point file was given: --kpath is not used")
    else:
        for x in wanted:
            use_kpath(bundle.systems[x], bundle.path, kpath_density, outdir, force=kpath)
    first_k = bundle.config.get("relE_bIdx")
    return [_evaluate_system(bundle.systems[x], pp, outdir, device, memory, bundle.path, name, first_k, vbm_zero)
            for x in wanted]


def use_kpath(system, bundle_path, density=None, outdir=None, force=True) -> None:
    """Replace the system's k-points (and labels) by its high-symmetry path (seekpath); written to
    ``outdir/kpath_X.par`` when ``outdir`` is given. Without ``force`` only a system with no k-points
    (no kpoints_X.par) is changed."""
    if not force:
        if len(system.kpoints):
            return
        log.info("system %d has no kpoints_%d.par: following its high-symmetry path", system.index, system.index)
    source = Path(bundle_path) / f"system_{system.index}.par"
    path = high_symmetry_path(Crystal.from_system(system), density=density, source=source)
    system.kpoints, system.kweights = path.kfrac, np.ones(len(path.kfrac))
    system.ref_bands = system.ref_path = system.order_matrix = None
    system.klabels = path.labels
    log.info("system %d: high-symmetry path %s, %d k-points (space group %s); reference bands not compared",
             system.index, path.label_string(), len(path.kfrac), path.spacegroup)
    if outdir is not None:
        write_kpoints(Path(outdir) / f"kpath_{system.index}.par", path, header=f"high-symmetry path "
                      f"{path.label_string()} of {source} (space group {path.spacegroup}), written by sepm")


def _evaluate_system(system, pp, outdir, device, memory, bundle_path, name, first_k_band=None,
                     vbm_zero: bool = False) -> dict:
    labels = system.klabels or None
    ham = system_hamiltonian(system, pp, device=device)
    nk = len(system.kpoints)
    log.info("system %d (%s): N = %d plane waves (maxKE %g Ha), %d k-points, %d bands, matrix %d x %d",
             system.index, system.name, ham.basis.size, system.maxke, nk, system.nbands, ham.dim, ham.dim)
    progress = Progress(f"bands of system {system.index} ({system.name})", "k-point", nk)
    with torch.no_grad():
        bands = band_energies(ham, system.kpoints, system.nbands, system.order_matrix, memory,
                              progress=progress.update, label=f"system {system.index} ({system.name})")
    bands = bands.cpu()
    distance = path_distance(ham.basis.crystal, system.kpoints)
    loss = rmse = float("nan")
    header = [f"sepm band structure: system {system.index} ({system.name}) of {bundle_path}", f"potential: {name}",
              f"maxKE = {system.maxke} Ha, N = {ham.basis.size} plane waves, SOC = {'on' if pp.soc else 'off'}, "
              f"NL = {'on' if pp.nonlocal_ else 'off'}",
              "path distance in 1/Bohr (cumulative |dk|), energies in eV"]
    if labels:
        points = ", ".join(f"{i} {n}" for i, n in sorted(labels.items()))
        header.append(f"high-symmetry points (k index name): {points}")
    if system.ref_bands is not None:
        ref = torch.as_tensor(system.ref_bands)
        kw, bw = torch.as_tensor(system.kweights), torch.as_tensor(system.band_weights)
        shift = None if first_k_band is None else (bands[0, first_k_band], ref[0, first_k_band])
        loss = float(band_loss(bands, ref, kw, bw, system.relative_band, shift))
        rmse = band_rmse(bands, ref, kw, bw)
        header.append(f"reference expBandStruct_{system.index}.par: weighted band loss {loss:.8g} eV^2, "
                      f"RMSE {1e3 * rmse:.3f} meV")
        log.info("system %d, %s: weighted band loss %.6g eV^2, RMSE %.1f meV vs reference", system.index, name, loss,
                 1e3 * rmse)
    table = np.column_stack([np.arange(nk), distance, bands.numpy()])
    columns = ["kidx", "path"] + [f"E_{b + 1}" for b in range(system.nbands)]
    write_table(outdir / f"bands_{system.index}.dat", columns, table, header, fmt="%.6f")
    energies = bands.numpy() if system.ref_bands is None else np.concatenate([bands.numpy(), system.ref_bands])
    title = f"{system_title(system, bundle_path)}: {name}"
    title += f", RMSE {1e3 * rmse:.1f} meV" if np.isfinite(rmse) else ""
    edges = dict(vb_index=system.settings.get("idxVB"), vbm_zero=vbm_zero)
    plot_bands(outdir / f"bands_{system.index}", distance, bands.numpy(), system.kpoints, system.ref_bands,
               title=title, window=plot_window(system.settings, energies), labels=labels, lattice=system.lattice,
               **edges)
    if "BS_plot_CBVB_range_zoom" in system.settings:
        plot_bands(outdir / f"bands_{system.index}_zoom", distance, bands.numpy(), system.kpoints, system.ref_bands,
                   title=f"{title}, zoom", labels=labels, lattice=system.lattice,
                   window=plot_window(system.settings, energies, "BS_plot_CBVB_range_zoom"), **edges)
    return {"index": system.index, "nk": nk, "loss": loss, "rmse_meV": 1e3 * rmse}

"""Read a DeepPseudopot input bundle (one folder) into a :class:`Bundle`, validating everything first.

Files (X = system index 0 .. nSystem-1; lexical rules in :mod:`sepm.io.parfile`):

``NN_config.par``
    Run configuration, see :mod:`sepm.io.nnconfig`. Optional: without it nSystem is the number of
    consecutive ``system_X.par`` files, and SObool is 1 when a used species has a nonzero a5, a6 or a7.
``system_X.par``
    ``scale = <Bohr>``, then a ``cell`` line followed by 3 rows of 3 numbers (lattice vectors in units
    of scale), then an ``atoms`` line followed by ``Sym f1 f2 f3`` lines (fractional positions)::

        scale = 10.683
        cell
        0.0 0.5 0.5
        0.5 0.0 0.5
        0.5 0.5 0.0
        atoms
        Ga 0.125 0.125 0.125
        As -0.125 -0.125 -0.125
``input_X.par``
    ``key = value``: nBands (int) and maxKE (Hartree) required; optional keys in :data:`INPUT_SCHEMA`.
``kpoints_X.par``
    Rows ``k1 k2 k3 weight`` (fractional reciprocal coordinates). May be left out together with
    expBandStruct_X.par when no reference is required: the system then has no k-points and
    ``sepm bands`` follows its high-symmetry path.
``expBandStruct_X.par`` (optional unless ``require_reference``)
    Rows ``path_distance E_1 .. E_nBands`` (eV), one row per k-point.
``bandWeights_X.par`` (optional, default all 1)
    nBands numbers, one per line or whitespace separated.
``kpoints_X_orderMatrix.par`` (optional)
    nk rows of nBands integers.
``expDefPot_X.par`` (optional; required when input_X.par has ``fit_defPot = 1``)
    Rows ``kidx_VB bidx_VB kidx_CB bidx_CB latConst_ratio defPot_eV weight``; indices 0-based.
``qpoints_X.par``, ``expCoupling_X.par`` (optional)
    Phonon q-points and target electron-phonon couplings, see :mod:`sepm.io.coupling_files`.
``expMass_X.par``, ``expGap_X.par`` (optional), and any other target file
    Read by the fit targets' own readers (:mod:`sepm.fitting.targets`: effective masses, gaps).
``init_<Sym>Params.par``
    Per species, one number per line: a0..a3 local, a4 long range, a5 SOC, a6 a7 nonlocal, a8 strain.
    Fewer than 9 are padded with zeros (with a notice).
Optional extras (recorded in ``Bundle.optional_files``, text ones validated):
    ``init_qSpace_pot.par``, ``init_PPmodel.pth``, ``init_AdamState.pth``, ``mc_beta_schedule``,
    ``mcOpts*.par``, ``<Sym>ParamSteps.par``.

:func:`read_bundle` collects every defect of the bundle and raises one
:class:`~sepm.errors.InputError` listing them all, so nothing is computed from bad input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sepm.constants import N_PARAMS
from sepm.errors import Defect, InputError
from sepm.io.limits import basis_defects, kpoint_defects, param_defects, zunger_qmax
from sepm.io.coupling_files import CouplingInputs, read_coupling_inputs
from sepm.io.nnconfig import NN_CONFIG_DEFAULTS, read_nn_config
from sepm.settings import setting
from sepm.io.parfile import (
    _numbers,
    data_lines,
    parse_float,
    read_beta_schedule,
    read_keyvalue,
    read_kpoint_labels,
    read_mc_options,
    read_numbers,
    read_param_steps,
    read_table,
    suggest,
)

#: Keys of ``input_X.par`` and their types.
INPUT_SCHEMA: dict[str, str] = {
    "nBands": "int",
    "maxKE": "float",
    "idxVB": "int",
    "idxCB": "int",
    "idxGap": "int",
    "BS_plot_center": "float",
    "BS_plot_CBVB_range": "list[float]",
    "BS_plot_CBVB_range_zoom": "list[float]",
    "systemName": "str",
    "fit_defPot": "bool",
    "relE_perK_bIdx": "list[int]",
    "relE_bIdx": "list[int]",  # refused here with a pointer: DeepPseudopot's key belongs in NN_config.par
}

DEFPOT_COLUMNS = "kidx_VB bidx_VB kidx_CB bidx_CB latConst_ratio defPot_eV weight"
_SYMBOL = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


@dataclass
class SystemSpec:
    """One bulk system X of a bundle (lengths in Bohr, energies of ``maxke`` in Hartree, bands in eV)."""

    index: int
    name: str
    scale: float
    cell: np.ndarray
    atom_species: list[str]
    frac: np.ndarray
    nbands: int
    maxke: float
    settings: dict
    kpoints: np.ndarray
    kweights: np.ndarray
    ref_path: np.ndarray | None
    ref_bands: np.ndarray | None
    band_weights: np.ndarray
    order_matrix: np.ndarray | None
    defpot_rows: np.ndarray | None
    klabels: dict[int, str] = field(default_factory=dict)  # '# name' comments of kpoints_X.par rows
    deeppseudopot_basis: bool = False  # NN_config deeppseudopot_basis: DeepPseudopot's Miller-index box
    where: dict[str, int] = field(default_factory=dict)  # line of each key of input_X.par
    couplings: CouplingInputs | None = None  # qpoints_X.par (+ expCoupling_X.par)
    targets: dict = field(default_factory=dict)  # expMass_X.par, expGap_X.par, ...: sepm.fitting.targets readers

    @property
    def lattice(self) -> np.ndarray:
        """Lattice vectors as rows, ``scale * cell`` (Bohr)."""
        return self.scale * self.cell

    @property
    def relative_band(self) -> int | None:
        """relE_perK_bIdx: the band that energies at each k are referred to (per-k relative mode), or None."""
        rel = self.settings.get("relE_perK_bIdx") or [None]
        return rel[0]


@dataclass
class Bundle:
    """A validated input bundle. ``species`` is sorted; ``params[s]`` is a0..a8 of species s."""

    path: Path
    config: dict
    systems: list[SystemSpec]
    species: list[str]
    params: dict[str, np.ndarray]
    optional_files: dict = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)  # about the files; see also config_notices()
    config_lines: dict[str, int] | None = None  # line of each key NN_config.par sets (None: no NN_config.par)

    def config_notices(self, config: dict | None = None, set_keys=()) -> list[str]:
        """Notices about the effective configuration ``config`` (default: the bundle's own): the defaults
        taken by keys that neither NN_config.par nor ``set_keys`` (e.g. the keys of --set overrides)
        gives, and a missing PPmodel. Empty without an NN_config.par (a file notice says so)."""
        if self.config_lines is None:
            return []
        config = self.config if config is None else config
        given = set(self.config_lines) | set(set_keys)
        taken = [f"{k} = {v if not isinstance(v, bool) else int(v)}"
                 for k, v in NN_CONFIG_DEFAULTS.items() if k not in given]
        notices = [f"{self.path.name}/NN_config.par: defaults taken: {', '.join(taken)}"] if taken else []
        if "PPmodel" not in config:
            notices.append(f"{self.path.name}/NN_config.par: no PPmodel given (needed only by stages that build "
                           "a network)")
        return notices


# ----------------------------------------------------------------------------------------- system_X
def read_system_file(path: Path, defects: list[Defect]):
    """Parse ``system_X.par``; returns ``(scale, cell (3,3), species, frac (n,3), atom_line_numbers)``."""
    scale, cell, atoms = None, [], []
    block, block_line = None, {}
    lines = data_lines(path, defects)
    if lines is None:  # missing or unreadable (the defect says which)
        return scale, np.full((3, 3), np.nan), [], np.zeros((0, 3)), []
    for n, content in lines:
        if "=" in content:
            key, _, text = (s.strip() for s in content.partition("="))
            if key != "scale":
                defects.append(Defect(path, n, f"unknown key '{key}'{suggest(key, ['scale'])}"))
            elif scale is not None:
                defects.append(Defect(path, n, "'scale' given twice"))
            else:
                try:
                    scale = parse_float(text)
                    if scale <= 0:
                        defects.append(Defect(path, n, f"scale must be > 0 Bohr, got {text}"))
                except ValueError:
                    defects.append(Defect(path, n, f"scale: {text!r} is not a number"))
                    scale = np.nan
            continue
        word = content.lower()
        if word in ("cell", "atoms"):
            if word in block_line:
                defects.append(Defect(path, n, f"second '{word}' block (first on line {block_line[word]})"))
            block, block_line[word] = word, block_line.get(word, n)
            continue
        fields = content.split()
        if block is None:
            defects.append(Defect(path, n, f"unexpected line {content!r} before the 'cell'/'atoms' blocks"))
        elif block == "cell":
            if len(cell) == 3:
                defects.append(Defect(path, n, "cell block has more than 3 rows (missing 'atoms' line?)"))
            elif len(fields) != 3:
                defects.append(Defect(path, n, f"expected 3 columns (cell vector x y z), found {len(fields)}"))
                cell.append([np.nan] * 3)
            else:
                cell.append(_numbers(path, n, fields, defects))
        elif len(fields) != 4:
            defects.append(Defect(path, n, f"expected 4 columns (Sym f1 f2 f3), found {len(fields)}"))
        elif not _SYMBOL.fullmatch(fields[0]):
            defects.append(Defect(path, n, f"column 1: {fields[0]!r} is not a species symbol"))
        else:
            atoms.append((fields[0], _numbers(path, n, fields[1:], defects, first_column=2), n))

    if scale is None:
        defects.append(Defect(path, None, "missing 'scale = <Bohr>' line"))
    if "cell" not in block_line:
        defects.append(Defect(path, None, "missing 'cell' block (3 rows of lattice vectors)"))
    elif len(cell) < 3:
        defects.append(Defect(path, block_line["cell"], f"cell block has {len(cell)} rows, expected 3"))
    cell_arr = np.full((3, 3), np.nan)
    if cell:
        cell_arr[: len(cell)] = cell
    if np.all(np.isfinite(cell_arr)) and abs(np.linalg.det(cell_arr)) < 1e-8 * max(
            np.prod(np.linalg.norm(cell_arr, axis=1)), 1e-300):
        defects.append(Defect(path, block_line["cell"], "cell vectors are linearly dependent (singular cell)"))
    if not atoms:
        defects.append(Defect(path, block_line.get("atoms"), "no atoms given ('atoms' block of Sym f1 f2 f3 lines)"))
    species = [a[0] for a in atoms]
    frac = np.array([a[1] for a in atoms], dtype=np.float64).reshape(len(atoms), 3)
    lines = [a[2] for a in atoms]
    _coincident_atoms(path, species, frac, lines, defects)
    return scale, cell_arr, species, frac, lines


def _coincident_atoms(path, species, frac, lines, defects, tol=1e-6):
    """Two atoms on one site, or one lattice vector apart (the same site of the crystal): a defect on the
    later line naming the earlier one."""
    if len(frac) < 2:
        return
    diff = frac[:, None, :] - frac[None, :, :]
    shift = np.round(diff)
    same = np.all(np.abs(diff - shift) < tol, axis=-1) & np.tri(len(frac), k=-1, dtype=bool)
    for i in np.flatnonzero(same.any(axis=1)):
        j = int(np.argmax(same[i]))
        away = "" if not shift[i, j].any() else \
            f", {' '.join(f'{v:g}' for v in shift[i, j])} lattice vectors away (the same site of the crystal)"
        defects.append(Defect(path, lines[i], f"atom {species[i]} coincides with the {species[j]} atom on line "
                              f"{lines[j]}{away}; remove one of them"))


# ----------------------------------------------------------------------------------------- helpers
def _count_defect(path, numbers, have, want, what):
    """Defect for a row/number count mismatch: at the first extra line, or at the last line when short."""
    if have > want:
        line = numbers[want]
    else:
        line = numbers[-1] if numbers else None
    return Defect(path, line, f"{have} {what[0]}, but {what[1]}")


def _check_ints(path, table, numbers, cols, upper, defects, upper_what):
    """Columns ``cols`` (0-based) must be integers in [0, upper) (upper None: no upper bound)."""
    for row, n in zip(table, numbers):
        for c in cols:
            v = row[c]
            if np.isnan(v):
                continue
            if v != int(v) or v < 0:
                defects.append(Defect(path, n, f"column {c + 1}: {v:g} is not a non-negative integer index"))
            elif upper is not None and v >= upper:
                defects.append(Defect(path, n, f"column {c + 1}: index {int(v)} out of range "
                                      f"(0..{upper - 1}, {upper_what})"))


def _natural_key(p: Path):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)]


# ----------------------------------------------------------------------------------------- one system
def _read_system(root: Path, x: int, defects: list[Defect], require_reference: bool):
    """Read and cross-check all files of system X; returns ``(SystemSpec, atom_line_numbers)``."""
    sys_path = root / f"system_{x}.par"
    scale, cell, species, frac, atom_lines = read_system_file(sys_path, defects)

    inp_path = root / f"input_{x}.par"
    before = len(defects)
    settings, where = read_keyvalue(inp_path, INPUT_SCHEMA, defects)
    if inp_path.is_file() and (where or len(defects) == before):  # read (a non-UTF-8 file is one defect)
        for key, what in (("nBands", "number of bands"), ("maxKE", "kinetic-energy cutoff in Hartree")):
            if key not in where:
                defects.append(Defect(inp_path, None, f"required key '{key}' ({what}) is missing"))
            elif key in settings and settings[key] <= 0:
                defects.append(Defect(inp_path, where[key], f"{key} must be > 0, got {settings[key]}"))
    nbands = settings.get("nBands") if settings.get("nBands", 0) > 0 else None
    if nbands is not None:
        for key in ("idxVB", "idxCB"):
            if key in settings and not 0 <= settings[key] < nbands:
                defects.append(Defect(inp_path, where[key], f"{key} = {settings[key]} out of range 0..{nbands - 1} "
                                      f"(nBands = {nbands})"))
        if any(not 0 <= b < nbands for b in settings.get("relE_perK_bIdx", [])):
            defects.append(Defect(inp_path, where["relE_perK_bIdx"],
                                  f"relE_perK_bIdx: band indices must be in 0..{nbands - 1}"))
    if "relE_bIdx" in where:
        defects.append(Defect(inp_path, where["relE_bIdx"], "relE_bIdx belongs in NN_config.par (energies relative "
                              "to band relE_bIdx at the first k-point, as in DeepPseudopot); for energies relative "
                              "to that band at each k-point use relE_perK_bIdx here"))
    nb_src = f"nBands = {nbands} from input_{x}.par"

    k_path = root / f"kpoints_{x}.par"
    ref_file = root / f"expBandStruct_{x}.par"
    if k_path.is_file() or ref_file.is_file() or require_reference:
        ktab, klines = read_table(k_path, 4, defects, columns="k1 k2 k3 weight")
    else:  # a structure to evaluate only: sepm bands follows its high-symmetry path
        ktab, klines = np.zeros((0, 4)), []
    nk = len(ktab) if k_path.is_file() else None
    if nk == 0 and not any(d.path == k_path for d in defects):
        defects.append(Defect(k_path, None, "no k-points"))
    defects += kpoint_defects(k_path, ktab[:, :3], klines)
    for w, n in zip(ktab[:, 3], klines):
        if w < 0:
            defects.append(Defect(k_path, n, f"column 4: weight must be >= 0, got {w:g}"))
    k_count = f"kpoints_{x}.par has {nk} k-points"
    k_src = f"{k_count} (one row per k-point)"

    ref_path = ref_bands = None
    if ref_file.is_file():
        cols = f"path distance + {nb_src}"
        ref, rlines = read_table(ref_file, nbands + 1 if nbands else None, defects, columns=cols)
        if nk and len(ref) != nk:
            defects.append(_count_defect(ref_file, rlines, len(ref), nk, ("rows of reference bands", k_src)))
        ref_path, ref_bands = ref[:, 0], ref[:, 1:]
    elif require_reference:
        defects.append(Defect(ref_file, None, "file not found (reference band structure required)"))

    band_weights = np.ones(nbands or 0)
    bw_file = root / f"bandWeights_{x}.par"
    if bw_file.is_file():
        band_weights, bwlines = read_numbers(bw_file, defects)
        if nbands and len(band_weights) != nbands:
            defects.append(_count_defect(bw_file, bwlines, len(band_weights), nbands,
                                         ("band weights", f"input_{x}.par has nBands = {nbands}")))
        for w, n in zip(band_weights, bwlines):
            if w < 0:
                defects.append(Defect(bw_file, n, f"band weight must be >= 0, got {w:g}"))

    order = None
    om_file = root / f"kpoints_{x}_orderMatrix.par"
    if om_file.is_file():
        order, olines = read_table(om_file, nbands, defects, columns=nb_src)
        if nk and len(order) != nk:
            defects.append(_count_defect(om_file, olines, len(order), nk, ("rows", k_src)))
        _check_ints(om_file, order, olines, range(order.shape[1]), None, defects, "")
        order = np.nan_to_num(order).astype(np.int64)

    defpot = None
    dp_file = root / f"expDefPot_{x}.par"
    if dp_file.is_file():
        defpot, dlines = read_table(dp_file, 7, defects, columns=DEFPOT_COLUMNS)
        if len(defpot) == 0:
            defects.append(Defect(dp_file, None, f"no rows ({DEFPOT_COLUMNS})"))
        if nk:
            _check_ints(dp_file, defpot, dlines, (0, 2), nk, defects, k_count)
        if nbands:
            _check_ints(dp_file, defpot, dlines, (1, 3), nbands, defects, nb_src)
        for row, n in zip(defpot, dlines):
            if row[4] <= 0:
                defects.append(Defect(dp_file, n, f"column 5: latConst_ratio must be > 0, got {row[4]:g}"))
            elif abs(row[4] - 1.0) < 1e-6:
                defects.append(Defect(dp_file, n, f"column 5: latConst_ratio = {row[4]:g} is no strain: the "
                                      "deformation potential divides by 1 - ratio^3; give the strained over the "
                                      "unstrained lattice constant, e.g. 1.01"))
            if row[6] < 0:
                defects.append(Defect(dp_file, n, f"column 7: weight must be >= 0, got {row[6]:g}"))
    elif settings.get("fit_defPot"):
        defects.append(Defect(inp_path, where["fit_defPot"], f"fit_defPot = 1 but expDefPot_{x}.par is missing"))

    couplings = read_coupling_inputs(root, x, settings, where, ktab[:, :3] if nk else None, len(species), defects)
    spec = SystemSpec(
        index=x, name=settings.get("systemName", f"system_{x}"), scale=scale if scale else np.nan,
        cell=cell, atom_species=species, frac=frac, nbands=nbands or 0, maxke=settings.get("maxKE", np.nan),
        settings=settings, kpoints=ktab[:, :3], kweights=ktab[:, 3], ref_path=ref_path, ref_bands=ref_bands,
        band_weights=band_weights, order_matrix=order, defpot_rows=defpot,
        klabels=read_kpoint_labels(k_path) if nk else {}, where=where, couplings=couplings,
    )
    from sepm.fitting.targets import read_target_files  # the fit observables' own files (one module per target)

    spec.targets = read_target_files(root, spec, defects)
    return spec, atom_lines


# ----------------------------------------------------------------------------------------- species
def _read_species_params(path: Path, label: str, defects: list[Defect], notices: list[str],
                         qmax: float) -> np.ndarray:
    values, numbers = read_numbers(path, defects)
    defects += param_defects(path, values[:N_PARAMS], numbers[:N_PARAMS], qmax)
    if len(values) > N_PARAMS:
        defects.append(Defect(path, numbers[N_PARAMS], f"more than {N_PARAMS} parameters (a0..a8): found {len(values)}"))
    elif len(values) == 0:
        defects.append(Defect(path, None, "no parameters (expected a0..a8, one per line)"))
    elif len(values) < N_PARAMS:
        rest = f"a{len(values)}..a8" if len(values) < N_PARAMS - 1 else "a8"
        notices.append(f"{label}: {len(values)} of {N_PARAMS} parameters given; {rest} set to 0")
    out = np.zeros(N_PARAMS)
    out[: min(len(values), N_PARAMS)] = values[:N_PARAMS]
    return out


# ----------------------------------------------------------------------------------------- bundle
def read_bundle(path, *, require_reference: bool = False) -> Bundle:
    """Read and validate the bundle folder ``path``; raise one InputError listing every defect.

    ``require_reference=True`` makes a missing ``expBandStruct_X.par`` a defect (fitting stages).
    """
    root = Path(path)
    if not root.is_dir():
        raise InputError(Defect(root, None, "bundle folder not found"))
    defects: list[Defect] = []
    notices: list[str] = []
    name = root.name
    n_files = 0
    while (root / f"system_{n_files}.par").is_file():
        n_files += 1

    cfg_path = root / "NN_config.par"
    if cfg_path.is_file():
        config, cfg_lines = read_nn_config(cfg_path, defects)
        nsys = config.get("nSystem") if "nSystem" in config and config["nSystem"] >= 1 else n_files
    else:
        config, cfg_lines = dict(NN_CONFIG_DEFAULTS), None
        nsys = n_files
        config["nSystem"] = nsys
        if nsys == 0:
            defects.append(Defect(root / "system_0.par", None, "file not found (and no NN_config.par to give nSystem)"))
        else:
            files = "system_0.par" if nsys == 1 else f"system_0.par .. system_{nsys - 1}.par"
            notices.append(f"{name}: no NN_config.par; nSystem = {nsys} inferred from {files}, "
                           "other keys take their defaults")
    if n_files > nsys:
        notices.append(f"{name}: system_{nsys}.par .. system_{n_files - 1}.par ignored (nSystem = {nsys})")
    elif cfg_lines is not None and nsys > n_files and \
            not any((root / f"system_{x}.par").is_file() for x in range(n_files, nsys)):  # not a gap: too few
        have = {0: "no system_0.par", 1: "only system_0.par"}.get(n_files, f"system_0.par .. system_{n_files - 1}.par")
        defects.append(Defect(cfg_path, cfg_lines.get("nSystem"), f"nSystem = {nsys} but the bundle has {have}; "
                              f"system_{n_files}.par is missing (lower nSystem or add the files)"))
        nsys = n_files

    systems, used = [], {}  # used: species -> [(system path, first atom line)]
    for x in range(nsys):
        spec, atom_lines = _read_system(root, x, defects, require_reference)
        systems.append(spec)
        for sym, line in zip(spec.atom_species, atom_lines):
            if all(p != root / f"system_{x}.par" for p, _ in used.get(sym, [])):
                used.setdefault(sym, []).append((root / f"system_{x}.par", line))
    species = sorted(used)
    for spec in systems:
        spec.deeppseudopot_basis = setting(config, "deeppseudopot_basis")
    rel = config.get("relE_bIdx")
    too_high = [s.index for s in systems if rel is not None and s.nbands and rel >= s.nbands]
    if too_high:
        defects.append(Defect(cfg_path, cfg_lines.get("relE_bIdx"), f"relE_bIdx = {rel} is not a band of system "
                              f"{too_high[0]} (nBands = {systems[too_high[0]].nbands}); bands count from 0"))

    params, qmax = {}, zunger_qmax(s.maxke for s in systems)
    for sym in species:
        p_file = root / f"init_{sym}Params.par"
        if p_file.is_file():
            params[sym] = _read_species_params(p_file, f"{name}/{p_file.name}", defects, notices, qmax)
        else:
            for sys_path, line in used[sym]:
                defects.append(Defect(sys_path, line, f"species '{sym}' has no parameter file init_{sym}Params.par"))
    for p_file in sorted(root.glob("init_*Params.par")):
        sym = p_file.name[len("init_"):-len("Params.par")]
        if sym not in used:
            notices.append(f"{name}/{p_file.name}: species '{sym}' is not used by any system; file ignored")

    if not cfg_path.is_file() and params:
        soc = [s for s in species if s in params and np.any(params[s][5:8] != 0)]
        config["SObool"] = bool(soc)
        why = (f"{', '.join(soc)} {'has' if len(soc) == 1 else 'have'} nonzero a5..a7 (SOC/NL)" if soc
               else "no species has nonzero a5..a7 (SOC/NL)")
        notices.append(f"{name}: SObool = {int(bool(soc))} inferred because {why}")
    elif config.get("SObool") is False and any(np.any(p[5:8] != 0) for p in params.values()):
        notices.append(f"{name}: SObool = 0, so the nonzero SOC/NL parameters a5..a7 are not used")

    limit_line = (cfg_lines or {}).get("memory_limit_GB")
    defects += basis_defects(root, systems, config, f"NN_config.par line {limit_line}" if limit_line else None)
    optional = _optional_files(root, used, defects, notices)
    if defects:
        raise InputError(defects)
    return Bundle(path=root, config=config, systems=systems, species=species, params=params,
                  optional_files=optional, notices=notices, config_lines=cfg_lines)


def _optional_files(root: Path, used: dict, defects: list[Defect], notices: list[str]) -> dict:
    """Record which optional files exist and validate the text ones."""
    found: dict = {}
    for key, names in (("init_qSpace_pot", ["init_qSpace_pot.par"]), ("init_PPmodel", ["init_PPmodel.pth"]),
                       ("init_AdamState", ["init_AdamState.pth"]),
                       ("mc_beta_schedule", ["mc_beta_schedule", "mc_beta_schedule.par"])):
        hits = [root / n for n in names if (root / n).is_file()]
        if hits:
            found[key] = hits[0]
    if "init_qSpace_pot" in found:
        read_table(found["init_qSpace_pot"], None, defects, columns="q then one column per species")
    if "mc_beta_schedule" in found:
        read_beta_schedule(found["mc_beta_schedule"], defects)
    mc_opts = sorted(root.glob("mcOpts*.par"), key=_natural_key)
    if mc_opts:
        found["mcOpts"] = mc_opts
        for p in mc_opts:
            read_mc_options(p, defects)
    for p in sorted(root.glob("*ParamSteps.par")):
        sym = p.name[: -len("ParamSteps.par")]
        found[f"{sym}ParamSteps"] = p
        read_param_steps(p, defects)
        if sym not in used:
            notices.append(f"{root.name}/{p.name}: species '{sym}' is not used by any system")
    return found

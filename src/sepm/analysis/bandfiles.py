"""Band tables of every kind read into one structure (:class:`BandTable`), for plots and gap reports.

Formats (detected from the content, then the name; or forced with a ``format:`` prefix, e.g.
``qe-filband:bands.out``):

``sepm``             our ``bands_X.dat`` (:mod:`sepm.evaluate`): ``kidx path E_1 ..`` (path in 1/Bohr, eV); the
                     header names the bundle, whose ``kpoints_X.par`` / ``system_X.par`` / ``input_X.par`` give the
                     k-points, the lattice and idxVB when they are still there.
``expBandStruct``    a bundle's ``expBandStruct_X.par``: ``path E_1 ..``; k-points, lattice and idxVB from the
                     bundle files next to it (``kpoints_X.par``, ``system_X.par``, ``input_X.par``) when present.
``qe-xml``           pw.x ``data-file-schema.xml`` (:func:`sepm.convert.qe.read_qe_xml`): k, lattice, nelec.
``qe-filband``       bands.x ``filband`` (:func:`sepm.convert.qe.read_filband`), k Cartesian in 2pi/alat; a pw.x
                     XML in the same folder with the same k-points supplies the lattice and nelec.
``bgw-eqp``          BerkeleyGW ``eqp1.dat`` / ``eqp.dat`` (:func:`sepm.convert.bgw.read_eqp`), k fractional;
                     the path distance is the cumulative fractional |dk| (no lattice), or 1/Bohr with an XML.
``bgw-bandstructure`` inteqp ``bandstructure.dat`` (:func:`sepm.convert.bgw.read_bandstructure`), k in 1/Bohr.

Energies are in eV. Bands are as the file stores them: our tables and expBandStruct are spin-doubled
without SOC, QE and BerkeleyGW list each spatial level once (``meta['electrons_per_band']`` is 2 then).
The valence-band top column ``vb_index`` (0-based) comes from, in order: the caller, idxVB of the bundle,
the electron count (QE nelec), or the highest band gap in the table (:func:`detect_vb_index`).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import Defect, InputError
from ..io.band_index import slot_text, table_slot
from ..structure.points import point_name  # noqa: F401  (re-exported: band tables name their k-points)

log = logging.getLogger("sepm")

FORMATS = ("sepm", "expBandStruct", "qe-xml", "qe-filband", "bgw-eqp", "bgw-bandstructure")

#: Smallest separation (eV) between the top of one band and the bottom of the next that counts as a gap.
GAP_THRESHOLD_EV = 0.01

_BUNDLE_HEADER = re.compile(r"sepm band structure: system (\d+) \(.*\) of (.+)$")


@dataclass
class BandTable:
    """One band structure. ``distance`` (nk,) is the cumulative path length in ``distance_unit``
    (``'1/Bohr'``, ``'2pi/alat'`` or ``'frac'``); ``energies`` (nk, nb) in eV; ``kfrac`` (nk, 3) fractional
    reciprocal coordinates or None; ``lattice`` (3, 3) rows in Bohr or None."""

    path: Path
    format: str
    distance: np.ndarray
    distance_unit: str
    energies: np.ndarray
    kfrac: np.ndarray | None = None
    lattice: np.ndarray | None = None
    vb_index: int | None = None
    vb_source: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def nk(self) -> int:
        return self.energies.shape[0]

    @property
    def nbands(self) -> int:
        return self.energies.shape[1]


# ----------------------------------------------------------------------------------------- detection
def split_format(spec: str) -> tuple[str | None, Path]:
    """``'qe-xml:path'`` -> ('qe-xml', path); a plain path -> (None, path)."""
    head, sep, tail = str(spec).partition(":")
    if sep and head in FORMATS:
        return head, Path(tail)
    return None, Path(spec)


def detect_format(path: Path) -> str:
    """The format of ``path`` from its first data lines, then from its name."""
    try:
        with path.open("r", errors="replace") as fh:
            head = [fh.readline() for _ in range(40)]
    except FileNotFoundError:
        raise InputError(Defect(path, None, "file not found (band table)")) from None
    except IsADirectoryError:
        raise InputError(Defect(path, None, "is a folder, expected a band table file")) from None
    text = "".join(head)
    if "sepm band structure" in text:
        return "sepm"
    if re.search(r"&plot\s+nbnd", text):
        return "qe-filband"
    if text.lstrip().startswith("<"):
        return "qe-xml"
    rows = [line.split() for line in head if line.strip() and not line.lstrip().startswith("#")]
    name = path.name
    if rows and all(len(r) == 8 for r in rows[:5]) and all(_is_int(t) for r in rows[:5] for t in r[:2]):
        return "bgw-bandstructure"
    if rows and len(rows[0]) == 4 and _is_int(rows[0][3]) and len(rows) > 1 and len(rows[1]) == 4 \
            and all(_is_int(t) for t in rows[1][:2]):
        return "bgw-eqp"
    if name.startswith("expBandStruct") or (rows and len({len(r) for r in rows}) == 1 and len(rows[0]) >= 2):
        return "expBandStruct"
    raise InputError(Defect(path, None, f"cannot tell the band-table format; prefix the file with one of "
                            f"{', '.join(f + ':' for f in FORMATS)}"))


def _is_int(token: str) -> bool:
    return re.fullmatch(r"[+-]?\d+", token) is not None


# ----------------------------------------------------------------------------------------- bundle context
def _bundle_context(folder: Path, x: int, nk: int) -> dict:
    """k-points, lattice and idxVB of system X of the bundle in ``folder``, where the files are present,
    readable and agree with ``nk``; anything missing is left out (and logged)."""
    from ..io.bundle import INPUT_SCHEMA, read_system_file
    from ..io.parfile import read_keyvalue

    out: dict = {}
    kfile, sysfile, inpfile = folder / f"kpoints_{x}.par", folder / f"system_{x}.par", folder / f"input_{x}.par"
    out.update(_path_context(kfile, nk))
    if sysfile.is_file():
        defects: list[Defect] = []
        scale, cell, *_ = read_system_file(sysfile, defects)
        if not defects:
            out["lattice"] = scale * cell
    if inpfile.is_file():
        defects = []
        settings = read_keyvalue(inpfile, INPUT_SCHEMA, defects)[0]
        if "idxVB" in settings and not defects:
            spinor = _sobool(folder / "NN_config.par")
            out["vb_index"] = table_slot(settings["idxVB"], spinor)
            out["vb_source"] = f"idxVB of {inpfile}, {slot_text(spinor)}"
    return out


def _sobool(path: Path) -> bool:
    """SObool of an NN_config.par (False when the file or the key is missing or unreadable)."""
    from ..io.nnconfig import read_nn_config

    return bool(read_nn_config(path, [])[0].get("SObool")) if path.is_file() else False


def _system_index(name: str) -> int | None:
    m = re.search(r"_(\d+)\.(par|dat)$", name)
    return int(m.group(1)) if m else None


# ----------------------------------------------------------------------------------------- readers
def _read_numeric(path: Path, first_energy_column: int, what: str) -> np.ndarray:
    from ..io.parfile import read_table

    table = read_table(path, None, columns=what)[0]
    if table.shape[0] < 2 or table.shape[1] <= first_energy_column:
        raise InputError(Defect(path, None, f"expected at least 2 rows of {what}, found {table.shape}"))
    return table


def _read_sepm(path: Path) -> BandTable:
    table = _read_numeric(path, 2, "kidx path E_1 .. E_nBands")
    bt = BandTable(path, "sepm", table[:, 1], "1/Bohr", table[:, 2:])
    for line in path.read_text().splitlines()[:5]:
        m = _BUNDLE_HEADER.search(line.lstrip("# ").strip())
        if m:
            folder = _find_bundle(Path(m.group(2)), path)
            bt.meta["bundle"] = str(folder or m.group(2))
            if folder is not None:
                _apply_context(bt, _bundle_context(folder, int(m.group(1)), bt.nk))
            else:
                log.info("%s: bundle %s named in the header not found; k-points unknown", path, m.group(2))
            if bt.kfrac is None:  # sepm bands --kpath writes its path next to the table
                _apply_context(bt, _path_context(path.parent / f"kpath_{m.group(1)}.par", bt.nk))
            break
    return bt


def _path_context(kfile: Path, nk: int) -> dict:
    """k-points of a kpoints file when it is readable and has ``nk`` rows."""
    from ..io.parfile import read_table

    if not kfile.is_file():
        return {}
    defects: list[Defect] = []
    table = read_table(kfile, 4, defects, columns="k1 k2 k3 weight")[0]
    if defects or len(table) != nk:
        log.info("%s not used: %s", kfile, defects[0] if defects else f"{len(table)} k-points, table has {nk}")
        return {}
    return {"kfrac": table[:, :3]}


def _find_bundle(folder: Path, table: Path) -> Path | None:
    """The bundle named in a table header: as written (relative to the working directory of the run that wrote
    it), else relative to a folder above the table."""
    if folder.is_absolute() or folder.is_dir():
        return folder if folder.is_dir() else None
    return next((up / folder for up in table.resolve().parents if (up / folder).is_dir()), None)


def _read_exp(path: Path) -> BandTable:
    table = _read_numeric(path, 1, "path E_1 .. E_nBands")
    bt = BandTable(path, "expBandStruct", table[:, 0], "1/Bohr", table[:, 1:])
    x = _system_index(path.name)
    if x is not None:
        _apply_context(bt, _bundle_context(path.parent, x, bt.nk))
    return bt


def _apply_context(bt: BandTable, ctx: dict) -> None:
    bt.kfrac = ctx.get("kfrac", bt.kfrac)
    bt.lattice = ctx.get("lattice", bt.lattice)
    if "vb_index" in ctx:
        bt.vb_index, bt.vb_source = ctx["vb_index"], ctx["vb_source"]


def _qe_vb(qe) -> int | None:
    per_band = 1 if qe.noncolin else 2
    n = int(round(qe.nelec)) // per_band
    return n - 1 if n >= 1 else None


def _read_qe_xml(path: Path) -> BandTable:
    from ..bands import path_distance
    from ..convert.qe import read_qe_xml

    qe = read_qe_xml(path)
    lattice = qe.structure.lattice
    kfrac = qe.kpoints_frac
    dist = path_distance(qe.structure.crystal, kfrac)
    bt = BandTable(path, "qe-xml", dist, "1/Bohr", qe.energies, kfrac, lattice,
                   meta={"nelec": qe.nelec, "electrons_per_band": 1 if qe.noncolin else 2})
    vb = _qe_vb(qe)
    if vb is not None and vb < bt.nbands:
        bt.vb_index, bt.vb_source = vb, f"nelec = {qe.nelec:g} in {path.name}"
    return bt


def _sibling_xml(path: Path, kcart_2pi_alat: np.ndarray):
    """A pw.x XML in the same folder whose k-points equal ``kcart`` (2pi/alat), or None."""
    from ..convert.qe import read_qe_xml

    for cand in sorted(path.parent.glob("*.xml")):
        try:
            qe = read_qe_xml(cand)
        except InputError:
            continue
        if qe.kpoints_cart.shape == kcart_2pi_alat.shape and np.allclose(qe.kpoints_cart, kcart_2pi_alat, atol=1e-5):
            return qe, cand
    return None, None


def _cumulative(k: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(k, axis=0), axis=1))])


def _read_filband(path: Path) -> BandTable:
    from ..convert.qe import read_filband

    kcart, energies = read_filband(path)
    qe, xml = _sibling_xml(path, kcart)
    if qe is None:
        return BandTable(path, "qe-filband", _cumulative(kcart), "2pi/alat", energies,
                         meta={"kcart_2pi_alat": kcart})
    st = qe.structure
    dist = _cumulative(kcart) * 2 * np.pi / st.alat
    bt = BandTable(path, "qe-filband", dist, "1/Bohr", energies, st.frac_from_cartesian_k(kcart, "2pi/alat"),
                   st.lattice, meta={"xml": str(xml), "nelec": qe.nelec, "electrons_per_band": 1 if qe.noncolin else 2})
    vb = _qe_vb(qe)
    if vb is not None and vb < bt.nbands:
        bt.vb_index, bt.vb_source = vb, f"nelec = {qe.nelec:g} in {xml.name}"
    log.info("%s: lattice and nelec from %s (same k-points)", path, xml)
    return bt


def _read_eqp(path: Path) -> BandTable:
    from ..convert.bgw import read_eqp

    kfrac, energies = read_eqp(path)
    return BandTable(path, "bgw-eqp", _cumulative(kfrac), "frac", energies, kfrac,
                     meta={"electrons_per_band": 2})


def _read_bgw_bs(path: Path) -> BandTable:
    from ..convert.bgw import read_bandstructure

    kcart, energies = read_bandstructure(path)
    return BandTable(path, "bgw-bandstructure", _cumulative(kcart), "1/Bohr", energies,
                     meta={"kcart_1_bohr": kcart, "electrons_per_band": 2})


_READERS = {"sepm": _read_sepm, "expBandStruct": _read_exp, "qe-xml": _read_qe_xml, "qe-filband": _read_filband,
            "bgw-eqp": _read_eqp, "bgw-bandstructure": _read_bgw_bs}


def read_band_table(spec, vb_index: int | None = None) -> BandTable:
    """Read ``spec`` (a path, optionally ``format:path``) into a :class:`BandTable`.

    ``vb_index`` (0-based column) overrides every other source of the valence-band top."""
    fmt, path = split_format(spec)
    fmt = fmt or detect_format(path)
    if not path.is_file():
        raise InputError(Defect(path, None, f"file not found ({fmt} band table)"))
    bt = _READERS[fmt](path)
    order = np.argsort(bt.energies, axis=1, kind="stable")
    if np.any(order != np.arange(bt.nbands)):
        log.info("%s: bands sorted by energy at every k-point", path)
        bt.energies = np.take_along_axis(bt.energies, order, axis=1)
    if vb_index is not None:
        if not 0 <= vb_index < bt.nbands - 1:
            raise InputError(Defect(path, None, f"valence-band top: band {vb_index + 1} out of range "
                                    f"1..{bt.nbands - 1} (the table has {bt.nbands} bands)"))
        bt.vb_index, bt.vb_source = vb_index, "given"
    elif bt.vb_index is None or not 0 <= bt.vb_index < bt.nbands - 1:
        bt.vb_index = detect_vb_index(bt.energies)
        bt.vb_source = "highest band gap in the table" if bt.vb_index is not None else "none (no gap found)"
    log.info("%s: %s table, %d k-points x %d bands, path in %s, k-points %s; valence top = %s (%s)",
             path, bt.format, bt.nk, bt.nbands, bt.distance_unit, "known" if bt.kfrac is not None else "unknown",
             "none" if bt.vb_index is None else f"band {bt.vb_index + 1} (E_{bt.vb_index + 1})", bt.vb_source)
    return bt


def detect_vb_index(energies: np.ndarray, threshold: float = GAP_THRESHOLD_EV) -> int | None:
    """The highest band b with min_k E_{b+1} - max_k E_b > ``threshold`` eV (the band below the highest gap
    of the table), or None. Tables that hold several conduction bands have no gap above the fundamental one."""
    gaps = energies[:, 1:].min(axis=0) - energies[:, :-1].max(axis=0)
    hits = np.nonzero(gaps > threshold)[0]
    return int(hits[-1]) if len(hits) else None


# ----------------------------------------------------------------------------------------- edges
@dataclass
class BandEdges:
    """Valence top / conduction bottom of a table: k indices, energies (eV) and gaps (eV)."""

    vb_index: int
    vbm: float
    vbm_k: int
    cbm: float
    cbm_k: int
    direct_gap: float
    direct_k: int

    @property
    def gap(self) -> float:
        return self.cbm - self.vbm

    @property
    def is_direct(self) -> bool:
        return self.vbm_k == self.cbm_k


def band_edges(energies: np.ndarray, vb_index: int) -> BandEdges:
    """VBM = max_k E_vb, CBM = min_k E_{vb+1}; direct gap = min_k (E_{vb+1} - E_vb). Ties go to the first k."""
    vb, cb = energies[:, vb_index], energies[:, vb_index + 1]
    iv, ic = int(np.argmax(vb)), int(np.argmin(cb))
    direct = cb - vb
    idr = int(np.argmin(direct))
    return BandEdges(vb_index, float(vb[iv]), iv, float(cb[ic]), ic, float(direct[idr]), idr)

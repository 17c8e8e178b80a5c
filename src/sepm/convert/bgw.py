"""BerkeleyGW readers: ``eqp.dat`` / ``eqp0.dat`` / ``eqp1.dat`` (sigma.x) and inteqp's ``bandstructure.dat``.

``eqp*.dat``: per k-point a header ``kx ky kz n`` (crystal = fractional reciprocal coordinates), then
n lines ``spin band E_mf E_qp`` (band index absolute, 1-based; energies in eV). Any whitespace.

``bandstructure.dat``: ``#`` lines, then rows ``spin band kx ky kz E_mf E_qp dE`` with k Cartesian in
1/Bohr, energies in eV; spin outermost, then band, with k fastest.

Both readers return the energies of bands 1..m (every k-point must have the same contiguous set of bands
starting at band 1, because the empirical Hamiltonian's lowest band is the lowest valence band) of
spin 1; spin-polarized files (spin 2 rows) are rejected. ``energy`` picks the column: ``'qp'`` (E_qp,
default) or ``'mf'`` (E_mf, the mean-field DFT energy). Malformed input raises
:class:`~sepm.errors.InputError` naming ``path:line``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sepm.errors import Defect, InputError

ENERGY_COLUMNS = ("qp", "mf")


def _lines(path: Path, what: str):
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise InputError(Defect(path, None, f"file not found ({what})")) from None
    return [(n, line.split()) for n, line in enumerate(text.splitlines(), 1)
            if line.strip() and not line.lstrip().startswith("#")]


def _number(path: Path, n: int, token: str, integer: bool = False):
    try:
        value = float(token)
    except ValueError:
        raise InputError(Defect(path, n, f"{token!r} is not a number")) from None
    if not np.isfinite(value) or (integer and value != int(value)):
        raise InputError(Defect(path, n, f"{token!r} is not {'an integer' if integer else 'a finite number'}"))
    return int(value) if integer else value


def _band_row(path: Path, n: int, fields: list[str]) -> tuple[int, list[float]]:
    """(band, numbers after it) of a row 'spin band ...'; only spin 1 (unpolarized) is supported."""
    spin, band = (_number(path, n, t, integer=True) for t in fields[:2])
    if spin != 1:
        raise InputError(Defect(path, n, f"spin {spin}: spin-polarized files are not supported"))
    return band, [_number(path, n, t) for t in fields[2:]]


def _check_energy(energy: str):
    if energy not in ENERGY_COLUMNS:
        raise ValueError(f"energy must be one of {ENERGY_COLUMNS}, got {energy!r}")


def _band_table(path: Path, per_k: list[dict], lines: list[int]) -> np.ndarray:
    """(nk, m) energies of bands 1..m from per-k {band: E}; the band sets must agree and start at 1."""
    first = sorted(per_k[0])
    if first != list(range(1, len(first) + 1)):
        raise InputError(Defect(path, lines[0], f"bands {first[0]}..{first[-1]} given (with gaps or not starting at "
                                "1); the bundle needs every band from 1 up (the lowest valence band)"))
    for bands, n in zip(per_k, lines):
        if sorted(bands) != first:
            raise InputError(Defect(path, n, f"this k-point has bands {sorted(bands)[:3]}..., the first has "
                                    f"1..{len(first)}; every k-point needs the same bands"))
    return np.array([[bands[b] for b in first] for bands in per_k])


def read_eqp(path, energy: str = "qp") -> tuple[np.ndarray, np.ndarray]:
    """Returns (k fractional (nk, 3), energies in eV (nk, m) of bands 1..m)."""
    _check_energy(energy)
    path = Path(path)
    rows = _lines(path, "BerkeleyGW eqp file")
    col = 3 if energy == "qp" else 2
    kpts, per_k, k_lines = [], [], []
    i = 0
    while i < len(rows):
        n, f = rows[i]
        if len(f) != 4:
            raise InputError(Defect(path, n, f"expected a k-point header 'kx ky kz n', found {len(f)} columns"))
        kpts.append([_number(path, n, t) for t in f[:3]])
        count = _number(path, n, f[3], integer=True)
        if count < 1:
            raise InputError(Defect(path, n, f"band count must be >= 1, got {count}"))
        bands = {}
        for n2, f2 in rows[i + 1:i + 1 + count]:
            if len(f2) != 4:
                raise InputError(Defect(path, n2, f"expected 'spin band E_mf E_qp', found {len(f2)} columns"))
            band, values = _band_row(path, n2, f2)
            if band in bands:
                raise InputError(Defect(path, n2, f"band {band} given twice for this k-point"))
            bands[band] = values[col - 2]
        if len(bands) != count:
            raise InputError(Defect(path, rows[-1][0], f"k-point header on line {n} announces {count} bands, "
                                    f"the file ends after {len(bands)}"))
        per_k.append(bands)
        k_lines.append(n)
        i += 1 + count
    if not kpts:
        raise InputError(Defect(path, None, "no k-points"))
    return np.array(kpts), _band_table(path, per_k, k_lines)


def read_bandstructure(path, energy: str = "qp") -> tuple[np.ndarray, np.ndarray]:
    """Returns (k Cartesian in 1/Bohr (nk, 3), energies in eV (nk, m) of bands 1..m)."""
    _check_energy(energy)
    path = Path(path)
    col = 6 if energy == "qp" else 5
    by_band: dict[int, list] = {}
    first_line: dict[int, int] = {}
    for n, f in _lines(path, "BerkeleyGW inteqp bandstructure.dat"):
        if len(f) != 8:
            raise InputError(Defect(path, n, f"expected 8 columns 'spin band kx ky kz E_mf E_qp dE', found {len(f)}"))
        band, values = _band_row(path, n, f)
        by_band.setdefault(band, []).append((values[:3], values[col - 2], n))
        first_line.setdefault(band, n)
    if not by_band:
        raise InputError(Defect(path, None, "no data rows"))
    ref_band = min(by_band)
    kpts = np.array([k for k, _, _ in by_band[ref_band]])
    for band, rows in by_band.items():
        k = np.array([r[0] for r in rows])
        if k.shape != kpts.shape or not np.allclose(k, kpts, atol=1e-6):
            raise InputError(Defect(path, first_line[band], f"band {band} has other k-points than band {ref_band} "
                                    f"({len(k)} vs {len(kpts)} rows, or different coordinates)"))
    per_k = [{b: by_band[b][i][1] for b in by_band} for i in range(len(kpts))]
    lines = [by_band[ref_band][i][2] for i in range(len(kpts))]
    return kpts, _band_table(path, per_k, lines)

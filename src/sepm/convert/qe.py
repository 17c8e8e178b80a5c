"""Quantum ESPRESSO readers: pw.x's XML (``<outdir>/<prefix>.save/data-file-schema.xml``) and bands.x's
``filband``.

XML (QE >= 6.2, the ``qes`` schema; root in the qes namespace, children without one), read from
``output/``:

- ``atomic_structure`` (attribute ``alat``, Bohr): ``cell/a1..a3`` (Bohr) and
  ``atomic_positions/atom`` (attribute ``name``, Cartesian Bohr);
- ``band_structure``: ``lsda``, ``noncolin``, ``nbnd``, ``nelec``, ``nks`` and one ``ks_energies`` per
  k-point with ``k_point`` (Cartesian, units of 2pi/alat) and ``eigenvalues`` (**Hartree**).

``filband`` (bands.x): a ``&plot nbnd=N, nks=M /`` header, then per k-point a line of Cartesian k
(2pi/alat) followed by N energies in eV, wrapped 10 per line.

Every problem is an :class:`~sepm.errors.InputError` naming ``path:line``.
"""

from __future__ import annotations

import re
import xml.parsers.expat
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sepm.constants import HARTREE_EV
from sepm.errors import Defect, InputError

from .writer import Structure

_SYMBOL = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


@dataclass
class _Node:
    """A minimal XML element that remembers its source line."""

    tag: str
    attrib: dict
    line: int
    text: str = ""
    children: list = field(default_factory=list)

    def find(self, path: str):
        node = self
        for part in path.split("/"):
            node = next((c for c in node.children if c.tag == part), None)
            if node is None:
                return None
        return node

    def findall(self, tag: str):
        return [c for c in self.children if c.tag == tag]


def _parse_xml(path: Path) -> _Node:
    """Parse with expat, keeping line numbers; namespace prefixes are dropped from tags."""
    stack: list[_Node] = []
    root: list[_Node] = []
    parser = xml.parsers.expat.ParserCreate()

    def start(tag, attrib):
        node = _Node(tag.split(":")[-1], dict(attrib), parser.CurrentLineNumber)
        (stack[-1].children if stack else root).append(node)
        stack.append(node)

    def end(_tag):
        stack.pop()

    def data(text):
        if stack:
            stack[-1].text += text

    parser.StartElementHandler, parser.EndElementHandler, parser.CharacterDataHandler = start, end, data
    try:
        parser.ParseFile(path.open("rb"))
    except FileNotFoundError:
        raise InputError(Defect(path, None, "file not found (pw.x XML: <outdir>/<prefix>.save/"
                                "data-file-schema.xml)")) from None
    except xml.parsers.expat.ExpatError as err:
        raise InputError(Defect(path, err.lineno, f"malformed XML: {xml.parsers.expat.ErrorString(err.code)}")) \
            from None
    return root[0]


def _required(path: Path, parent: _Node, sub: str) -> _Node:
    node = parent.find(sub)
    if node is None:
        raise InputError(Defect(path, parent.line, f"<{parent.tag}> has no <{sub}> element"))
    return node


def _floats(path: Path, node: _Node, count: int | None = None) -> np.ndarray:
    try:
        values = np.array([float(t) for t in node.text.split()], dtype=np.float64)
    except ValueError:
        raise InputError(Defect(path, node.line, f"<{node.tag}>: not a list of numbers: "
                                f"{' '.join(node.text.split())[:60]!r}")) from None
    if count is not None and len(values) != count:
        raise InputError(Defect(path, node.line, f"<{node.tag}>: expected {count} numbers, found {len(values)}"))
    if not np.all(np.isfinite(values)):
        raise InputError(Defect(path, node.line, f"<{node.tag}>: non-finite number"))
    return values


def _bool(path: Path, node: _Node | None) -> bool:
    if node is None:
        return False
    text = node.text.strip().lower()
    if text not in ("true", "false"):
        raise InputError(Defect(path, node.line, f"<{node.tag}>: expected true or false, got {text!r}"))
    return text == "true"


@dataclass
class QEBands:
    """What the converter needs from a pw.x run. Energies in eV; k Cartesian in 2pi/alat."""

    structure: Structure
    kpoints_cart: np.ndarray  # (nk, 3), 2pi/alat
    kweights: np.ndarray  # (nk,), as in the XML (not used by the bundle)
    energies: np.ndarray  # (nk, nbnd), eV
    nelec: float
    noncolin: bool  # True: each level is one spin state already (no spin doubling)

    @property
    def kpoints_frac(self) -> np.ndarray:
        return self.structure.frac_from_cartesian_k(self.kpoints_cart, "2pi/alat")


def read_structure(path) -> Structure:
    """The crystal of a pw.x XML: alat, cell / alat, species per atom, fractional positions."""
    return read_qe_xml(path, energies=False).structure


def read_qe_xml(path, *, energies: bool = True) -> QEBands:
    """Read structure, k-points and eigenvalues (Hartree -> eV) from a pw.x XML file."""
    path = Path(path)
    root = _parse_xml(path)
    out = root.find("output")
    if out is None:
        raise InputError(Defect(path, root.line, f"<{root.tag}> has no <output> element (not a pw.x "
                                "data-file-schema.xml, or the run did not finish)"))
    st = _required(path, out, "atomic_structure")
    try:
        alat = float(st.attrib["alat"])
    except (KeyError, ValueError):
        raise InputError(Defect(path, st.line, "<atomic_structure>: missing or bad 'alat' attribute")) from None
    if not alat > 0:
        raise InputError(Defect(path, st.line, f"<atomic_structure>: alat must be > 0, got {alat}"))
    lattice = np.array([_floats(path, _required(path, st, f"cell/a{i}"), 3) for i in (1, 2, 3)])
    if abs(np.linalg.det(lattice)) < 1e-8 * alat**3:
        raise InputError(Defect(path, _required(path, st, "cell").line, "cell vectors are linearly dependent"))
    atoms = _required(path, st, "atomic_positions").findall("atom")
    if not atoms:
        raise InputError(Defect(path, st.line, "no <atom> in <atomic_positions> (Wyckoff positions are not "
                                "supported)"))
    species, cart = [], []
    for atom in atoms:
        name = atom.attrib.get("name", "")
        if not _SYMBOL.fullmatch(name):
            raise InputError(Defect(path, atom.line, f"<atom>: name {name!r} is not a species symbol"))
        species.append(name)
        cart.append(_floats(path, atom, 3))
    frac = np.array(cart) @ np.linalg.inv(lattice)
    frac = np.round(frac % 1.0, 12) % 1.0  # into [0, 1)
    structure = Structure(alat=alat, cell=lattice / alat, species=species, frac=frac)
    if not energies:
        return QEBands(structure, np.zeros((0, 3)), np.zeros(0), np.zeros((0, 0)), 0.0, False)

    bs = _required(path, out, "band_structure")
    if _bool(path, bs.find("lsda")):
        raise InputError(Defect(path, bs.find("lsda").line, "spin-polarized (lsda) runs are not supported"))
    noncolin = _bool(path, bs.find("noncolin"))
    nbnd = int(_floats(path, _required(path, bs, "nbnd"), 1)[0])
    nelec = float(_floats(path, _required(path, bs, "nelec"), 1)[0])
    ks = bs.findall("ks_energies")
    nks = bs.find("nks")
    if nks is not None and int(_floats(path, nks, 1)[0]) != len(ks):
        raise InputError(Defect(path, nks.line, f"nks = {nks.text.strip()} but {len(ks)} <ks_energies> found"))
    if not ks:
        raise InputError(Defect(path, bs.line, "no <ks_energies> (k-points with eigenvalues)"))
    kpts, weights, eigs = [], [], []
    for node in ks:
        kp = _required(path, node, "k_point")
        kpts.append(_floats(path, kp, 3))
        try:
            weights.append(float(kp.attrib.get("weight", "1")))
        except ValueError:
            raise InputError(Defect(path, kp.line, "<k_point>: bad 'weight' attribute")) from None
        eigs.append(_floats(path, _required(path, node, "eigenvalues"), nbnd))
    return QEBands(structure, np.array(kpts), np.array(weights), np.array(eigs) * HARTREE_EV, nelec, noncolin)


def read_filband(path) -> tuple[np.ndarray, np.ndarray]:
    """bands.x ``filband``: returns (k Cartesian in 2pi/alat (nks, 3), energies in eV (nks, nbnd))."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise InputError(Defect(path, None, "file not found (bands.x filband)")) from None
    head = re.search(r"nbnd\s*=\s*(\d+)\s*,\s*nks\s*=\s*(\d+)", lines[0] if lines else "")
    if not head:
        raise InputError(Defect(path, 1, "expected the header '&plot nbnd=N, nks=M /'"))
    nbnd, nks = int(head.group(1)), int(head.group(2))
    tokens = []  # (number, line)
    for n, line in enumerate(lines[1:], 2):
        for tok in line.split():
            try:
                tokens.append((float(tok), n))
            except ValueError:
                raise InputError(Defect(path, n, f"{tok!r} is not a number")) from None
    per_k = 3 + nbnd
    if len(tokens) != nks * per_k:
        line = tokens[nks * per_k][1] if len(tokens) > nks * per_k else len(lines)
        raise InputError(Defect(path, line, f"{len(tokens)} numbers after the header, expected nks x (3 + nbnd) = "
                                f"{nks} x {per_k} = {nks * per_k}"))
    data = np.array([t for t, _ in tokens]).reshape(nks, per_k)
    return data[:, :3], data[:, 3:]

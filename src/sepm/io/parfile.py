"""Low-level readers for the plain-text ``.par`` files of a DeepPseudopot bundle.

Common lexical rules (every reader here):

- ``#`` starts a comment that runs to the end of the line; blank lines are skipped.
- Fields are separated by any whitespace (spaces, tabs); trailing whitespace, CRLF/CR line ends, a
  UTF-8 byte-order mark and a missing final newline are accepted.
- Numbers are Python ``float`` literals; Fortran ``D`` exponents (``1.0D-3``) are accepted too.
  ``nan``/``inf`` are rejected.

File shapes handled here:

- *numeric table*: one row per line, a fixed number of numeric columns (``read_table``).
- *number list*: numbers one per line or whitespace separated (``read_numbers``).
- *key/value*: ``key = value`` per line, lists space separated, checked against a schema mapping
  each known key to one of the types in ``VALUE_TYPES`` (``read_keyvalue``). Unknown keys get a
  did-you-mean suggestion.
- ``mcOpts*.par`` (Monte Carlo options, ``read_mc_options``), ``<Sym>ParamSteps.par`` (one step size
  per parameter, ``read_param_steps``) and ``mc_beta_schedule`` (``iteration beta`` rows,
  ``read_beta_schedule``).

Every problem becomes a :class:`~sepm.errors.Defect` with the 1-based line number. Each reader takes an
optional ``defects`` list: when given, defects are appended to it and the reader returns what it could
read (bad numeric fields become NaN so row counts stay meaningful); when omitted, the reader raises one
:class:`~sepm.errors.InputError` with all defects of that file.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import numpy as np

from sepm.constants import N_PARAMS
from sepm.errors import Defect, InputError

#: Value types understood by :func:`read_keyvalue`.
VALUE_TYPES = ("int", "float", "str", "bool", "list[int]", "list[float]", "list[str]")

_FORTRAN_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)[dD][+-]?\d+")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}

#: Schema of ``mcOpts*.par``.
MC_OPTIONS_SCHEMA = {
    "betas": "list[float]",
    "stepsAtTemp": "list[int]",
    "tempStepSizeMod": "list[float]",
    "totalIter": "int",
    "fitDefPot": "bool",
    "fitCoupling": "bool",
    "optGaps": "bool",
    "defPotWeight": "float",
    "writePerIter": "int",
}


# ----------------------------------------------------------------------------------------- values
def parse_float(token: str) -> float:
    """Parse one finite number (Python syntax or Fortran ``D`` exponent); ValueError otherwise."""
    try:
        value = float(token)
    except ValueError:
        if not _FORTRAN_FLOAT.fullmatch(token):
            raise
        value = float(token.replace("D", "E").replace("d", "e"))
    if not np.isfinite(value):
        raise ValueError(f"{token!r} is not finite")
    return value


def parse_int(token: str) -> int:
    """Parse an integer; an integral float literal such as ``16.0`` is accepted."""
    try:
        return int(token)
    except ValueError:
        value = parse_float(token)
        if value != int(value):
            raise ValueError(f"{token!r} is not an integer") from None
        return int(value)


def parse_bool(token: str) -> bool:
    """Parse ``0``/``1``/``True``/``False`` (case-insensitive; also yes/no, on/off)."""
    low = token.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError(f"{token!r} is not a boolean")


def parse_value(text: str, kind: str):
    """Convert the text right of ``=`` to ``kind`` (one of :data:`VALUE_TYPES`); ValueError if it does not fit."""
    tokens = text.split()
    if kind == "str":
        if not text:
            raise ValueError("empty value")
        return text
    if kind.startswith("list["):
        if not tokens:
            raise ValueError("empty list")
        conv = {"list[int]": parse_int, "list[float]": parse_float, "list[str]": str}[kind]
        return [conv(t) for t in tokens]
    if len(tokens) != 1:
        raise ValueError(f"expected one value, found {len(tokens)}")
    return {"int": parse_int, "float": parse_float, "bool": parse_bool}[kind](tokens[0])


_KIND_WORDS = {
    "int": "an integer",
    "float": "a number",
    "str": "a string",
    "bool": "a boolean (0/1/True/False)",
    "list[int]": "a space-separated list of integers",
    "list[float]": "a space-separated list of numbers",
    "list[str]": "a space-separated list of words",
}


# ----------------------------------------------------------------------------------------- helpers
def _sink(defects: list[Defect] | None) -> tuple[list[Defect], bool]:
    return ([], True) if defects is None else (defects, False)


def _finish(defects: list[Defect], owned: bool) -> None:
    if owned and defects:
        raise InputError(defects)


def suggest(key: str, known) -> str:
    """A `` (did you mean 'x'?)`` suffix for an unknown key, or ``''`` when nothing is close."""
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    if not close:
        lowered = {k.lower(): k for k in known}
        close = [lowered[key.lower()]] if key.lower() in lowered else []
    return f" (did you mean '{close[0]}'?)" if close else ""


def data_lines(path: Path, defects: list[Defect] | None = None) -> list[tuple[int, str]] | None:
    """``(line_number, content)`` of every non-blank line, comments stripped.

    Returns None (and records a defect) when the file is missing or unreadable.
    """
    defects, owned = _sink(defects)
    path = Path(path)
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8-sig")
    except FileNotFoundError:
        what = f"dangling symlink to {path.readlink()}" if path.is_symlink() else "file not found"
        defects.append(Defect(path, None, what))
        _finish(defects, owned)
        return None
    except UnicodeDecodeError as exc:
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        defects.append(Defect(path, raw.count(b"\n", 0, exc.start) + 1,
                              f"byte 0x{raw[exc.start]:02x} at column {exc.start - line_start + 1} is not UTF-8 "
                              "text (comments too); save the file as UTF-8 or ASCII"))
        _finish(defects, owned)
        return None
    except OSError as exc:
        defects.append(Defect(path, None, f"cannot read file: {exc}"))
        _finish(defects, owned)
        return None
    out = []
    for number, raw in enumerate(text.splitlines(), start=1):
        content = raw.split("#", 1)[0].strip()
        if content:
            out.append((number, content))
    return out


def read_kpoint_labels(path) -> dict[int, str]:
    """{row index: label} from trailing comments on the data rows of a k-point file.

    Rows are counted as :func:`data_lines` counts them (non-blank once comments are removed);
    a label is a trailing comment of one word up to 12 characters (``0.5 0.5 0.5 1  # L``). Whole-line
    comments and longer remarks are not labels.
    """
    labels, row = {}, 0
    for raw in Path(path).read_bytes().decode("utf-8-sig").splitlines():
        content, hash_, comment = raw.partition("#")
        if not content.strip():
            continue
        word = comment.strip()
        if hash_ and word and len(word) <= 12 and len(word.split()) == 1:
            labels[row] = word
        row += 1
    return labels


def _numbers(path, number, fields, defects, first_column=1) -> list[float]:
    row = []
    for col, tok in enumerate(fields, start=first_column):
        try:
            row.append(parse_float(tok))
        except ValueError:
            defects.append(Defect(path, number, f"column {col}: {tok!r} is not a number"))
            row.append(np.nan)
    return row


# ----------------------------------------------------------------------------------------- tables
def read_table(
    path: Path,
    ncols: int | None,
    defects: list[Defect] | None = None,
    *,
    columns: str = "",
) -> tuple[np.ndarray, list[int]]:
    """Read a numeric table with ``ncols`` columns per row.

    ``ncols=None`` takes the column count of the first row. ``columns`` describes the expected
    columns in defect messages (e.g. ``"k1 k2 k3 weight"``). Returns ``(array (nrows, ncols),
    line_numbers)``; a row with a wrong column count or a non-number gives a defect and NaNs.
    A missing file gives a defect and an empty (0, ncols) array.
    """
    defects, owned = _sink(defects)
    path = Path(path)
    lines = data_lines(path, defects) or []
    if ncols is None:
        ncols = len(lines[0][1].split()) if lines else 0
    rows, numbers = [], []
    wrong: dict[int, list[int]] = {}  # found column count -> line numbers
    for number, content in lines:
        fields = content.split()
        numbers.append(number)
        if len(fields) != ncols:
            wrong.setdefault(len(fields), []).append(number)
            rows.append([np.nan] * ncols)
            continue
        rows.append(_numbers(path, number, fields, defects))
    hint = f" ({columns})" if columns else ""
    for found, where in wrong.items():  # one defect per distinct wrong count, at its first line
        more = f"; same on {len(where) - 1} more line(s), up to line {where[-1]}" if len(where) > 1 else ""
        defects.append(Defect(path, where[0], f"expected {ncols} columns{hint}, found {found}{more}"))
    _finish(defects, owned)
    return np.array(rows, dtype=np.float64).reshape(len(rows), ncols), numbers


def read_numbers(path: Path, defects: list[Defect] | None = None) -> tuple[np.ndarray, list[int]]:
    """Read numbers given one per line or whitespace separated; returns ``(values, line_numbers)``."""
    defects, owned = _sink(defects)
    path = Path(path)
    values, numbers = [], []
    for number, content in data_lines(path, defects) or []:
        fields = content.split()
        values += _numbers(path, number, fields, defects)
        numbers += [number] * len(fields)
    _finish(defects, owned)
    return np.array(values, dtype=np.float64), numbers


# ----------------------------------------------------------------------------------------- key/value
def read_keyvalue(
    path: Path,
    schema: dict[str, str],
    defects: list[Defect] | None = None,
) -> tuple[dict, dict[str, int]]:
    """Read a ``key = value`` file typed by ``schema`` (key -> one of :data:`VALUE_TYPES`).

    Returns ``(values, line_of_key)``. Unknown keys (with a did-you-mean), repeated keys, lines without
    ``=`` and values of the wrong type are defects; such keys are left out of ``values``.
    """
    defects, owned = _sink(defects)
    path = Path(path)
    values: dict = {}
    where: dict[str, int] = {}
    for number, content in data_lines(path, defects) or []:
        key, eq, text = content.partition("=")
        key, text = key.strip(), text.strip()
        if not eq or not key or len(key.split()) != 1:
            defects.append(Defect(path, number, f"expected 'key = value', found {content!r}"))
            continue
        if key not in schema:
            defects.append(Defect(path, number, f"unknown key '{key}'{suggest(key, schema)}"))
            continue
        if key in where:
            defects.append(Defect(path, number, f"key '{key}' given twice (first on line {where[key]})"))
            continue
        where[key] = number
        kind = schema[key]
        try:
            values[key] = parse_value(text, kind)
        except ValueError:
            defects.append(Defect(path, number, f"{key}: {text!r} is not {_KIND_WORDS[kind]}"))
    _finish(defects, owned)
    return values, where


# ----------------------------------------------------------------------------------------- Monte Carlo
def read_mc_options(path: Path, defects: list[Defect] | None = None) -> dict:
    """Read ``mcOpts*.par`` (keys of :data:`MC_OPTIONS_SCHEMA`).

    Example::

        betas = 100 1
        stepsAtTemp = 5 5
        tempStepSizeMod = 1.0 1.0
        totalIter = 20
        fitDefPot = False

    ``betas``, ``stepsAtTemp`` and ``tempStepSizeMod`` must have the same length when given together.
    Only keys present in the file are returned.
    """
    defects, owned = _sink(defects)
    path = Path(path)
    opts, where = read_keyvalue(path, MC_OPTIONS_SCHEMA, defects)
    lists = [k for k in ("betas", "stepsAtTemp", "tempStepSizeMod") if k in opts]
    for key in lists[1:]:
        if len(opts[key]) != len(opts[lists[0]]):
            defects.append(Defect(path, where[key], f"{key} has {len(opts[key])} entries but "
                                  f"{lists[0]} (line {where[lists[0]]}) has {len(opts[lists[0]])}"))
    for key in ("totalIter", "writePerIter"):
        if key in opts and opts[key] < 0:
            defects.append(Defect(path, where[key], f"{key} must be >= 0, got {opts[key]}"))
    _finish(defects, owned)
    return opts


def read_param_steps(path: Path, defects: list[Defect] | None = None, *, fill: float = 0.0) -> np.ndarray:
    """Read ``<Sym>ParamSteps.par``: one MC step size per parameter a0..a8, one per line.

    Fewer than 9 numbers are padded with ``fill`` (default 0: that parameter is not moved);
    more than 9, or a negative step, is a defect. Returns shape (9,).
    """
    defects, owned = _sink(defects)
    path = Path(path)
    values, numbers = read_numbers(path, defects)
    if len(values) > N_PARAMS:
        defects.append(Defect(path, numbers[N_PARAMS], f"more than {N_PARAMS} step sizes (a0..a8)"))
    for v, n in zip(values, numbers):
        if v < 0:
            defects.append(Defect(path, n, f"step size must be >= 0, got {v:g}"))
    _finish(defects, owned)
    out = np.full(N_PARAMS, fill, dtype=np.float64)
    out[: min(len(values), N_PARAMS)] = values[:N_PARAMS]
    return out


def read_beta_schedule(path: Path, defects: list[Defect] | None = None) -> np.ndarray:
    """Read ``mc_beta_schedule``: rows ``iteration beta``; iterations integral, >= 0, non-decreasing;
    beta > 0. Returns shape (n, 2)."""
    defects, owned = _sink(defects)
    path = Path(path)
    table, numbers = read_table(path, 2, defects, columns="iteration beta")
    previous = -np.inf
    for (it, beta), n in zip(table, numbers):
        if np.isnan(it) or np.isnan(beta):
            continue
        if it != int(it) or it < 0:
            defects.append(Defect(path, n, f"column 1: iteration must be a non-negative integer, got {it:g}"))
        elif it < previous:
            defects.append(Defect(path, n, f"column 1: iterations must not decrease ({it:g} after {previous:g})"))
        previous = max(previous, it)
        if beta <= 0:
            defects.append(Defect(path, n, f"column 2: beta must be > 0, got {beta:g}"))
    if not numbers and not any(d.path == path for d in defects):
        defects.append(Defect(path, None, "no 'iteration beta' rows"))
    _finish(defects, owned)
    return table

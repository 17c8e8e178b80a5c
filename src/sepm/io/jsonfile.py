"""JSON records written by sepm (model_config.json, dot.json) read back with one line per defect."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import Defect, InputError


def read_json(path, what: str, required=()) -> dict:
    """The object in ``path``; a missing, unreadable, damaged or foreign file (not an object, or without a
    ``required`` key) is an :class:`InputError` naming the file (and line for a syntax error)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(Defect(path, None, f"missing: expected a {what}"))
    try:
        data = json.loads(path.read_text())
    except UnicodeDecodeError as err:
        raise InputError(Defect(path, None, f"not a text file ({err.reason} at byte {err.start}); expected a "
                                f"{what}")) from None
    except json.JSONDecodeError as err:
        raise InputError(Defect(path, err.lineno, f"damaged JSON ({err.msg}, column {err.colno}); expected a "
                                f"{what}")) from None
    if not isinstance(data, dict):
        raise InputError(Defect(path, None, f"not a {what}: no JSON object"))
    missing = [k for k in required if k not in data]
    if missing:
        raise InputError(Defect(path, None, f"not a {what}: key {missing[0]!r} is missing"))
    return data

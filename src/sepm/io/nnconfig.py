"""``NN_config.par``: the run configuration of a DeepPseudopot bundle.

Format: ``key = value`` per line, ``#`` comments (also trailing), booleans ``0``/``1`` (``True``/``False``
accepted), lists space separated::

    PPmodel = Net_celu_HeInit_decayGaussian
    hiddenLayers = 20 20 20
    nSystem = 1
    max_num_epochs = 600

Every key (DeepPseudopot's and sepm's own) is declared once, with its type, default, range and meaning, in
:mod:`sepm.settings`; unknown keys are defects with a did-you-mean, values out of range name the allowed
range. DeepPseudopot's defaults (:data:`NN_CONFIG_DEFAULTS`) fill keys left out; the other keys stay
absent and are read with their declared default (:func:`sepm.settings.setting`) or checked by the stage
that needs them (PPmodel, mc_iter, ...).
``nSystem`` is required; ``mc_bool = 1`` together with ``max_num_epochs > 0`` is rejected.
"""

from __future__ import annotations

from pathlib import Path

from sepm.errors import Defect
from sepm.io.parfile import _finish, _sink, read_keyvalue
from sepm.settings import FILLED_DEFAULTS, KINDS, range_defects, setting

#: key -> type (declared in :mod:`sepm.settings`)
NN_CONFIG_SCHEMA = KINDS
#: the defaults filled in when the file is read (DeepPseudopot's); other keys' defaults: :func:`sepm.settings.setting`
NN_CONFIG_DEFAULTS = FILLED_DEFAULTS

_CHECKPOINT_CONFLICT = ("checkpoint = 1 (recompute the Hamiltonian build in the backward pass) and separateKptGrad "
                        "= 1 ({where}) do not go together: per-k-point gradients already bound the memory; "
                        "use one of them")


def read_nn_config(path: Path, defects: list[Defect] | None = None) -> tuple[dict, dict[str, int]]:
    """Read ``NN_config.par``; returns ``(config with defaults filled, line_of_key for keys in the file)``."""
    defects, owned = _sink(defects)
    path = Path(path)
    given, where = read_keyvalue(path, NN_CONFIG_SCHEMA, defects)
    if "nSystem" not in where and path.is_file():
        defects.append(Defect(path, None, "required key 'nSystem' is missing (number of systems X = 0..nSystem-1)"))
    defects += range_defects(given, lambda key: (path, where[key]))
    if given.get("checkpoint") and given.get("separateKptGrad"):
        defects.append(Defect(path, where["checkpoint"],
                              _CHECKPOINT_CONFLICT.format(where=f"line {where['separateKptGrad']}")))
    if given.get("mc_bool") and setting(given, "max_num_epochs") > 0:
        defects.append(Defect(
            path, where["mc_bool"],
            f"mc_bool = 1 (line {where['mc_bool']}) and max_num_epochs = {given['max_num_epochs']} "
            f"(line {where['max_num_epochs']}) are mutually exclusive: Monte Carlo fitting needs "
            "max_num_epochs = 0, gradient training needs mc_bool = 0"))
    _finish(defects, owned)
    return {**NN_CONFIG_DEFAULTS, **given}, where


def apply_overrides(config: dict, overrides: list[str], origin: str = "--set") -> dict:
    """A copy of ``config`` with ``KEY=VALUE`` overrides typed by :data:`NN_CONFIG_SCHEMA`.

    Bad keys or values raise :class:`~sepm.errors.InputError` naming ``origin`` and the key."""
    import difflib

    from sepm.errors import InputError
    from sepm.io.parfile import parse_value

    out = dict(config)
    defects, position = [], {}
    for i, item in enumerate(overrides, 1):
        key, sep, value = (part.strip() for part in item.partition("="))
        if not sep or key not in NN_CONFIG_SCHEMA:
            close = difflib.get_close_matches(key, NN_CONFIG_SCHEMA, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            defects.append(Defect(Path(origin), i, f"{item!r}: unknown NN_config key {key!r}{hint}; use KEY=VALUE"))
            continue
        try:
            out[key] = parse_value(value, NN_CONFIG_SCHEMA[key])
            position[key] = i
        except ValueError as err:
            defects.append(Defect(Path(origin), i, f"{key}: {err}"))
    defects += range_defects({k: out[k] for k in position}, lambda key: (Path(origin), position[key]))
    if out.get("mc_bool") and setting(out, "max_num_epochs") > 0:
        defects.append(Defect(Path(origin), None, "mc_bool = 1 and max_num_epochs > 0 are mutually exclusive"))
    if out.get("checkpoint") and out.get("separateKptGrad"):
        defects.append(Defect(Path(origin), None, _CHECKPOINT_CONFLICT.format(where="after the overrides")))
    if defects:
        raise InputError(defects)
    return out


def config_notices(config: dict) -> list[str]:
    """Notices for keys that are accepted but change nothing here (logged by every stage that reads them)."""
    out = []
    if config.get("SHOWPLOTS"):
        out.append("SHOWPLOTS = 1: sepm opens no plot windows; every plot is written as PNG and PDF")
    if config.get("eigvec_reorder"):
        out.append("eigvec_reorder = 1 is not acted on: DeepPseudopot reads it but never uses it either; "
                   "use smooth_reorder = 1 or kpoints_X_orderMatrix.par to fix the band order")
    return out

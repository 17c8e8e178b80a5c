"""Readers for DeepPseudopot input bundles (see :mod:`sepm.io.bundle` for the file formats)."""

from sepm.io.bundle import INPUT_SCHEMA, Bundle, SystemSpec, read_bundle, read_system_file
from sepm.io.nnconfig import NN_CONFIG_DEFAULTS, NN_CONFIG_SCHEMA, read_nn_config
from sepm.io.parfile import (
    MC_OPTIONS_SCHEMA,
    data_lines,
    parse_float,
    parse_value,
    read_beta_schedule,
    read_keyvalue,
    read_mc_options,
    read_numbers,
    read_param_steps,
    read_table,
)

__all__ = [
    "Bundle",
    "INPUT_SCHEMA",
    "MC_OPTIONS_SCHEMA",
    "NN_CONFIG_DEFAULTS",
    "NN_CONFIG_SCHEMA",
    "SystemSpec",
    "data_lines",
    "parse_float",
    "parse_value",
    "read_beta_schedule",
    "read_bundle",
    "read_keyvalue",
    "read_mc_options",
    "read_nn_config",
    "read_numbers",
    "read_param_steps",
    "read_system_file",
    "read_table",
]

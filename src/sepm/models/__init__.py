"""Local-potential models (PPmodel): q (n, 1) in 1/Bohr → v(q) (n, N_species) in Hartree·Bohr³, float64.

``build_model(PPmodel, hiddenLayers, n_species, config, seed)`` parses DeepPseudopot's class names
(``Net_relu_xavier_decayGaussian``, ``ZeroFunction``, …) into composable parts; see
:mod:`sepm.models.catalog` for the grammar, :mod:`sepm.models.parts` for the math.
"""

from sepm.models.catalog import build_model, init_strategy_name, parse_ppmodel
from sepm.models.network import PotentialNet, ZeroFunction, load_state_dict_compat

__all__ = ["build_model", "init_strategy_name", "parse_ppmodel", "PotentialNet", "ZeroFunction",
           "load_state_dict_compat"]

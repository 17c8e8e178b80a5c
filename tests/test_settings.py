"""sepm.settings: one declaration per NN_config key, from which the reader, --set, the workflow's set: schema
and --help come."""

import json
import re
from pathlib import Path

import pytest

from sepm.errors import InputError
from sepm.io.nnconfig import apply_overrides, read_nn_config
from sepm.io.parfile import VALUE_TYPES
from sepm.settings import FILLED_DEFAULTS, SETTINGS, help_text, setting, workflow_schema

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


def test_declarations_are_consistent():
    """Every type is one the reader knows; every default has that type and lies in its own range."""
    for key, s in SETTINGS.items():
        assert s.kind in VALUE_TYPES, key
        if s.default is not None:
            assert type(setting({}, key)).__name__ == s.kind.partition("[")[0], key
            assert s.default == [] or s.accepts(s.default), key
    assert FILLED_DEFAULTS["max_num_epochs"] == 0 and "optimizer_lr" not in FILLED_DEFAULTS
    assert setting({}, "memory_limit_GB") == 2.0 and setting({"memory_limit_GB": 3}, "memory_limit_GB") == 3.0
    assert setting({}, "relE_bIdx") is None and setting({}, "hiddenLayers") == []


def test_workflow_schema_file_is_generated_from_the_declarations():
    committed = json.loads((ROOT / "workflow" / "schemas" / "nn_config.schema.json").read_text())
    assert committed == workflow_schema(), "run: python -m sepm.settings > workflow/schemas/nn_config.schema.json"


@pytest.mark.parametrize("overrides, message", [
    ({"max_num_epoch": 3}, "'max_num_epoch' was unexpected"),
    ({"optimizer_lr": -1}, "-1 is less than the minimum of 0"),
    ({"hiddenLayers": [8, 0]}, "0 is less than the minimum of 1"),
    ({"mc_percentage": 1.5}, "1.5 is greater than the maximum of 1"),
    ({"lr_schedule": "cosin"}, "'cosin' is not one of"),
    ({"optimizer_lr": "1e-3", "hiddenLayers": "8 8", "SObool": True, "optimizer": "LBFGS"}, None),
])
def test_workflow_set_blocks_are_checked_by_the_schema(overrides, message):
    from snakemake.utils import validate

    config = {"materials": {"GaAs": {"bundle": "b", "optimize": [{"method": "gradient", "set": overrides}]}}}
    if message is None:
        validate(config, str(SCHEMA))
        return
    with pytest.raises(Exception) as info:
        validate(config, str(SCHEMA))
    assert message in info.value.__context__.message


def test_bad_values_name_the_file_line_key_and_range(tmp_path):
    path = tmp_path / "NN_config.par"
    path.write_text("nSystem = 1\noptimizer = adamm\ninit_Zunger_optimizer = SGD\nmc_percentage = 0\n")
    with pytest.raises(InputError) as info:
        read_nn_config(path)
    assert str(info.value).splitlines() == [
        f"{path}:2: optimizer must be one of adam, adamw, sgd, lbfgs, rmsprop, adagrad, adadelta, adamax, nadam, "
        "radam, asgd, got adamm",
        f"{path}:4: mc_percentage must be in (0, 1], got 0.0"]
    with pytest.raises(InputError, match=r"^--set:2: init_Zunger_optimizer must be one of adam, sgd, got lbfgs$"):
        apply_overrides({}, ["optimizer=Adam", "init_Zunger_optimizer=lbfgs"])


def test_help_lists_every_key_with_its_default(capsys):
    from sepm.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    text = capsys.readouterr().out
    assert all(re.search(rf"^    {key} \(", text, re.M) for key in SETTINGS)
    assert "memory_limit_GB (float, default 2, > 0):" in text and "mc_percentage (float, in (0, 1]):" in help_text()


def test_optimizer_choices_are_the_optimizers_built():
    from sepm.choices import OPTIMIZERS
    from sepm.fitting.train import OPTIMIZERS as BUILT

    assert set(BUILT) == set(OPTIMIZERS)


def test_defaults_are_read_from_the_declarations():
    """No `config.get(<key>, <default>)` in the library: a default is written once, in sepm.settings
    """
    keys = "|".join(map(re.escape, SETTINGS))
    pattern = re.compile(rf"\.get\(\s*\"({keys})\"\s*,")
    found = [f"{p.relative_to(ROOT)}: {m.group(0)}" for p in (ROOT / "src" / "sepm").rglob("*.py")
             for m in pattern.finditer(p.read_text())]
    assert found == ['src/sepm/fitting/potential_files.py: .get("PPmodel",'], found

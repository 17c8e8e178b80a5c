"""Every setting that changes a rule's output is tracked by Snakemake: changing it reruns that rule and its
dependants (dry run), and a change that touches no output reruns nothing.

The pipeline copy runs once with a stub in place of workflow/scripts/sepm_stage.py (it writes each declared
output), so Snakemake records every job's params in .snakemake/metadata in seconds; each case then dry-runs a
changed config against that record."""

import copy
import json

import pytest
import yaml
from pipeline_copy import copy_pipeline, run_snakemake

STUB = """from pathlib import Path
for f in [*snakemake.output, *snakemake.log]:
    Path(f).parent.mkdir(parents=True, exist_ok=True)
    Path(f).write_text("stub")
"""

CONFIG = {
    "materials": {"GaAs": {
        "bundle": "resources/bundles/GaAs",
        "set": {"PPmodel": "Net_relu_xavier_decayGaussian", "hiddenLayers": [8, 8]},
        "optimize": [{"method": "gradient", "set": {"max_num_epochs": 3, "optimizer_lr": 0.005}}],
        "tools": {"kpath": {"density": 10, "align": "vbm"}, "decompose": {"kpoints": [0, 3], "bands": [8, 9]},
                  "density": {"kgrid": [2, 2, 2]}, "masses": {"step": 0.02}, "movie": {"fps": 2},
                  "nanocrystal": {"radii": [10, 12], "spacing": 1.0}},
        "ensemble": {"size": 2, "set": {"max_num_epochs": 2}, "clusters": 2},
    }},
    "resources": {"prior": {"threads": 1, "mem_mb": 1000, "runtime": 5},
                  "optimize": {"threads": 1, "mem_mb": 1000, "runtime": 5},
                  "eval": {"threads": 1, "mem_mb": 1000, "runtime": 5}},
}
TOOLS = {"eval_bands_path", "decompose", "density", "masses", "movie", "dot", "gap_vs_size"}
FINAL = {"export", "eval_bands_final"} | TOOLS
ENSEMBLE = {"ensemble_member", "ensemble_export", "cluster"}


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    work = copy_pipeline(tmp_path_factory.mktemp("triggers"))
    (work / "workflow" / "scripts" / "sepm_stage.py").write_text(STUB)
    (work / "base.yaml").write_text(yaml.safe_dump(CONFIG))
    run_snakemake(work, "all", "--configfile", "base.yaml")
    return work


def rerun(work, edit) -> set[str]:
    """The rules a dry run after ``edit(config)`` would run (the aggregate rule `all` left out)."""
    config = copy.deepcopy(CONFIG)
    edit(config)
    (work / "changed.yaml").write_text(yaml.safe_dump(config))
    plan = run_snakemake(work, "all", "-n", "--configfile", "changed.yaml")
    if "Nothing to be done" in plan:
        return set()
    rows = plan.split("Job stats:")[1].split("total")[0].splitlines()[3:]
    return {row.split()[0] for row in rows if row.strip()} - {"all"}


def test_every_job_records_its_params(pipeline):
    """The issue's symptom: params that are functions of input or output were recorded as [] (untracked)."""
    records = [json.loads(f.read_text()) for f in (pipeline / ".snakemake" / "metadata").iterdir()]
    untracked = {r["rule"] for r in records if not r["params"]}
    assert len(records) > 40 and not untracked, untracked


def gaas(config: dict) -> dict:
    return config["materials"]["GaAs"]


def tool_settings(config: dict):
    """One new value for each tool's setting and the ensemble's cluster count: independent rules, one dry run."""
    tools = gaas(config)["tools"]
    tools["kpath"].update(density=20, align="none")
    tools["decompose"]["bands"] = [8]
    tools["density"]["kgrid"] = [3, 3, 3]
    tools["masses"]["step"] = 0.01
    tools["movie"]["fps"] = 4
    tools["nanocrystal"]["spacing"] = 0.6
    gaas(config)["ensemble"]["clusters"] = 1


CASES = {
    "material set": (lambda c: gaas(c)["set"].update(hiddenLayers=[6, 6]),
                     {"prior", "optimize", "cost_plot"} | FINAL | ENSEMBLE),
    "optimize set": (lambda c: gaas(c)["optimize"][0]["set"].update(optimizer_lr=0.004),
                     {"optimize", "cost_plot"} | FINAL),
    "ensemble set": (lambda c: gaas(c)["ensemble"]["set"].update(max_num_epochs=3), ENSEMBLE),
    "every tool's setting": (tool_settings, TOOLS | {"cluster"}),
    "a ligand of the dots": (lambda c: gaas(c)["tools"]["nanocrystal"].update(passivation={"cation_fraction": 0.5}),
                             {"dot", "gap_vs_size"}),
    "the dots' system (the ligands' bulk edges too)": (lambda c: gaas(c)["tools"]["nanocrystal"].update(system=1),
                                                        {"export", "dot", "gap_vs_size"}),
    "unrelated: job resources": (lambda c: c["resources"]["eval"].update(mem_mb=2000, threads=2), set()),
    "unrelated: ranks of a fit": (lambda c: gaas(c).update(ranks={"tasks": 4, "nodes": 2}), set()),
}


@pytest.mark.parametrize("case", CASES)
def test_a_changed_setting_reruns_its_rule_and_dependants_only(pipeline, case):
    edit, expected = CASES[case]
    assert rerun(pipeline, edit) == expected

# Helpers shared by all rules: bundle lookup, the optimize chain of each material, and the
# command lines of the stages. A rule's params are functions of its wildcards only: Snakemake records
# and reruns on those, but never on a params function that takes input, output, threads or resources
# (tests/test_rerun_triggers.py), so paths are built here from the wildcards.

import json
import mimetypes
import os
import re
import sys
from pathlib import Path

# sepm's .dat outputs are text tables: so the report shows them as text (Python knows no .dat type)
mimetypes.add_type("text/plain", ".dat")

SYSTEM_FILE = re.compile(r"^system_(\d+)\.par$")
BAND_EXTS = ["dat", "png", "pdf"]
# File a stage writes last (the rule's declared output) and the prefix of the potential it leaves.
STAGE_MARKER = {
    "prior": "init_record.json",
    "gradient": "fit_summary.json",
    "mc": "mc_summary.json",
}
STAGE_PREFIX = {"prior": "init_", "gradient": "final_", "mc": "best_"}


def check_config_syntax(path):
    """One line naming the file and line of a config file that is not valid YAML (Snakemake's own message
    names neither); a missing file is left to Snakemake."""
    import yaml

    try:
        with open(path) as handle:
            yaml.safe_load(handle)
    except FileNotFoundError:
        return
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else path
        raise WorkflowError(
            f"{where}: not valid YAML: {getattr(err, 'problem', None) or err}"
        ) from None


def check_targets(argv):
    """Every target named on the command line under results/<name>/ is a configured material: one line
    naming the config key before the DAG is built (an input function's error comes with a traceback).
    """
    for target in argv:
        parts = Path(target).parts
        if (
            len(parts) > 2
            and parts[0] == "results"
            and parts[1] not in config["materials"]
        ):
            raise WorkflowError(
                f"config materials: no material {parts[1]!r} (target {target}; configured: "
                f"{', '.join(config['materials'])}); add it under materials or ask for a configured one"
            )


def material(name):
    if (
        name not in config["materials"]
    ):  # a target the command line did not name (check_targets)
        raise WorkflowError(
            f"config materials: no material {name!r} (configured: {', '.join(config['materials'])})"
        )
    return config["materials"][name]


def bundle_dir(name):
    """Input bundle folder of a configured material (results/<name>/bundle when converted)."""
    if "convert" in material(name):
        return Path(f"results/{name}/bundle")
    return Path(material(name)["bundle"])


def system_indices(name):
    """Sorted system indices X of the bundle, from its system_X.par files."""
    if "convert" in material(name):
        return [0]  # sepm convert writes one system
    folder = bundle_dir(name)
    if not folder.is_dir():
        raise WorkflowError(
            f"materials.{name}.bundle: {folder} is not a folder (config)"
        )
    found = sorted(
        int(m.group(1))
        for m in (SYSTEM_FILE.match(p.name) for p in folder.iterdir())
        if m
    )
    if not found:
        raise WorkflowError(f"{folder}: no system_X.par file in the bundle")
    return found


def bundle_files(name):
    """Every file of a material's bundle, so that editing one reruns its jobs."""
    if "convert" in material(name):
        return [str(bundle_dir(name))]  # the convert rule's directory output
    system_indices(name)  # fails early on a missing or empty bundle
    return sorted(str(p) for p in bundle_dir(name).iterdir() if p.is_file())


def optimize_chain(name):
    """The optimize steps of a material: [(step name, method, overrides)], e.g. 1_mc, 2_gradient."""
    return [
        (f"{i}_{step['method']}", step["method"], step.get("set", {}))
        for i, step in enumerate(material(name)["optimize"], 1)
    ]


def step_info(name, step):
    for entry in optimize_chain(name):
        if entry[0] == step:
            return entry
    raise WorkflowError(f"materials.{name}.optimize has no step {step}")


def stage_dir(name, step):
    return (
        f"results/{name}/prior"
        if step == "prior"
        else f"results/{name}/optimize/{step}"
    )


def stage_marker(name, step):
    method = "prior" if step == "prior" else step_info(name, step)[1]
    return f"{stage_dir(name, step)}/{STAGE_MARKER[method]}"


def previous_step(name, step):
    names = ["prior"] + [entry[0] for entry in optimize_chain(name)]
    return names[names.index(step) - 1]


def last_step(name):
    steps = optimize_chain(name)
    return steps[-1][0] if steps else "prior"


def prefix_of(name, step):
    return STAGE_PREFIX["prior" if step == "prior" else step_info(name, step)[1]]


def overrides(name, step):
    """NN_config overrides of one stage: the material's `set`, then the stage's own `set`."""
    values = dict(material(name).get("set", {}))
    values.update(
        material(name).get("prior", {}).get("set", {})
        if step == "prior"
        else step_info(name, step)[2]
    )
    if step != "prior":
        method = step_info(name, step)[1]
        values["mc_bool"] = 1 if method == "mc" else 0
        if method == "mc":
            values["max_num_epochs"] = 0
    return values


def set_args(values):
    args = []
    for key, value in values.items():
        if isinstance(value, bool):
            value = int(value)
        if isinstance(value, list):
            value = " ".join(str(v) for v in value)
        args += ["--set", f"{key}={value}"]
    return args


def fit_ranks(name):
    """(tasks, nodes) of the material's optimize jobs (config `ranks`; used by the SLURM profile)."""
    ranks = material(name).get("ranks", {})
    return int(ranks.get("tasks", 1)), int(ranks.get("nodes", 1))


def stage_argv(name, step):
    """`sepm prior|train|mc` arguments of one stage (the previous stage initializes it)."""
    outdir = stage_dir(name, step)
    values = overrides(name, step)
    if step == "prior":
        return ["prior", str(bundle_dir(name)), outdir, *set_args(values)]
    previous = previous_step(name, step)
    command = "mc" if step_info(name, step)[1] == "mc" else "train"
    return [
        command,
        str(bundle_dir(name)),
        outdir,
        "--init-from",
        stage_dir(name, previous),
        "--init-prefix",
        prefix_of(name, previous),
        *set_args(values),
    ]


def bands_outputs(name, folder="bands"):
    """Band tables and plots of every system of a material."""
    return [
        f"results/{name}/{folder}/bands_{i}.{ext}"
        for i in system_indices(name)
        for ext in BAND_EXTS
    ]


def coupling_outputs(name):
    """Electron-phonon coupling tables of the final potential, for the systems with qpoints_X.par."""
    if "convert" in material(name):
        return []
    folder = bundle_dir(name)
    return [
        f"results/{name}/eval/couplingBands_{i}.dat"
        for i in system_indices(name)
        if (folder / f"qpoints_{i}.par").is_file()
    ]


def all_targets():
    """Default targets: the exported potential, the initial and final bands of every material, and the
    final couplings where the bundle has phonon q-points."""
    targets = []
    for name in config["materials"]:
        targets.append(f"results/{name}/final_pot.dat")
        targets += bands_outputs(name, "bands") + bands_outputs(name, "eval")
        targets += coupling_outputs(name)
    return targets


# --- convert stage (workflow/rules/convert.smk) ------------------------------------------------
CONVERT_FILES = ("qe_xml", "qe_bands", "bgw_eqp", "bgw_bandstructure")


def convert_inputs(name):
    """Source files of a converted material, and its prior's parameter files."""
    conv = material(name)["convert"]
    files = [conv[key] for key in CONVERT_FILES if key in conv]
    prior = Path(conv["prior"])
    if not prior.is_dir():
        raise WorkflowError(
            f"materials.{name}.convert.prior: {prior} is not a folder (config)"
        )
    return files + sorted(str(p) for p in prior.glob("*Params.par"))


def convert_argv(name):
    """`sepm convert` arguments of a material's `convert` block."""
    conv = material(name)["convert"]
    argv = ["convert", str(bundle_dir(name)), "--qe-xml", conv["qe_xml"]]
    if conv["source"] == "qe" and "qe_bands" in conv:
        argv += ["--qe-bands", conv["qe_bands"]]
    if conv["source"] == "bgw":
        key = "bgw_eqp" if "bgw_eqp" in conv else "bgw_bandstructure"
        argv += [f"--{key.replace('_', '-')}", conv[key]]
        argv += ["--bgw-energy", conv["bgw_energy"]]
    argv += ["--prior", conv["prior"], "--maxke", conv["maxKE"]]
    if "nBands" in conv:
        argv += ["--nbands", conv["nBands"]]
    if "vbm_align" in conv:
        argv += ["--vbm-align", conv["vbm_align"]]
    return argv


def converted_materials():
    return [name for name in config["materials"] if "convert" in material(name)]


# --- ensemble, cluster stage and cost plots (workflow/rules/analyse.smk) -----------------------
ENSEMBLE_COMMAND = {"gradient": "train", "mc": "mc"}
COST_TABLE = {"gradient": "training_cost", "mc": "mc_cost"}


def ensemble(name):
    """A material's `ensemble` block, or None."""
    return material(name).get("ensemble")


def ensemble_method(name):
    return ensemble(name).get("method", "gradient")


def ensemble_members(name):
    return list(range(int(ensemble(name)["size"]))) if ensemble(name) else []


def ensemble_dir(name, member):
    return f"results/{name}/ensemble/{member}"


def ensemble_marker(name, member):
    """The file a member's fit writes last: fit_summary.json (gradient) or mc_summary.json."""
    return f"{ensemble_dir(name, member)}/{STAGE_MARKER[ensemble_method(name)]}"


def ensemble_argv(name, member):
    """`sepm train|mc` arguments of ensemble member `member`: the material's `set`, the ensemble's
    `set`, then seed = ensemble seed + member. No --init-from: each member initializes itself from
    the bundle (its own network draw, then the prior fit its settings ask for), so the members
    start apart; starting them all from results/<m>/prior would make them differ only in seed-driven
    perturbations."""
    block = ensemble(name)
    method = ensemble_method(name)
    values = dict(material(name).get("set", {}))
    values.update(block.get("set", {}))
    values["seed"] = int(block.get("seed", 0)) + int(member)
    values["mc_bool"] = 1 if method == "mc" else 0
    if method == "mc":
        values["max_num_epochs"] = 0
    return [
        ENSEMBLE_COMMAND[method],
        str(bundle_dir(name)),
        ensemble_dir(name, member),
        *set_args(values),
    ]


def ensemble_tables(name):
    return [
        f"{ensemble_dir(name, i)}/final_qSpace_pot.dat" for i in ensemble_members(name)
    ]


def ensemble_summaries(name):
    return [ensemble_marker(name, i) for i in ensemble_members(name)]


def cluster_argv(name):
    """`sepm cluster` arguments of a material's ensemble."""
    block = ensemble(name)
    tables = ensemble_tables(name)
    return [
        "cluster",
        f"results/{name}/cluster",
        *tables,
        "--costs-from",
        *ensemble_summaries(name),
        "--clusters",
        str(block.get("clusters", 2)),
        "--seed",
        str(block.get("seed", 0)),
        "--title",
        f"{name}: {len(tables)} {ensemble_method(name)} fits",
    ]


def cost_plots(name):
    """Cost-history plots of a material's optimize steps (training_cost.png / mc_cost.png)."""
    return [
        f"{stage_dir(name, step)}/{COST_TABLE[method]}.png"
        for step, method, _ in optimize_chain(name)
    ]


def analysis_targets():
    """Cost plots of every optimize step, and the cluster outputs of materials with an ensemble."""
    targets = []
    for name in config["materials"]:
        targets += cost_plots(name)
        if ensemble(name):
            targets.append(f"results/{name}/cluster/representatives.dat")
    return targets


# --- optional tools (workflow/rules/tools.smk) -------------------------------------------------
# Config key of each tool -> its sepm option (repeated for every list item when `repeat`).
TOOL_OPTIONS = {
    "kpath": {"density": ("--kpath-density", False), "align": ("--align", False)},
    "decompose": {"kpoints": ("--kpoint", True), "bands": ("--band", True)},
    "density": {
        "kgrid": ("--kgrid", False),
        "fft_grid": ("--fft-grid", False),
        "electrons": ("--electrons", False),
    },
    "masses": {"step": ("--step", False)},
    "movie": {"fps": ("--fps", False), "max_frames": ("--max-frames", False)},
}


def final_marker(name):
    """The file the material's last stage (prior or last optimize step) writes last."""
    return stage_marker(name, last_step(name))


def tool_options(name, tool):
    """sepm options from the material's `tools: {tool: {...}}` settings (none when absent)."""
    settings = material(name).get("tools", {}).get(tool) or {}
    args = []
    for key, (flag, repeat) in TOOL_OPTIONS[tool].items():
        if key not in settings:
            continue
        values = settings[key] if isinstance(settings[key], list) else [settings[key]]
        if repeat:
            for value in values:
                args += [flag, str(value)]
        else:
            args += [flag, *(str(v) for v in values)]
    return args


def tool_argv(name, tool, system):
    """`sepm bands|decompose|density|masses` arguments for one system and the final potential
    (the kpath tool is `sepm bands --kpath`)."""
    last = last_step(name)
    per_system = [str(system)] if tool == "decompose" else []
    outdir = os.path.join("results", name, tool, *per_system)
    return [
        "bands" if tool == "kpath" else tool,
        str(bundle_dir(name)),
        outdir,
        "--system",
        str(system),
        "--potential",
        stage_dir(name, last),
        "--prefix",
        prefix_of(name, last),
        *tool_options(name, tool),
    ]


def tool_targets():
    """Outputs of the tools named under each material's `tools:`."""
    targets = []
    for name in config["materials"]:
        tools = material(name).get("tools", {})
        for system in system_indices(name) if tools else []:
            if "kpath" in tools:
                targets.append(f"results/{name}/kpath/bands_{system}.dat")
            if "decompose" in tools:
                targets.append(f"results/{name}/decompose/{system}/decomposition.dat")
            if "density" in tools:
                targets.append(f"results/{name}/density/density_{system}.cube")
            if "masses" in tools:
                targets.append(f"results/{name}/masses/masses_{system}.dat")
        if "nanocrystal" in tools:
            targets.append(f"results/{name}/nanocrystal/gap_vs_size.png")
        if "movie" in tools:
            targets += [
                f"{stage_dir(name, step)}/movie.gif"
                for step, _, _ in optimize_chain(name)
            ]
    return targets


# --- nanocrystal (workflow/rules/nanocrystal.smk) ----------------------------------------------
# Defaults of a material's `tools: nanocrystal:` block; radii in Bohr.
NANOCRYSTAL_DEFAULTS = {"radii": [10, 12, 14, 16, 18, 20], "system": 0}
# Config key -> sepm dot option.
DOT_OPTIONS = {
    "spacing": "--spacing",
    "vacuum": "--vacuum",
    "min_bonds": "--min-bonds",
    "n_valence": "--n-valence",
    "n_conduction": "--n-conduction",
    "tol": "--tol",
    "kinetic_cap": "--kinetic-cap",
    "max_iter": "--max-iter",
}
PASSIVATION_OPTIONS = {
    "cation_ligand": "--cation-ligand",
    "anion_ligand": "--anion-ligand",
    "cation_fraction": "--cation-fraction",
    "anion_fraction": "--anion-fraction",
    "anion_single_fraction": "--anion-single-fraction",
}
DOT_JOB = {
    "threads": 1,
    "mem_mb": 8000,
    "runtime": 120,
}  # 1 thread: two dots at once on 2 cores beat one 2-thread dot


def nanocrystal_settings(name):
    settings = dict(NANOCRYSTAL_DEFAULTS)
    settings.update(material(name).get("tools", {}).get("nanocrystal") or {})
    return settings


def user_ligand_files(name):
    """Your own ligand files (tools: nanocrystal: ligands: DIR), tracked by the export rule."""
    folder = nanocrystal_settings(name).get("ligands")
    return (
        []
        if folder is None
        else sorted(str(p) for p in Path(folder).glob("potP[1-4].par"))
    )


def user_ligand_args(name):
    folder = nanocrystal_settings(name).get("ligands")
    return [] if folder is None else ["--nc-ligands", str(folder)]


def dot_radius_name(radius):
    """Folder name of a radius: R10, R12.5 (the rule's wildcard)."""
    return f"{float(radius):g}"


def dot_records(name):
    settings = nanocrystal_settings(name)
    if "cubes" in settings:
        return [
            f"results/{name}/nanocrystal/dots/N{int(n)}/dot.json"
            for n in settings["cubes"]
        ]
    return [
        f"results/{name}/nanocrystal/dots/R{dot_radius_name(r)}/dot.json"
        for r in settings["radii"]
    ]


def dot_series_title(name):
    """Title of a material's gap-against-size plot."""
    if "cubes" in nanocrystal_settings(name):
        return f"{name}: perovskite cubes (spinor dots), fitted potential; radius = half the edge"
    return f"{name}: passivated dots, fitted potential"


def dot_cube_argv(name, cells):
    """`sepm dot --cube` arguments of one cube (cells per edge) of a material's nanocrystal series."""
    settings = nanocrystal_settings(name)
    folder = f"results/{name}/nanocrystal"
    args = [
        "dot",
        str(bundle_dir(name)),
        f"{folder}/dots/N{cells}",
        "--pot-dir",
        folder,
    ]
    args += ["--cube", str(cells), "--system", str(settings["system"])]
    for key, flag in DOT_OPTIONS.items():
        if key in settings:
            args += [flag, str(settings[key])]
    return args


def dot_argv(name, radius):
    """`sepm dot` arguments of one radius of a material's nanocrystal series."""
    settings = nanocrystal_settings(name)
    folder = f"results/{name}/nanocrystal"
    args = [
        "dot",
        str(bundle_dir(name)),
        f"{folder}/dots/R{radius}",
        "--pot-dir",
        folder,
    ]
    args += ["--radius", radius, "--system", str(settings["system"])]
    for key, flag in DOT_OPTIONS.items():
        if key in settings:
            args += [flag, str(settings[key])]
    for key, flag in PASSIVATION_OPTIONS.items():
        if key in settings.get("passivation", {}):
            args += [flag, str(settings["passivation"][key])]
    if "center" in settings:
        args += ["--center", *(str(x) for x in settings["center"])]
    return args


def dot_resources(key):
    """Job resources of the dot rule: config resources.dot, else DOT_JOB."""
    return config.get("resources", {}).get("dot", {}).get(key, DOT_JOB[key])

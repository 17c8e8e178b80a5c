# sepm: semi-empirical pseudopotential pipeline.
# Layout follows the snakemake-workflow-catalog conventions; run from the repository root.

from snakemake.utils import min_version, validate

min_version("9.0")


include: "workflow/rules/common.smk"  # helpers only; they read config when called


check_config_syntax("config/config.yaml")  # file and line of a YAML error


configfile: "config/config.yaml"


try:
    validate(config, "workflow/schemas/config.schema.yaml")
except WorkflowError as err:  # one line: the config key path and what is wrong
    # the jsonschema ValidationError that validate() turned into a WorkflowError
    cause = err.__context__
    if not hasattr(cause, "absolute_path"):
        raise
    key = ".".join(map(str, cause.absolute_path)) or "(top level)"
    raise WorkflowError(f"config {key}: {cause.message}") from None

check_targets(sys.argv[1:])  # results/<name>/... of a material the config does not have


# Local runs: with profiles/default's `cores: 2`, a `--jobs N` (or `-j N`) on the command line becomes a
# cluster job limit and Snakemake drops the core limit: `-j 3` ran three 2-thread jobs on 2 cores at
# once. Refused before any job starts (the executor is known only here, not while parsing).
onstart:
    if workflow.local_exec and workflow.nodes is not None:
        raise WorkflowError(
            f"--jobs {workflow.nodes} on a local run lifts the limit of {workflow.cores} cores (up to "
            f"{workflow.nodes} jobs of `threads` each would run at once): give --cores N, not --jobs"
        )


include: "workflow/rules/interrupt.smk"
include: "workflow/rules/convert.smk"
include: "workflow/rules/prior.smk"
include: "workflow/rules/optimize.smk"
include: "workflow/rules/export.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/analyse.smk"
include: "workflow/rules/tools.smk"
include: "workflow/rules/nanocrystal.smk"


rule all:
    default_target: True
    input:
        all_targets(),
        analysis_targets(),
        tool_targets(),

# Optimize: one job per step of the material's chain (gradient training or Monte Carlo); each
# step starts from the previous step's potential, so a chain such as prior -> mc -> gradient is a
# path of DAG edges. A killed training job resumes from its train_state.pth / mc_checkpoint.pth.


rule optimize:
    input:
        bundle=lambda wildcards: bundle_files(wildcards.material),
        previous=lambda wildcards: stage_marker(
            wildcards.material, previous_step(wildcards.material, wildcards.step)
        ),
    output:
        marker=report(
            "results/{material}/optimize/{step}/{marker}",
            caption="../report/fit_summary.rst",
            category="Optimization",
            subcategory="{material}",
            labels={"material": "{material}", "step": "{step}", "figure": "summary"},
        ),
    log:
        "logs/{material}/optimize_{step}_{marker}.log",
    benchmark:
        "benchmarks/{material}/optimize_{step}_{marker}.tsv"
    wildcard_constraints:
        step=r"\d+_(gradient|mc)",
        marker=r"(fit|mc)_summary\.json",
    conda:
        "../envs/sepm.yaml"
    threads: config["resources"]["optimize"]["threads"]
    resources:
        mem_mb=config["resources"]["optimize"]["mem_mb"],
        runtime=config["resources"]["optimize"]["runtime"],
        # config `ranks`: SLURM tasks and nodes of one fit; mpi (the launcher) marks a multi-task job for
        # the SLURM plugin, whose job step then leaves the srun of the ranks to workflow/scripts/sepm_stage.py
        tasks=lambda wildcards: fit_ranks(wildcards.material)[0],
        nodes=lambda wildcards: fit_ranks(wildcards.material)[1],
        mpi=lambda wildcards: "srun" if fit_ranks(wildcards.material)[0] > 1 else "",
    params:
        argv=lambda wildcards: stage_argv(wildcards.material, wildcards.step),
    script:
        "../scripts/sepm_stage.py"

# Analysis: cost-history plots of the optimize steps, the ensemble of independent fits of a material
# (`ensemble:` in the config), the cluster stage (DeepPseudopot's cluster_pp: PCA and K-means over
# the members' q-space tables), and the report's global description.


report: "../report/workflow.rst"


# Material names are letters, digits and _ (the schema checks it); saying so here also keeps an
# ensemble member's results/<m>/ensemble/<i>/final_*.dat from matching the export rule's
# results/{material}/final_*.dat.
wildcard_constraints:
    material=r"[A-Za-z][A-Za-z0-9_]*",


rule cost_plot:
    input:
        marker=lambda wildcards: stage_marker(wildcards.material, wildcards.step),
    output:
        png=report(
            "results/{material}/optimize/{step}/{table}.png",
            caption="../report/cost.rst",
            category="Optimization",
            subcategory="{material}",
            labels={
                "material": "{material}",
                "step": "{step}",
                "figure": "cost history",
            },
        ),
        pdf="results/{material}/optimize/{step}/{table}.pdf",
    log:
        "logs/{material}/cost_plot_{step}_{table}.log",
    wildcard_constraints:
        step=r"\d+_(gradient|mc)",
        table=r"(training|mc)_cost",
    conda:
        "../envs/sepm.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        argv=lambda wildcards: [
            "plot-cost",
            f"{stage_dir(wildcards.material, wildcards.step)}/{wildcards.table}.dat",
            "-o",
            f"{stage_dir(wildcards.material, wildcards.step)}/{wildcards.table}",
        ],
    script:
        "../scripts/sepm_stage.py"


rule ensemble_member:
    input:
        bundle=lambda wildcards: bundle_files(wildcards.material),
    output:
        marker="results/{material}/ensemble/{member}/{marker}",
    log:
        "logs/{material}/ensemble_{member}_{marker}.log",
    benchmark:
        "benchmarks/{material}/ensemble_{member}_{marker}.tsv"
    wildcard_constraints:
        member=r"\d+",
        marker=r"(fit|mc)_summary\.json",
    conda:
        "../envs/sepm.yaml"
    threads: config["resources"]["optimize"]["threads"]
    resources:
        mem_mb=config["resources"]["optimize"]["mem_mb"],
        runtime=config["resources"]["optimize"]["runtime"],
    params:
        argv=lambda wildcards: ensemble_argv(wildcards.material, wildcards.member),
    script:
        "../scripts/sepm_stage.py"


rule ensemble_export:
    input:
        fit=lambda wildcards: ensemble_marker(wildcards.material, wildcards.member),
    output:
        qspace="results/{material}/ensemble/{member}/final_qSpace_pot.dat",
        pot="results/{material}/ensemble/{member}/final_pot.dat",
    log:
        "logs/{material}/ensemble_{member}_export.log",
    benchmark:
        "benchmarks/{material}/ensemble_{member}_export.tsv"
    wildcard_constraints:
        member=r"\d+",
    conda:
        "../envs/sepm.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        argv=lambda wildcards: [
            "export",
            ensemble_dir(wildcards.material, wildcards.member),
            ensemble_dir(wildcards.material, wildcards.member),
            "--prefix",
            STAGE_PREFIX[ensemble_method(wildcards.material)],
            "--name",
            "final",
        ],
    script:
        "../scripts/sepm_stage.py"


rule cluster:
    input:
        tables=lambda wildcards: ensemble_tables(wildcards.material),
        summaries=lambda wildcards: ensemble_summaries(wildcards.material),
    output:
        scatter=report(
            "results/{material}/cluster/pca_scatter.png",
            caption="../report/pca_scatter.rst",
            category="Ensemble",
            subcategory="{material}",
            labels={"material": "{material}", "file": "PCA scatter"},
        ),
        scatter_pdf="results/{material}/cluster/pca_scatter.pdf",
        summary="results/{material}/cluster/clusters.json",
        clusters=report(
            "results/{material}/cluster/clusters.dat",
            caption="../report/clusters.rst",
            category="Ensemble",
            subcategory="{material}",
            labels={"material": "{material}", "file": "members"},
        ),
        representatives=report(
            "results/{material}/cluster/representatives.dat",
            caption="../report/representatives.rst",
            category="Ensemble",
            subcategory="{material}",
            labels={"material": "{material}", "file": "representatives"},
        ),
    log:
        "logs/{material}/cluster.log",
    benchmark:
        "benchmarks/{material}/cluster.tsv"
    conda:
        "../envs/sepm.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        argv=lambda wildcards: cluster_argv(wildcards.material),
    script:
        "../scripts/sepm_stage.py"

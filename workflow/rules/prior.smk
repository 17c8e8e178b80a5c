# Prior: initialize the local-potential model (checkpoint / Zunger fit / q-table fit / network init).


rule prior:
    input:
        bundle=lambda wildcards: bundle_files(wildcards.material),
    output:
        record=report(
            "results/{material}/prior/init_record.json",
            caption="../report/prior_record.rst",
            category="Potentials",
            subcategory="{material}",
            labels={"material": "{material}", "figure": "prior record"},
        ),
        plot=report(
            "results/{material}/prior/init_plotPP.png",
            caption="../report/prior_potential.rst",
            category="Potentials",
            subcategory="{material}",
            labels={"material": "{material}", "figure": "prior v(q)"},
        ),
    log:
        "logs/{material}/prior.log",
    benchmark:
        "benchmarks/{material}/prior.tsv"
    conda:
        "../envs/sepm.yaml"
    threads: config["resources"]["prior"]["threads"]
    resources:
        mem_mb=config["resources"]["prior"]["mem_mb"],
        runtime=config["resources"]["prior"]["runtime"],
    params:
        argv=lambda wildcards: stage_argv(wildcards.material, "prior"),
    script:
        "../scripts/sepm_stage.py"

# eval_fullBand: band structures of the bundle's initial potential (bands/) and of the final
# fitted potential (eval/), one job per system.


rule eval_bands_initial:
    input:
        bundle=lambda wildcards: bundle_files(wildcards.material),
    output:
        table="results/{material}/bands/bands_{system}.dat",
        png=report(
            "results/{material}/bands/bands_{system}.png",
            caption="../report/bands_initial.rst",
            category="Band structures",
            subcategory="{material}",
            labels={
                "material": "{material}",
                "potential": "initial (bundle)",
                "system": "{system}",
            },
        ),
        pdf="results/{material}/bands/bands_{system}.pdf",
    log:
        "logs/{material}/bands_{system}.log",
    benchmark:
        "benchmarks/{material}/bands_{system}.tsv"
    wildcard_constraints:
        system=r"\d+",
    conda:
        "../envs/sepm.yaml"
    threads: config["resources"]["eval"]["threads"]
    resources:
        mem_mb=config["resources"]["eval"]["mem_mb"],
        runtime=config["resources"]["eval"]["runtime"],
    params:
        argv=lambda wildcards: [
            "bands",
            str(bundle_dir(wildcards.material)),
            f"results/{wildcards.material}/bands",
            "--system",
            wildcards.system,
        ],
    script:
        "../scripts/sepm_stage.py"


rule eval_bands_final:
    input:
        bundle=lambda wildcards: bundle_files(wildcards.material),
        fit=lambda wildcards: stage_marker(
            wildcards.material, last_step(wildcards.material)
        ),
    output:
        table="results/{material}/eval/bands_{system}.dat",
        png=report(
            "results/{material}/eval/bands_{system}.png",
            caption="../report/bands_final.rst",
            category="Band structures",
            subcategory="{material}",
            labels={
                "material": "{material}",
                "potential": "final",
                "system": "{system}",
            },
        ),
        pdf="results/{material}/eval/bands_{system}.pdf",
    log:
        "logs/{material}/eval_{system}.log",
    benchmark:
        "benchmarks/{material}/eval_{system}.tsv"
    wildcard_constraints:
        system=r"\d+",
    conda:
        "../envs/sepm.yaml"
    threads: config["resources"]["eval"]["threads"]
    resources:
        mem_mb=config["resources"]["eval"]["mem_mb"],
        runtime=config["resources"]["eval"]["runtime"],
    params:
        argv=lambda wildcards: [
            "bands",
            str(bundle_dir(wildcards.material)),
            f"results/{wildcards.material}/eval",
            "--system",
            wildcards.system,
            "--potential",
            stage_dir(wildcards.material, last_step(wildcards.material)),
            "--prefix",
            prefix_of(wildcards.material, last_step(wildcards.material)),
        ],
    script:
        "../scripts/sepm_stage.py"


rule eval_couplings_final:
    input:
        bundle=lambda wildcards: bundle_files(wildcards.material),
        fit=lambda wildcards: stage_marker(
            wildcards.material, last_step(wildcards.material)
        ),
    output:
        table=report(
            "results/{material}/eval/couplingBands_{system}.dat",
            caption="../report/couplings_final.rst",
            category="Band structures",
            subcategory="{material}",
            labels={
                "material": "{material}",
                "potential": "final",
                "system": "{system}",
                "figure": "couplings",
            },
        ),
    log:
        "logs/{material}/couplings_{system}.log",
    benchmark:
        "benchmarks/{material}/couplings_{system}.tsv"
    wildcard_constraints:
        system=r"\d+",
    conda:
        "../envs/sepm.yaml"
    threads: config["resources"]["eval"]["threads"]
    resources:
        mem_mb=config["resources"]["eval"]["mem_mb"],
        runtime=config["resources"]["eval"]["runtime"],
    params:
        argv=lambda wildcards: [
            "couplings",
            str(bundle_dir(wildcards.material)),
            f"results/{wildcards.material}/eval",
            "--system",
            wildcards.system,
            "--potential",
            stage_dir(wildcards.material, last_step(wildcards.material)),
            "--prefix",
            prefix_of(wildcards.material, last_step(wildcards.material)),
        ],
    script:
        "../scripts/sepm_stage.py"

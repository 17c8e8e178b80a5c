# eval_fullBand: band structure of the bundle's initial potential, one job per system.


rule eval_bands:
    input:
        bundle=lambda wildcards: bundle_files(wildcards.material),
    output:
        table="results/{material}/bands/bands_{system}.dat",
        png="results/{material}/bands/bands_{system}.png",
        pdf="results/{material}/bands/bands_{system}.pdf",
    log:
        "logs/eval_bands/{material}_{system}.log",
    benchmark:
        "benchmarks/eval_bands/{material}_{system}.tsv"
    wildcard_constraints:
        system=r"\d+",
    conda:
        "../envs/sepm.yaml"
    threads: config["eval_bands"]["threads"]
    resources:
        mem_mb=config["eval_bands"]["mem_mb"],
        runtime=config["eval_bands"]["runtime"],
    params:
        bundle=lambda wildcards: str(bundle_dir(wildcards.material)),
        outdir=lambda wildcards, output: str(Path(output.table).parent),
    script:
        "../scripts/eval_bands.py"

# Band-structure evaluation of the initial potential of each input bundle.
# `sepm bands` writes all systems of a bundle in one call, and the number of systems
# differs between bundles, so there is one eval_bands rule per configured material.


for material in config["materials"]:

    rule:
        name:
            f"eval_bands_{material}"
        input:
            bundle=bundle_files(material),
        output:
            bands_outputs(material),
        log:
            f"logs/eval_bands/{material}.log",
        benchmark:
            f"benchmarks/eval_bands/{material}.tsv"
        conda:
            "../envs/sepm.yaml"
        threads: config["eval_bands"]["threads"]
        resources:
            mem_mb=config["eval_bands"]["mem_mb"],
            runtime=config["eval_bands"]["runtime"],
        params:
            bundle=lambda wildcards, input: str(Path(input.bundle[0]).parent),
            outdir=lambda wildcards, output: str(Path(output[0]).parent),
        script:
            "../scripts/eval_bands.py"

# Convert (DeepPseudopot's convert_bgwBS): Quantum ESPRESSO / BerkeleyGW output -> the material's
# input bundle results/{material}/bundle/ (materials with a `convert` block; see config/README.md).


rule convert:
    input:
        lambda wildcards: convert_inputs(wildcards.material),
    output:
        bundle=directory("results/{material}/bundle"),
    log:
        "logs/{material}/convert.log",
    benchmark:
        "benchmarks/{material}/convert.tsv"
    wildcard_constraints:
        material="|".join(converted_materials()) or "$^",
    conda:
        "../envs/sepm.yaml"
    threads: 1
    params:
        argv=lambda wildcards: convert_argv(wildcards.material),
    script:
        "../scripts/sepm_stage.py"

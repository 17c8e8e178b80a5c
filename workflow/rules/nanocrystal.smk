# From the fit to a nanocrystal: the export rule writes the nanocrystal codes' pot<Sym>.par files
# into results/<material>/nanocrystal/ (nanocrystal_potentials.json last); here each radius of the
# material's `tools: nanocrystal:` block (or the defaults) is one passivated dot, or each `cubes:` entry
# one perovskite cube of that many cells per edge (rule dot_cube; a spinor dot), and the series is
# collected into gap_vs_size.dat/.png/.pdf. Not built by default unless named under `tools:`.


rule dot:
    input:
        bundle=lambda wildcards: bundle_files(wildcards.material),
        potentials="results/{material}/nanocrystal/nanocrystal_potentials.json",
    output:
        record="results/{material}/nanocrystal/dots/R{radius}/dot.json",
        conf="results/{material}/nanocrystal/dots/R{radius}/conf.par",
        levels="results/{material}/nanocrystal/dots/R{radius}/levels.dat",
        homo="results/{material}/nanocrystal/dots/R{radius}/homo.cube",
        lumo="results/{material}/nanocrystal/dots/R{radius}/lumo.cube",
    log:
        "logs/{material}/dot_R{radius}.log",
    benchmark:
        "benchmarks/{material}/dot_R{radius}.tsv"
    wildcard_constraints:
        radius=r"\d+(\.\d+)?",
    conda:
        "../envs/sepm.yaml"
    threads: dot_resources("threads")
    resources:
        mem_mb=dot_resources("mem_mb"),
        runtime=dot_resources("runtime"),
    params:
        argv=lambda wildcards: dot_argv(wildcards.material, wildcards.radius),
    script:
        "../scripts/sepm_stage.py"


rule dot_cube:
    input:
        bundle=lambda wildcards: bundle_files(wildcards.material),
        potentials="results/{material}/nanocrystal/nanocrystal_potentials.json",
    output:
        record="results/{material}/nanocrystal/dots/N{cells}/dot.json",
        atoms="results/{material}/nanocrystal/dots/N{cells}/dot.xyz",
        levels="results/{material}/nanocrystal/dots/N{cells}/levels.dat",
        homo="results/{material}/nanocrystal/dots/N{cells}/homo.cube",
        lumo="results/{material}/nanocrystal/dots/N{cells}/lumo.cube",
    log:
        "logs/{material}/dot_N{cells}.log",
    benchmark:
        "benchmarks/{material}/dot_N{cells}.tsv"
    wildcard_constraints:
        cells=r"\d+",
    conda:
        "../envs/sepm.yaml"
    threads: dot_resources("threads")
    resources:
        mem_mb=dot_resources("mem_mb"),
        runtime=dot_resources("runtime"),
    params:
        argv=lambda wildcards: dot_cube_argv(wildcards.material, wildcards.cells),
    script:
        "../scripts/sepm_stage.py"


rule gap_vs_size:
    input:
        records=lambda wildcards: dot_records(wildcards.material),
    output:
        table="results/{material}/nanocrystal/gap_vs_size.dat",
        png=report(
            "results/{material}/nanocrystal/gap_vs_size.png",
            caption="../report/gap_vs_size.rst",
            category="Nanocrystal",
            subcategory="{material}",
            labels={"material": "{material}", "figure": "dot gap against size"},
        ),
        pdf="results/{material}/nanocrystal/gap_vs_size.pdf",
    log:
        "logs/{material}/gap_vs_size.log",
    conda:
        "../envs/sepm.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        argv=lambda wildcards: [
            "dot-series",
            f"results/{wildcards.material}/nanocrystal/gap_vs_size",
            *dot_records(wildcards.material),
            "--title",
            dot_series_title(wildcards.material),
        ],
    script:
        "../scripts/sepm_stage.py"

# Optional analysis outputs of the final potential (DeepPseudopot's extended toolkit): bands along
# the high-symmetry path of each structure, Hamiltonian decomposition, charge density, effective
# masses and gaps, and training movies. Not built by
# default; ask for a file (e.g. results/GaAs/density/density_0.cube) or name the tool under the
# material's `tools:` in the config to add it to `all`.


rule eval_bands_path:
    input:
        bundle=lambda wildcards: bundle_files(wildcards.material),
        fit=lambda wildcards: final_marker(wildcards.material),
    output:
        table="results/{material}/kpath/bands_{system}.dat",
        kpoints="results/{material}/kpath/kpath_{system}.par",
        png=report(
            "results/{material}/kpath/bands_{system}.png",
            caption="../report/bands_path.rst",
            category="Band structures",
            subcategory="{material}",
            labels={
                "material": "{material}",
                "potential": "final, high-symmetry path",
                "system": "{system}",
            },
        ),
        pdf="results/{material}/kpath/bands_{system}.pdf",
    log:
        "logs/{material}/kpath_{system}.log",
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
            *tool_argv(wildcards.material, "kpath", wildcards.system),
            "--kpath",
        ],
    script:
        "../scripts/sepm_stage.py"


rule decompose:
    input:
        bundle=lambda wildcards: bundle_files(wildcards.material),
        fit=lambda wildcards: final_marker(wildcards.material),
    output:
        table="results/{material}/decompose/{system}/decomposition.dat",
        bars=report(
            "results/{material}/decompose/{system}/decomposition.png",
            caption="../report/decomposition.rst",
            category="Tools",
            subcategory="{material}",
            labels={
                "material": "{material}",
                "system": "{system}",
                "figure": "<T>, <V> per state",
            },
        ),
        bars_pdf="results/{material}/decompose/{system}/decomposition.pdf",
        blocks="results/{material}/decompose/{system}/H_blocks.png",
        blocks_pdf="results/{material}/decompose/{system}/H_blocks.pdf",
    log:
        "logs/{material}/decompose_{system}.log",
    wildcard_constraints:
        system=r"\d+",
    conda:
        "../envs/sepm.yaml"
    threads: 1
    resources:
        mem_mb=config["resources"]["eval"]["mem_mb"],
        runtime=config["resources"]["eval"]["runtime"],
    params:
        argv=lambda wildcards: tool_argv(
            wildcards.material, "decompose", wildcards.system
        ),
    script:
        "../scripts/sepm_stage.py"


rule density:
    input:
        bundle=lambda wildcards: bundle_files(wildcards.material),
        fit=lambda wildcards: final_marker(wildcards.material),
    output:
        cube="results/{material}/density/density_{system}.cube",
        xsf="results/{material}/density/density_{system}.xsf",
        summary="results/{material}/density/density_{system}.json",
        png=report(
            "results/{material}/density/density_{system}.png",
            caption="../report/density.rst",
            category="Tools",
            subcategory="{material}",
            labels={
                "material": "{material}",
                "system": "{system}",
                "figure": "charge density",
            },
        ),
        pdf="results/{material}/density/density_{system}.pdf",
    log:
        "logs/{material}/density_{system}.log",
    wildcard_constraints:
        system=r"\d+",
    conda:
        "../envs/sepm.yaml"
    threads: config["resources"]["eval"]["threads"]
    resources:
        mem_mb=config["resources"]["eval"]["mem_mb"],
        runtime=config["resources"]["eval"]["runtime"],
    params:
        argv=lambda wildcards: tool_argv(
            wildcards.material, "density", wildcards.system
        ),
    script:
        "../scripts/sepm_stage.py"


rule masses:
    input:
        bundle=lambda wildcards: bundle_files(wildcards.material),
        fit=lambda wildcards: final_marker(wildcards.material),
    output:
        table=report(
            "results/{material}/masses/masses_{system}.dat",
            caption="../report/masses.rst",
            category="Tools",
            subcategory="{material}",
            labels={
                "material": "{material}",
                "system": "{system}",
                "file": "masses and gaps",
            },
        ),
        gaps="results/{material}/masses/gaps_{system}.json",
        plot=report(
            "results/{material}/masses/masses_{system}.png",
            caption="../report/masses_plot.rst",
            category="Tools",
            subcategory="{material}",
            labels={
                "material": "{material}",
                "system": "{system}",
                "figure": "E(k) at the band edges",
            },
        ),
        plot_pdf="results/{material}/masses/masses_{system}.pdf",
    log:
        "logs/{material}/masses_{system}.log",
    wildcard_constraints:
        system=r"\d+",
    conda:
        "../envs/sepm.yaml"
    threads: 1
    resources:
        mem_mb=config["resources"]["eval"]["mem_mb"],
        runtime=config["resources"]["eval"]["runtime"],
    params:
        argv=lambda wildcards: tool_argv(wildcards.material, "masses", wildcards.system),
    script:
        "../scripts/sepm_stage.py"


rule movie:
    input:
        bundle=lambda wildcards: bundle_files(wildcards.material),
        fit=lambda wildcards: stage_marker(wildcards.material, wildcards.step),
    output:
        report(
            "results/{material}/optimize/{step}/movie.gif",
            caption="../report/movie.rst",
            category="Tools",
            subcategory="{material}",
            labels={
                "material": "{material}",
                "step": "{step}",
                "figure": "training movie",
            },
        ),
    log:
        "logs/{material}/movie_{step}.log",
    wildcard_constraints:
        step=r"\d+_(gradient|mc)",
    conda:
        "../envs/sepm.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        argv=lambda wildcards: [
            "movie",
            stage_dir(wildcards.material, wildcards.step),
            f"{stage_dir(wildcards.material, wildcards.step)}/movie.gif",
            "--bundle",
            str(bundle_dir(wildcards.material)),
            *tool_options(wildcards.material, "movie"),
        ],
    script:
        "../scripts/sepm_stage.py"

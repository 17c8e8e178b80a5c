# Export: q-space table and real-space potential (final_pot.dat) of the last optimize step, and the
# nanocrystal codes' pot<Sym>.par files (results/<material>/nanocrystal/, the sidecar written last): the
# P1/P2 ligands calibrated to the bulk band edges of the dots' system, or your files (tools: nanocrystal:
# ligands: DIR).


rule export:
    input:
        bundle=lambda wildcards: bundle_files(wildcards.material),
        fit=lambda wildcards: stage_marker(
            wildcards.material, last_step(wildcards.material)
        ),
        ligands=lambda wildcards: user_ligand_files(wildcards.material),
    output:
        pot="results/{material}/final_pot.dat",
        qspace="results/{material}/final_qSpace_pot.dat",
        plot=report(
            "results/{material}/final_plotPP.png",
            caption="../report/potential.rst",
            category="Potentials",
            subcategory="{material}",
            labels={"material": "{material}", "figure": "final v(q)"},
        ),
        convergence=report(
            "results/{material}/final_pot_convergence.png",
            caption="../report/convergence.rst",
            category="Potentials",
            subcategory="{material}",
            labels={"material": "{material}", "figure": "v(r) convergence"},
        ),
        nanocrystal="results/{material}/nanocrystal/nanocrystal_potentials.json",
    log:
        "logs/{material}/export.log",
    benchmark:
        "benchmarks/{material}/export.tsv"
    conda:
        "../envs/sepm.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        argv=lambda wildcards: [
            "export",
            stage_dir(wildcards.material, last_step(wildcards.material)),
            f"results/{wildcards.material}",
            "--prefix",
            prefix_of(wildcards.material, last_step(wildcards.material)),
            "--name",
            "final",
            "--nanocrystal",
            f"results/{wildcards.material}/nanocrystal",
            "--bundle",
            str(bundle_dir(wildcards.material)),
            "--nc-ligand-reference",
            "resources/potentials-realspace",
            "--nc-system",  # the ligands are calibrated to the dots' system's bulk edges
            str(nanocrystal_settings(wildcards.material)["system"]),
            *user_ligand_args(wildcards.material),
        ],
    script:
        "../scripts/sepm_stage.py"

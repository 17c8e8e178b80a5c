"""The cluster stage (PCA + K-means over fitted potentials), the cost plot, the ensemble rules and the
Snakemake report."""

import json
from pathlib import Path

import numpy as np
import pytest

from pipeline_copy import copy_pipeline, run_snakemake

from sepm.analysis import cluster_potentials, plot_training_cost, read_cost, run_cluster
from sepm.analysis.movie import read_cost as movie_cost
from sepm.cli import main
from sepm.errors import InputError

Q = np.linspace(0.0, 10.0, 1001)


def write_table(path: Path, v_as, v_ga, q=Q):
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, np.c_[q, v_as, v_ga], header="test table\nq v_As v_Ga", comments="# ")
    return path


def two_groups(folder: Path, n=8, seed=0):
    """Members alternate between two potential families (depth 1 vs 2); costs 10 + i, except that
    the lowest-cost member of family B is the last one."""
    rng = np.random.default_rng(seed)
    tables, costs, group = [], [], []
    for i in range(n):
        g = i % 2
        depth = (1.0 if g == 0 else 2.0) + 0.02 * rng.standard_normal()
        v_as = -depth * np.exp(-Q**2 / 4) + 1e-3 * rng.standard_normal(Q.size)
        v_ga = -0.5 * depth * np.exp(-Q**2 / 2)
        tables.append(write_table(folder / str(i) / "final_qSpace_pot.dat", v_as, v_ga))
        costs.append(10.0 + i)
        group.append(g)
    costs[n - 1] = 1.0  # member n-1 (family B) is the best overall
    return tables, costs, np.array(group)


def test_two_groups_recovered_with_lowest_cost_representatives(tmp_path):
    tables, costs, group = two_groups(tmp_path)
    res = cluster_potentials(tables, costs, n_clusters=2, seed=0)
    assert res.n_clusters == 2
    # the partition matches the families (cluster numbers are arbitrary up to the ordering rule)
    assert len(set(zip(res.labels.tolist(), group.tolist()))) == 2
    # cluster 0 holds the overall best member (7, family B); cluster 1's best is member 0 (family A)
    assert res.representatives == [7, 0]
    assert res.labels[7] == 0 and res.labels[0] == 1
    assert res.representative_rule == "lowest cost"
    # one dominant direction: the depth
    ratio = res.explained_variance_ratio
    assert ratio[0] > 0.95 and 0 <= ratio[1] < 0.05 and ratio.sum() <= 1 + 1e-12
    # PC1 separates the families
    assert np.all(np.sign(res.scores[group == 0, 0]) == -np.sign(res.scores[group == 1, 0][0]))
    assert res.features.shape == (8, 2 * np.sum(Q >= 0.5 - 1e-12))


def test_auto_picks_two_clusters_and_caps_at_members(tmp_path):
    tables, costs, _ = two_groups(tmp_path)
    res = cluster_potentials(tables, costs, n_clusters="auto")
    assert res.n_clusters == 2 and set(res.silhouette) == set(range(2, 8))
    assert res.silhouette[2] == max(res.silhouette.values())
    capped = cluster_potentials(tables[:3], costs[:3], n_clusters=5)
    assert capped.n_clusters == 3 and "capped" in capped.choice


def test_without_costs_representative_is_nearest_to_centroid(tmp_path):
    tables, _, group = two_groups(tmp_path, n=6)
    res = cluster_potentials(tables, None, n_clusters=2)
    assert res.representative_rule == "nearest to centroid"
    for c, rep in enumerate(res.representatives):
        assert res.labels[rep] == c


def test_identical_potentials_and_mismatched_species(tmp_path):
    v = -np.exp(-Q**2)
    tables = [write_table(tmp_path / f"{i}.dat", v, v) for i in range(3)]
    res = cluster_potentials(tables, [3.0, 1.0, 2.0], n_clusters=2)
    assert res.n_clusters == 1 and res.representatives == [1]
    assert np.all(res.explained_variance_ratio == 0)
    other = tmp_path / "other.dat"
    np.savetxt(other, np.c_[Q, v, v], header="q v_Cd v_Se", comments="# ")
    with pytest.raises(InputError, match="species"):
        cluster_potentials([tables[0], other])


def test_read_cost(tmp_path):
    (tmp_path / "fit.json").write_text(json.dumps({"final_cost": 2.5}))
    (tmp_path / "mc.json").write_text(json.dumps({"best_cost": 1.5}))
    (tmp_path / "bad.json").write_text(json.dumps({"cost": 1}))
    assert read_cost(tmp_path / "fit.json") == 2.5 and read_cost(tmp_path / "mc.json") == 1.5
    with pytest.raises(InputError, match="final_cost"):
        read_cost(tmp_path / "bad.json")


def test_cli_writes_outputs(tmp_path):
    tables, costs, _ = two_groups(tmp_path / "ens", n=6)
    summaries = []
    for t, c in zip(tables, costs):
        summaries.append(t.parent / "fit_summary.json")
        summaries[-1].write_text(json.dumps({"final_cost": c}))
    out = tmp_path / "cluster"
    rc = main(["cluster", str(out), *map(str, tables), "--costs-from", *map(str, summaries), "--clusters", "auto"])
    assert rc == 0
    for name in ("pca_scatter.png", "pca_scatter.pdf", "clusters.dat", "representatives.dat", "clusters.json"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0
    header = [line for line in (out / "clusters.dat").read_text().splitlines() if line.startswith("#")]
    assert any("PCA explained variance ratio: PC1" in line for line in header)
    assert header[-1].split() == ["#", "member", "cluster", "PC1", "PC2", "cost"]
    rows = [line.split() for line in (out / "representatives.dat").read_text().splitlines() if not line.startswith("#")]
    assert [r[:3] for r in rows] == [["0", "5", "1"], ["1", "0", "10"]]  # member names = folder names
    summary = json.loads((out / "clusters.json").read_text())
    assert summary["n_clusters"] == 2 and "silhouette" in summary["choice"]
    with pytest.raises(SystemExit):
        main(["cluster", str(out), *map(str, tables), "--clusters", "0"])


def test_run_cluster_needs_one_summary_per_table(tmp_path):
    tables, _, _ = two_groups(tmp_path, n=4)
    with pytest.raises(ValueError, match="one per table"):
        run_cluster(tmp_path / "out", tables, summaries=[tmp_path / "x.json"])


def test_cost_plot(tmp_path):
    table = tmp_path / "training_cost.dat"
    table.write_text("# cost\n# epoch training_cost cost_after_step lr seconds\n"
                     "1 10 9 0.1 1\n2 5 4 0.1 1\n3 4 4.5 0.1 1\n")
    paths = plot_training_cost(table, tmp_path / "training_cost")
    old = tmp_path / "old" / "training_cost.dat"  # written before the column was renamed
    old.parent.mkdir()
    old.write_text(table.read_text().replace("cost_after_step", "validation_cost"))
    assert movie_cost(old, "epoch", "cost_after_step")[:, 1].tolist() == [9, 4, 4.5]
    assert [p.name for p in paths] == ["training_cost.png", "training_cost.pdf"]
    missing = plot_training_cost(tmp_path / "none" / "training_cost.dat", tmp_path / "none_cost")
    assert all(p.is_file() for p in missing)
    mc = tmp_path / "mc_cost.dat"
    mc.write_text("# x\n# iteration stage beta_coldest cost_0 best_cost acc_0 exchange_acc\n"
                  "1 0 1 5 5 1 0\n2 0 1 6 5 .5 0\n")
    assert plot_training_cost(mc, tmp_path / "mc_cost")[0].is_file()
    assert main(["plot-cost", str(mc), "-o", str(tmp_path / "cli_cost")]) == 0  # the cost_plot rule's command
    assert (tmp_path / "cli_cost.png").is_file() and (tmp_path / "cli_cost.pdf").is_file()


# ------------------------------------------------------------------------------------------ workflow


@pytest.fixture(scope="module")
def ensemble_work(tmp_path_factory):
    """A copy of the pipeline with a small GaAs bundle (maxKE 3 Hartree, every 6th k-point)."""
    return copy_pipeline(tmp_path_factory.mktemp("ensemble"), small_gaas=True)


def snakemake(work, *args):
    return run_snakemake(work, *args, "--configfile", ".test/ensemble.yaml")


def test_ensemble_workflow_clusters_members(ensemble_work):
    target = "results/GaAs/cluster/representatives.dat"
    snakemake(ensemble_work, target)
    results = ensemble_work / "results" / "GaAs"
    summaries = [json.loads((results / "ensemble" / str(i) / "fit_summary.json").read_text()) for i in range(3)]
    assert all(np.isfinite(s["final_cost"]) for s in summaries)
    # the members start apart: different seeds give different initial costs
    assert len({round(s["start_cost"], 6) for s in summaries}) == 3
    assert all((results / "ensemble" / str(i) / "final_qSpace_pot.dat").is_file() for i in range(3))
    cluster = results / "cluster"
    assert (cluster / "pca_scatter.png").is_file()
    rows = [line.split() for line in (cluster / "clusters.dat").read_text().splitlines() if not line.startswith("#")]
    assert sorted(r[0] for r in rows) == ["0", "1", "2"]
    reps = [line.split() for line in (cluster / "representatives.dat").read_text().splitlines()
            if not line.startswith("#")]
    assert len(reps) == 2  # clusters: 2 in .test/ensemble.yaml
    best = min(range(3), key=lambda i: summaries[i]["final_cost"])
    assert reps[0][1] == str(best)
    assert not (results / "prior").exists()  # members initialize themselves, not from the prior
    assert "Nothing to be done" in snakemake(ensemble_work, target)


def test_report_has_captions(ensemble_work):
    target = "results/GaAs/cluster/representatives.dat"
    snakemake(ensemble_work, target)  # no-op when the previous test ran
    snakemake(ensemble_work, "--report", "report.html", target)
    html = (ensemble_work / "report.html").read_text()
    assert "lowest-cost member" in html  # representatives.rst / pca_scatter.rst
    assert "coloured by" in html and "K-means cluster" in html  # pca_scatter.rst
    assert "DeepPseudopot" in html and "cluster_pp" in html  # workflow.rst

"""`sepm cluster`: PCA and K-means over an ensemble's q-space tables."""

from __future__ import annotations

import argparse
import logging

from ..errors import InputError
from .inputs import number_above
from .threads import add_threads_arg

log = logging.getLogger("sepm")


def _cluster(args) -> int:
    from ..analysis.cluster import run_cluster

    clusters = args.clusters if args.clusters == "auto" else int(args.clusters)
    try:
        run_cluster(args.outdir, args.tables, summaries=args.costs_from, n_clusters=clusters, seed=args.seed,
                    members=args.names, qmin=args.qmin, qmax=args.qmax, title=args.title)
    except ValueError as err:  # InputError (a bad table or summary) is reported by main()
        if isinstance(err, InputError):
            raise
        log.error("sepm cluster: %s", err)
        return 2
    return 0


def _clusters_arg(value: str) -> str:
    if value == "auto" or (value.isdigit() and int(value) >= 1):
        return value
    raise argparse.ArgumentTypeError(f"expected a positive integer or 'auto', not {value!r}")


def register(sub) -> None:
    cluster = sub.add_parser(
        "cluster", help="PCA and K-means over many fits' q-space tables (ensemble analysis, cluster_pp)",
        description="Group fitted potentials by their v(q) (DeepPseudopot's cluster_pp). Features: the "
        "concatenated v_<Sym>(q) of all species of each TABLE (*_qSpace_pot.dat, as written by sepm export) on "
        "the common q grid in [--qmin, --qmax], raw Hartree*Bohr^3 (not standardized: distances are L2 distances "
        "between potentials). K-means (scikit-learn, n_init 10) with --clusters K (capped at the number of "
        "distinct potentials) or 'auto' (best silhouette score, k = 2 .. min(N-1, 10)); PCA for the plot. "
        "Writes into OUTDIR: pca_scatter.png/.pdf (PC1 vs PC2 coloured by cluster, each cluster's representative "
        "starred), clusters.json, clusters.dat (member cluster PC1 PC2 cost; explained-variance ratios in the "
        "header) and, last, representatives.dat (cluster member cost size: the lowest-cost member of each "
        "cluster, or the member nearest to the centroid without --costs-from). Clusters are numbered by their "
        "representative's cost: cluster 0 holds the best potential.")
    cluster.add_argument("outdir", help="output folder (created if needed)")
    cluster.add_argument("tables", nargs="+", metavar="TABLE", help="q-space tables of the fits (at least 2), "
                         "e.g. results/GaAs/ensemble/*/final_qSpace_pot.dat")
    cluster.add_argument("--costs-from", nargs="+", metavar="SUMMARY",
                         help="fit summaries, one per TABLE in the same order: fit_summary.json (final_cost) or "
                         "mc_summary.json (best_cost); they pick each cluster's lowest-cost member")
    cluster.add_argument("--clusters", default="2", type=_clusters_arg, metavar="K|auto",
                         help="number of clusters (>= 1), or 'auto' to choose it by silhouette score (default 2)")
    cluster.add_argument("--seed", type=int, default=0, help="K-means random_state (default 0)")
    cluster.add_argument("--names", nargs="+", metavar="NAME", help="member names, one per TABLE (default: the "
                         "tables' folder names when unique, e.g. ensemble/3/... -> 3, else 0, 1, ...)")
    cluster.add_argument("--qmin", type=number_above(0.0, inclusive=True), default=0.5,
                         help="lower end of the feature q range in 1/Bohr "
                         "(default 0.5: leaves out the diverging long-range tail -a4 4pi/q^2 below the shortest "
                         "reciprocal lattice vectors; 0 uses the whole table)")
    cluster.add_argument("--qmax", type=number_above(0.0), default=None,
                         help="upper end of the feature q range in 1/Bohr "
                         "(default: the end of the tables)")
    cluster.add_argument("--title", default="", help="title of the scatter plot")
    add_threads_arg(cluster)
    cluster.set_defaults(func=_cluster)

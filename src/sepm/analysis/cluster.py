r"""Clustering of many fitted local potentials (DeepPseudopot's ``cluster_pp``).

An ensemble of fits of one material (different seeds / random initializations) usually lands in a
few distinct families of potentials. This module puts every fit's v(q) table in one feature matrix,
projects it on its first two principal components (for the plot) and groups it by K-means; the
lowest-cost member of each cluster is that family's representative.

Features
--------
One row per potential: the concatenated v_s(q) of all species (in the tables' species order) on the
common q grid, restricted to ``qmin <= q <= qmax``, in Hartree·Bohr³, *not standardized*. The
Euclidean distance between two rows is then (up to the grid spacing) the L2 distance
sqrt(∫ Σ_s |v_s(q) - v'_s(q)|² dq) between the two potentials, a physical quantity in which every q
point weighs the same. Standardizing per column would blow up columns where all members agree (at
large q every v(q) decays to ~0 and the differences are numerical noise) to unit variance and let
K-means cluster on that noise.

``qmin`` defaults to 0.5 1/Bohr: the long-range tail -a4 4π/q² diverges at small q (it reaches
~10⁴ Hartree·Bohr³ at the table's first non-zero q = 0.01 1/Bohr), so any spread in a4 would
dominate every distance, while v(q) below the shortest reciprocal lattice vector (≈ 1.1 1/Bohr for
zincblende GaAs, ≈ 0.5 for the CsPbI3 cubic cell) never enters a bulk band structure. Pass
``qmin=0`` to use the whole table.

Tables on different q grids are interpolated linearly onto the first table's grid points that lie
inside every table's range.

Clusters
--------
K-means (scikit-learn, ``n_init=10``, ``random_state=seed``) on the feature rows; the number of
clusters is given (capped at the number of distinct potentials) or, with ``"auto"``, the k in
2 .. min(N - 1, 10) with the largest silhouette score (ties: the smaller k). Clusters are numbered by
their best member: cluster 0 holds the lowest-cost potential. Without costs the representative of a
cluster is the member nearest to its centroid.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import Defect, InputError
from ..export import read_qspace_table
from ..output import save_figure, write_text

log = logging.getLogger("sepm")

#: Default lower end of the feature q range (1/Bohr); see the module docstring.
DEFAULT_QMIN = 0.5
#: Largest k tried by ``clusters="auto"``.
AUTO_KMAX = 10


@dataclass
class ClusterResult:
    """Outcome of ``cluster_potentials``. Arrays are indexed by member (input order)."""

    members: list[str]
    tables: list[Path]
    costs: np.ndarray  # (N,), nan where unknown
    species: list[str]
    q: np.ndarray  # (nq,) feature grid, 1/Bohr
    features: np.ndarray  # (N, n_species * nq), Hartree*Bohr^3
    labels: np.ndarray  # (N,) cluster of each member, 0 .. n_clusters-1
    scores: np.ndarray  # (N, 2) PC1, PC2 (PC2 = 0 when there is only one component)
    explained_variance_ratio: np.ndarray  # (2,)
    n_clusters: int
    choice: str  # how n_clusters was chosen (logged and written to the headers)
    representatives: list[int]  # member index of each cluster's representative
    representative_rule: str  # "lowest cost" or "nearest to centroid"
    silhouette: dict = field(default_factory=dict)  # k -> score, when computed
    seed: int = 0

    def cluster_sizes(self) -> list[int]:
        return [int(np.sum(self.labels == c)) for c in range(self.n_clusters)]


def read_cost(path) -> float:
    """The final cost of a fit from its summary: ``final_cost`` (fit_summary.json, gradient stage)
    or ``best_cost`` (mc_summary.json, Monte Carlo)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(Defect(path, None, f"cannot read the fit summary: {err}")) from None
    for key in ("final_cost", "best_cost"):
        if isinstance(data, dict) and isinstance(data.get(key), (int, float)):
            return float(data[key])
    raise InputError(Defect(path, None, "no final_cost (gradient) or best_cost (Monte Carlo) entry"))


def _features(tables, qmin: float, qmax: float | None):
    """(q, features, species) on the common grid; checks that every table has the same species."""
    read = [read_qspace_table(t) for t in tables]
    q0, _, species0 = read[0]
    nspecies = read[0][1].shape[1]
    defects = []
    for path, (_, values, species) in zip(tables, read):
        if values.shape[1] != nspecies or (species0 and species and species != species0):
            defects.append(Defect(Path(path), None, f"species {species or values.shape[1]} differ from "
                                  f"{species0 or nspecies} of {tables[0]}"))
    lo = max(float(np.min(q)) for q, _, _ in read)
    hi = min(float(np.max(q)) for q, _, _ in read)
    lo = max(lo, float(qmin))
    hi = hi if qmax is None else min(hi, float(qmax))
    grid = q0[(q0 >= lo - 1e-12) & (q0 <= hi + 1e-12)]
    if not defects and len(grid) == 0:
        defects.append(Defect(Path(tables[0]), None, f"no q point of the table in the common range "
                              f"[{lo:g}, {hi:g}] 1/Bohr (qmin {qmin:g}, qmax {qmax})"))
    if defects:
        raise InputError(defects)
    rows = []
    for q, values, _ in read:
        same = len(q) == len(q0) and np.allclose(q, q0, rtol=0, atol=1e-12)
        cols = [values[np.isin(q0, grid), s] if same else np.interp(grid, q, values[:, s]) for s in range(nspecies)]
        rows.append(np.concatenate(cols))
    species = species0 or [f"species{s}" for s in range(nspecies)]
    return grid, np.asarray(rows, dtype=float), species


def _distinct(features: np.ndarray) -> int:
    return len(np.unique(np.round(features, 12), axis=0))


def _kmeans(features, k: int, seed: int):
    from sklearn.cluster import KMeans

    model = KMeans(n_clusters=k, n_init=10, random_state=seed)
    return model.fit_predict(features), model.cluster_centers_


def _choose_k(features, n_clusters, seed: int):
    """(k, how it was chosen, silhouette scores)."""
    n, distinct = len(features), _distinct(features)
    if isinstance(n_clusters, str):
        if n_clusters != "auto":
            raise ValueError(f"n_clusters must be a positive integer or 'auto', not {n_clusters!r}")
        if distinct < 2:
            return 1, "auto: all potentials are identical, 1 cluster", {}
        if distinct < 3:
            return 2, f"auto: only {distinct} distinct potentials, 2 clusters (silhouette needs k < N)", {}
        from sklearn.metrics import silhouette_score

        scores = {}
        for k in range(2, min(distinct - 1, AUTO_KMAX) + 1):
            labels, _ = _kmeans(features, k, seed)
            scores[k] = float(silhouette_score(features, labels))
        best = max(scores, key=lambda k: (scores[k], -k))
        listed = ", ".join(f"k={k}: {s:.3f}" for k, s in scores.items())
        return best, f"auto: largest silhouette score at k={best} ({listed})", scores
    k = int(n_clusters)
    if k < 1:
        raise ValueError(f"n_clusters must be >= 1, not {k}")
    if k > distinct:
        why = f"{n_clusters} requested, capped at the number of {'members' if distinct == n else 'distinct potentials'}"
        return distinct, f"{distinct} ({why})", {}
    return k, f"{k} (as configured)", {}


def _pca(features):
    """PC1/PC2 scores (N, 2) and explained-variance ratios (2,); zeros where there is no variance."""
    from sklearn.decomposition import PCA

    n, m = features.shape
    scores, ratio = np.zeros((n, 2)), np.zeros(2)
    if n < 2 or _distinct(features) < 2:
        return scores, ratio
    ncomp = min(2, n, m)
    pca = PCA(n_components=ncomp, svd_solver="full")
    scores[:, :ncomp] = pca.fit_transform(features)
    ratio[:ncomp] = np.nan_to_num(pca.explained_variance_ratio_)
    return scores, ratio


def cluster_potentials(tables, costs=None, n_clusters=2, seed: int = 0, members=None,
                       qmin: float = DEFAULT_QMIN, qmax: float | None = None) -> ClusterResult:
    """PCA and K-means over the v(q) tables ``tables`` (``*_qSpace_pot.dat``, one per fit).

    ``costs`` (one per table, e.g. from ``read_cost``; None or nan where unknown) pick each
    cluster's representative (its lowest-cost member). ``n_clusters`` is an int (capped at the
    number of distinct potentials) or ``"auto"`` (silhouette score). ``members`` names the tables
    (default "0", "1", ...). ``qmin`` / ``qmax`` (1/Bohr) bound the q range of the features.
    """
    tables = [Path(t) for t in tables]
    if len(tables) < 2:
        raise ValueError(f"clustering needs at least 2 potentials, got {len(tables)}")
    members = [str(m) for m in members] if members is not None else [str(i) for i in range(len(tables))]
    if len(members) != len(tables):
        raise ValueError(f"{len(members)} member names for {len(tables)} tables")
    costs = np.full(len(tables), np.nan) if costs is None else np.array(
        [np.nan if c is None else float(c) for c in costs], dtype=float)
    if len(costs) != len(tables):
        raise ValueError(f"{len(costs)} costs for {len(tables)} tables")
    q, features, species = _features(tables, qmin, qmax)
    k, choice, silhouette = _choose_k(features, n_clusters, seed)
    log.info("clusters: %s", choice)
    if k == 1:
        raw, centers = np.zeros(len(tables), dtype=int), features.mean(axis=0, keepdims=True)
    else:
        raw, centers = _kmeans(features, k, seed)
    # Representatives: lowest cost (nan last), else nearest to the centroid.
    have_costs = bool(np.all(np.isfinite(costs)))
    rule = "lowest cost" if have_costs else "nearest to centroid"
    reps = {}
    for c in range(k):
        idx = np.flatnonzero(raw == c)
        if have_costs:
            reps[c] = int(idx[np.argmin(costs[idx])])
        else:
            reps[c] = int(idx[np.argmin(np.linalg.norm(features[idx] - centers[c], axis=1))])
    # Number the clusters by their representative: cost ascending (or first member), so cluster 0
    # holds the best potential.
    order = sorted(range(k), key=lambda c: (costs[reps[c]] if have_costs else 0.0, reps[c]))
    relabel = {old: new for new, old in enumerate(order)}
    labels = np.array([relabel[int(c)] for c in raw], dtype=int)
    representatives = [reps[old] for old in order]
    scores, ratio = _pca(features)
    log.info("PCA explained variance ratio: PC1 %.4f, PC2 %.4f", ratio[0], ratio[1])
    return ClusterResult(members=members, tables=tables, costs=costs, species=list(species), q=q,
                         features=features, labels=labels, scores=scores, explained_variance_ratio=ratio,
                         n_clusters=k, choice=choice, representatives=representatives,
                         representative_rule=rule, silhouette=silhouette, seed=int(seed))


# ------------------------------------------------------------------------------------------ outputs


def _header(result: ClusterResult) -> list[str]:
    r = result.explained_variance_ratio
    return [
        f"sepm cluster: K-means over the v(q) tables of {len(result.members)} fitted potentials",
        f"features: v_{', v_'.join(result.species)} (Hartree*Bohr^3, not standardized) on {len(result.q)} q points "
        f"in [{result.q[0]:g}, {result.q[-1]:g}] 1/Bohr",
        f"clusters: {result.choice}; K-means n_init=10, random_state={result.seed}",
        f"PCA explained variance ratio: PC1 {r[0]:.6f} PC2 {r[1]:.6f}",
        f"representative of a cluster: its member with the {result.representative_rule}",
        "cost: final cost of the fit (fit_summary.json final_cost / mc_summary.json best_cost); nan = unknown",
        *(f"member {m}: {t}" for m, t in zip(result.members, result.tables)),
    ]


def _table(header_lines, columns, rows) -> str:
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
    lines = [f"# {line}" for line in header_lines]
    lines.append("# " + " ".join(columns))
    lines += [" ".join(v.rjust(w) for v, w in zip(r, widths)) for r in rows]
    return "\n".join(lines) + "\n"


def _num(x: float) -> str:
    return "nan" if not math.isfinite(x) else f"{x:.10g}"


def write_clusters(path, result: ClusterResult) -> Path:
    """``clusters.dat``: member cluster PC1 PC2 cost, one row per member (input order)."""
    rows = [[m, str(int(c)), _num(s[0]), _num(s[1]), _num(cost)]
            for m, c, s, cost in zip(result.members, result.labels, result.scores, result.costs)]
    return write_text(path, _table(_header(result), ["member", "cluster", "PC1", "PC2", "cost"], rows))


def write_representatives(path, result: ClusterResult) -> Path:
    """``representatives.dat``: cluster member cost size, the representative of each cluster."""
    sizes = result.cluster_sizes()
    rows = [[str(c), result.members[i], _num(result.costs[i]), str(sizes[c])]
            for c, i in enumerate(result.representatives)]
    header = _header(result)[:6] + [f"cluster {c}: member {result.members[i]} ({result.tables[i]})"
                                    for c, i in enumerate(result.representatives)]
    return write_text(path, _table(header, ["cluster", "member", "cost", "size"], rows))


def write_summary(path, result: ClusterResult) -> Path:
    """``clusters.json``: the choice of k, silhouette scores, explained variance and every member."""
    data = {
        "n_clusters": result.n_clusters,
        "choice": result.choice,
        "silhouette": {str(k): v for k, v in result.silhouette.items()},
        "explained_variance_ratio": result.explained_variance_ratio.tolist(),
        "representative_rule": result.representative_rule,
        "features": {"species": result.species, "nq": len(result.q), "qmin": float(result.q[0]),
                     "qmax": float(result.q[-1]), "units": "Hartree*Bohr^3", "standardized": False},
        "seed": result.seed,
        "clusters": [{"cluster": c, "representative": result.members[i], "table": str(result.tables[i]),
                      "cost": None if not math.isfinite(result.costs[i]) else float(result.costs[i]),
                      "members": [m for m, lab in zip(result.members, result.labels) if lab == c]}
                     for c, i in enumerate(result.representatives)],
        "members": [{"member": m, "table": str(t), "cluster": int(lab), "PC1": float(s[0]), "PC2": float(s[1]),
                     "cost": None if not math.isfinite(cost) else float(cost)}
                    for m, t, lab, s, cost in zip(result.members, result.tables, result.labels, result.scores,
                                                  result.costs)],
    }
    return write_text(path, json.dumps(data, indent=2) + "\n")


def plot_clusters(stem, result: ClusterResult, title: str = "") -> list[Path]:
    """PC1 vs PC2 of every member coloured by cluster; each cluster's representative is a star."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    cmap = colormaps["tab10"]
    fig = Figure(figsize=(6.5, 5.0))
    ax = fig.subplots()
    sizes = result.cluster_sizes()
    for c in range(result.n_clusters):
        idx = np.flatnonzero(result.labels == c)
        rep = result.representatives[c]
        colour = cmap(c % 10)
        cost = result.costs[rep]
        best = f", best {result.members[rep]}" + (f" (cost {cost:.4g})" if math.isfinite(cost) else "")
        ax.scatter(result.scores[idx, 0], result.scores[idx, 1], color=colour, s=40, alpha=0.8,
                   label=f"cluster {c}: {sizes[c]} member{'s' if sizes[c] != 1 else ''}{best}")
        ax.scatter(result.scores[rep, 0], result.scores[rep, 1], marker="*", s=260, facecolor=colour,
                   edgecolor="k", linewidths=1.0, zorder=3)
    for i, m in enumerate(result.members):
        ax.annotate(m, result.scores[i], textcoords="offset points", xytext=(5, 4), fontsize=8)
    r = result.explained_variance_ratio
    ax.set_xlabel(f"PC1 ({100 * r[0]:.1f}% of variance)")
    ax.set_ylabel(f"PC2 ({100 * r[1]:.1f}% of variance)")
    ax.set_title(f"{title or f'{len(result.members)} potentials'}: {result.n_clusters} "
                 f"cluster{'s' if result.n_clusters != 1 else ''} (★ = {result.representative_rule} member)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return save_figure(fig, stem)


def run_cluster(outdir, tables, summaries=None, n_clusters=2, seed: int = 0, members=None,
                qmin: float = DEFAULT_QMIN, qmax: float | None = None, title: str = "") -> ClusterResult:
    """Cluster ``tables`` and write ``pca_scatter.png/.pdf``, ``clusters.json``, ``clusters.dat`` and
    (last) ``representatives.dat`` into ``outdir``. ``summaries`` (fit_summary.json / mc_summary.json,
    one per table) give the costs. Member names default to the tables' folder names when those are
    unique (e.g. ensemble/0, ensemble/1, ...), else 0, 1, ..."""
    tables = [Path(t) for t in tables]
    if summaries is not None and len(summaries) != len(tables):
        raise ValueError(f"{len(summaries)} fit summaries for {len(tables)} tables (one per table, same order)")
    if members is None:
        parents = [t.parent.name for t in tables]
        members = parents if len(set(parents)) == len(parents) and all(parents) else None
    costs = [read_cost(s) for s in summaries] if summaries is not None else None
    result = cluster_potentials(tables, costs, n_clusters, seed, members, qmin, qmax)
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    plot_clusters(out / "pca_scatter", result, title)
    write_summary(out / "clusters.json", result)
    write_clusters(out / "clusters.dat", result)
    write_representatives(out / "representatives.dat", result)
    for c, i in enumerate(result.representatives):
        log.info("cluster %d: %d members, representative %s (cost %s, %s)", c, result.cluster_sizes()[c],
                 result.members[i], _num(result.costs[i]), result.tables[i])
    return result

"""Analysis of many fitted potentials (DeepPseudopot's cluster_pp) and of training histories.

- ``cluster``: PCA and K-means over the q-space tables (``*_qSpace_pot.dat``) of an ensemble of fits,
  the PC1/PC2 scatter plot and the tables of members and of the lowest-cost member per cluster.
- ``cost``: the cost-vs-epoch plot of a gradient stage (``training_cost.dat``) or a Monte Carlo
  stage (``mc_cost.dat``).
"""

from .cluster import ClusterResult, cluster_potentials, read_cost, run_cluster
from .cost import plot_training_cost

__all__ = ["ClusterResult", "cluster_potentials", "plot_training_cost", "read_cost", "run_cluster"]

"""`sepm plot-cost`: the cost history of a fitting stage (training_cost.dat or mc_cost.dat) as a plot."""

from __future__ import annotations

import logging

log = logging.getLogger("sepm")


def _plot_cost(args) -> int:
    from ..analysis.cost import plot_training_cost

    for written in plot_training_cost(args.table, args.output, args.title):
        log.info("wrote %s", written)
    return 0


def register(sub) -> None:
    cost = sub.add_parser("plot-cost", help="plot the cost history of sepm train (training_cost.dat) or sepm mc "
                          "(mc_cost.dat)",
                          description="Plot the cost per epoch of sepm train (training_cost.dat) or the best and "
                          "coldest-replica cost per iteration of sepm mc (mc_cost.dat), log-scaled when every cost "
                          "is positive. A missing table (max_num_epochs = 0: init-only) gives a plot that says so. "
                          "Writes STEM.png and STEM.pdf.")
    cost.add_argument("table", help="training_cost.dat or mc_cost.dat")
    cost.add_argument("-o", "--output", required=True, metavar="STEM", help="output path without extension")
    cost.add_argument("--title", default="", help="plot title (default: '<folder>: cost history')")
    cost.set_defaults(func=_plot_cost)

"""Cost-vs-epoch plots of the optimize stages.

``training_cost.dat`` (gradient stage: ``# epoch training_cost cost_after_step lr seconds``) gives
the cost before and after each epoch's optimizer step, the lowest cost after a step marked (tables
written before the column was renamed call it ``validation_cost``); ``mc_cost.dat``
(Monte Carlo: ``# iteration stage beta_coldest cost_0 ... best_cost ...``) the best cost and the
coldest replica's cost per iteration. The y axis is logarithmic when every cost is positive.

``sepm plot-cost TABLE -o STEM`` (the pipeline's ``cost_plot`` rule) writes ``STEM.png`` and
``STEM.pdf``. A missing table (``max_num_epochs = 0``: init-only) gives a plot that says so.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from ..output import save_figure


#: Column names of older tables -> their current names.
OLD_NAMES = {"validation_cost": "cost_after_step"}


def _read(path: Path):
    """(column names, data (n, ncol)) of a whitespace table with a ``# col1 col2 ...`` last header."""
    columns, rows = None, []
    for line in path.read_text().splitlines():
        text = line.strip()
        if not text:
            continue
        if text.startswith("#"):
            columns = [OLD_NAMES.get(c, c) for c in text.lstrip("#").split()]
            continue
        rows.append([float(t) for t in text.split()])
    data = np.asarray(rows, dtype=float).reshape(len(rows), -1)
    return columns or [f"col{i}" for i in range(data.shape[1])], data


def _cost_terms(path: Path) -> str | None:
    """The terms of the cost from a ``# cost = a + b ...`` header line (up to a ';'), else None."""
    for line in path.read_text().splitlines():
        text = line.lstrip("# ").strip()
        if line.startswith("#") and text.startswith("cost = "):
            return text[len("cost = "):].split(";")[0].strip()
    return None


def plot_training_cost(path, stem, title: str = "") -> list[Path]:
    """Plot the cost history in ``path`` (training_cost.dat or mc_cost.dat) to ``stem``.png/.pdf."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    path = Path(path)
    fig = Figure(figsize=(6.5, 4.2))
    ax = fig.subplots()
    curves, terms = [], None
    if path.is_file():
        columns, data = _read(path)
        terms = _cost_terms(path)
        col = {c: i for i, c in enumerate(columns)}
        if len(data) and "training_cost" in col:
            x, xlabel = data[:, col["epoch"]] if "epoch" in col else np.arange(1, len(data) + 1), "epoch"
            curves = [(data[:, col["training_cost"]], "training cost (before the epoch's step)", "-")]
            if "cost_after_step" in col:
                after = data[:, col["cost_after_step"]]
                curves.append((after, "cost after the step (eval mode)", "--"))
                best = int(np.nanargmin(after))
                ax.plot(x[best], after[best], "o", color="k", ms=5,
                        label=f"lowest after a step {after[best]:.4g} (epoch {x[best]:g})")
        elif len(data) and "best_cost" in col:
            x, xlabel = data[:, col.get("iteration", 0)], "iteration"
            curves = [(data[:, col["best_cost"]], "best cost", "-")]
            if "cost_0" in col:
                curves.append((data[:, col["cost_0"]], "replica 0 cost", ":"))
        for y, label, style in curves:
            ax.plot(x, y, style, label=label)
    if curves:
        values = np.concatenate([y for y, _, _ in curves])
        if np.all(values[np.isfinite(values)] > 0):
            ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("cost: " + textwrap.fill(terms or "weighted band loss (eV^2) + penalties", 45))
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    else:
        ax.text(0.5, 0.5, f"no cost history\n({path.name} {'is empty' if path.is_file() else 'not written'}: "
                "no training epochs)", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    ax.set_title(title or f"{path.parent.name}: cost history")
    fig.tight_layout()
    return save_figure(fig, stem)

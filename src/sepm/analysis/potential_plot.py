r"""The exported local potential in one figure (``final_plotPP.png``): v(q) and v(r) of every species.

Left, v(q) of the short-range part (the network, or the Wang-Zunger form a0..a3 of an analytic fit) on
0 <= q <= 10 1/Bohr, next to the Wang-Zunger form of the fit's own a0..a3 (dashed; for a network fit,
the form its prior was fitted to). The long-range tail -a4 4 pi/q^2 exp(-q^2/(4 gamma^2)) is left out
of this panel: it diverges at q -> 0.

Right, v(r) as written to ``final_pot.dat``, read back from that file, next to the same transform of the
Wang-Zunger form (dashed). Both carry the tail -a4 erf(gamma r)/r exactly when the potential uses it
(always for an analytic fit; for a network only with ``network_long_range = 1``); the titles say which.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from ..export import realspace_potential
from ..output import save_figure


def plot_final_potential(stem, pp, pot_file, qmax: float, nq: int, title: str = "",
                         qmax_plot: float = 10.0) -> list[Path]:
    """``stem``.png/.pdf of the potential ``pp`` (a Pseudopotential) whose v(r) is in ``pot_file`` (rows
    ``r v_<Sym>...``), transformed with ``qmax`` (1/Bohr) and ``nq`` nodes (the reference is transformed
    the same way)."""
    table = np.loadtxt(pot_file, ndmin=2)
    r, vr = table[:, 0], table[:, 1:]
    analytic = dataclasses.replace(pp, local=None)  # Wang-Zunger a0..a3, tail exactly when pp has one
    tail = " + tail" if pp.long_range else ""
    q = torch.linspace(0.0, float(qmax_plot), 501, dtype=torch.float64)
    with torch.no_grad():
        vq = pp.local_form_factor(q).cpu().numpy()
        vq_ref = analytic.local_form_factor(q).cpu().numpy() if pp.local is not None else None
        vr_ref = realspace_potential(analytic.total_local_form_factor, r, qmax, nq).cpu().numpy() \
            if pp.local is not None else None
    fig = Figure(figsize=(11, 4.4))
    left, right = fig.subplots(1, 2)
    for i, s in enumerate(pp.species):
        (line,) = left.plot(q.numpy(), vq[:, i], label=s)
        right.plot(r, vr[:, i], color=line.get_color(), label=s)
        if vq_ref is not None:
            left.plot(q.numpy(), vq_ref[:, i], "--", color=line.get_color(), lw=1, label=f"{s}: Wang–Zunger a0–a3")
            right.plot(r, vr_ref[:, i], "--", color=line.get_color(), lw=1, label=f"{s}: Wang–Zunger a0–a3{tail}")
    for ax in (left, right):
        ax.axhline(0.0, color="gray", lw=0.5)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    left.set_xlim(0.0, float(qmax_plot))
    left.set_xlabel("q (1/Bohr)")
    left.set_ylabel("v(q) (Hartree·Bohr³)")
    left.set_title("v(q), short-range part (long-range tail left out)")
    right.set_xlim(0.0, float(r.max()))
    right.set_xlabel("r (Bohr)")
    right.set_ylabel("v(r) (Hartree)")
    right.set_title(f"v(r) of {Path(pot_file).name} ({'tail included' if pp.long_range else 'no long-range tail'})")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, stem)

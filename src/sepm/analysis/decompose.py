r"""Decomposition of band energies into Hamiltonian terms (DeepPseudopot's plot_SOC_NL_T_Vloc).

For an eigenstate H psi = E psi, E = <psi|T|psi> + <psi|V_loc|psi> + <psi|V_SO|psi> + <psi|V_NL|psi>,
with V_loc the local potential including its long-range tail. Spin-diagonal terms act on both spin
blocks of a spinor. Band slots b (0-based) follow the band tables: without SOC slot b is level b // 2
(spin doubling), with SOC level b. decomposition.dat and the plot number bands from 1, like the E_n
columns of the band tables (band n = slot n - 1); k-point indices are 0-based, like their kidx column.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from ..constants import HARTREE_EV  # noqa: E402
from ..output import save_figure, write_table  # noqa: E402

#: Reported parts and the terms (by name) that make them up.
PARTS = {"T": ("kinetic",), "V_loc": ("local", "long_range"), "V_SO": ("spin_orbit",), "V_NL": ("nonlocal",)}


def _expectation(m: torch.Tensor, vecs: torch.Tensor, spinor_space: bool) -> torch.Tensor:
    """<psi|M|psi> for columns of ``vecs``; scalar M acts on both spin blocks of spinor states."""
    n = m.shape[-1]
    if spinor_space and n * 2 == vecs.shape[0]:
        up, down = vecs[:n], vecs[n:]
        return (torch.einsum("ib,ij,jb->b", up.conj(), m, up) + torch.einsum("ib,ij,jb->b", down.conj(), m, down)).real
    return torch.einsum("ib,ij,jb->b", vecs.conj(), m, vecs).real


@torch.no_grad()
def decompose(ham, kfrac, slots) -> list[dict]:
    """Rows {k, band, E, T, V_loc, V_SO, V_NL} in eV for every k-point and band slot."""
    prepared = ham.prepare()
    kcart = ham.basis.kpoints(kfrac)
    rows = []
    for ik in range(kcart.shape[0]):
        k = kcart[ik : ik + 1]
        h = ham.matrices(k, prepared)[0]
        energies, vectors = torch.linalg.eigh(h)
        levels = [b if ham.spinor else b // 2 for b in slots]
        vecs = vectors[:, levels]
        parts = {name: torch.zeros(len(levels), dtype=torch.float64) for name in PARTS}
        for i, term in enumerate(ham.terms):
            m = term.matrix(k if term.k_dependent else None, prepared.data.get(i))
            m = m[0] if m.dim() == 3 else m
            name = next(p for p, names in PARTS.items() if term.name in names)
            parts[name] += _expectation(m, vecs, ham.spinor)
        for j, b in enumerate(slots):
            row = {"k": ik, "band": b, "E": float(energies[levels[j]]) * HARTREE_EV}
            row.update({name: float(v[j]) * HARTREE_EV for name, v in parts.items()})
            rows.append(row)
    return rows


def write_decomposition(outdir, rows, ham, kfrac, title=""):
    """decomposition.dat, decomposition.png/.pdf (bars per state) and H_blocks.png/.pdf (|H_term|
    heat maps at the first k-point)."""
    columns = ["kidx", "band", "E", *PARTS, "sum"]
    data = [[r["k"], r["band"] + 1, r["E"], *(r[p] for p in PARTS), sum(r[p] for p in PARTS)] for r in rows]
    write_table(outdir / "decomposition.dat", columns, data,
                ["expectation values of the Hamiltonian terms (eV); sum = T + V_loc + V_SO + V_NL = E"], fmt="%.8f")
    fig, ax = plt.subplots(figsize=(max(6.0, 0.5 * len(rows)), 4.5))
    x = np.arange(len(rows))
    width = 0.8 / len(PARTS)
    for i, part in enumerate(PARTS):
        ax.bar(x + (i - 1.5) * width, [r[part] for r in rows], width, label=f"⟨{part}⟩")
    ax.plot(x, [r["E"] for r in rows], "k_", ms=18, mew=2, label="E")
    ax.set_xticks(x, [f"k{r['k']} E_{r['band'] + 1}" for r in rows], rotation=60, fontsize=7)
    ax.set_ylabel("Energy (eV)")
    ax.axhline(0, color="0.5", lw=0.5)
    ax.set_title(title or "Hamiltonian decomposition")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, outdir / "decomposition")
    plt.close(fig)
    with torch.no_grad():
        prepared = ham.prepare()
        k = ham.basis.kpoints(kfrac[:1])
        mats = {t.name: t.matrix(k if t.k_dependent else None, prepared.data.get(i)) for i, t in enumerate(ham.terms)}
    fig, axes = plt.subplots(1, len(mats), figsize=(3.2 * len(mats), 3.2))
    for ax, (name, m) in zip(np.atleast_1d(axes), mats.items()):
        m = m[0] if m.dim() == 3 else m
        image = ax.imshow(np.log10(m.abs().numpy() * HARTREE_EV + 1e-8), cmap="viridis")
        ax.set_title(f"{name}: log10 |H| (eV)", fontsize=9)
        fig.colorbar(image, ax=ax, shrink=0.8)
    fig.tight_layout()
    save_figure(fig, outdir / "H_blocks")
    plt.close(fig)

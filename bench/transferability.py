"""Why a bulk fit can fail in a nanocrystal (issue 18's diagnosis; not a test).

For a fitted potential (a fit folder's ``<prefix>*`` files), the bundle's Zunger form and the published
real-space library, on the same axes:

- v(q) on a dense q grid with the crystal's reciprocal-lattice shells |G| marked: the bulk fit sees v
  only there (and at q = 0 through the sum over species), so between shells and below the first one the
  network is free;
- v(r) on the client grid (1024 rows, dr = pi/125 Bohr), linear and as log |v|: what that freedom does to
  the real-space tail the client cuts at its last row;
- the bulk levels (VBM, CBM) with the potential itself and with its client tables (last row subtracted,
  zero beyond): the measured shift next to the analytic one, sum_s N_s [v_table_s(0) - v_s(0)] / Omega;
- with ``--dots DIR ...``: each dot's HOMO / LUMO against the bulk edges and where those states live
  (the location weights in dot.json).

Usage: python bench/transferability.py FITDIR OUTDIR [--prefix final_] [--bundle resources/bundles/GaAs]
       [--library resources/potentials-realspace] [--dots results/GaAs/nanocrystal/dots/R*]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

ROOT = Path(__file__).resolve().parents[1]


def shells(crystal, qmax: float) -> np.ndarray:
    """Distinct |G| (1/Bohr) of the crystal below qmax."""
    n = int(np.ceil(qmax / np.linalg.norm(crystal.reciprocal, axis=1).min())) + 1
    m = np.stack(np.meshgrid(*[np.arange(-n, n + 1)] * 3, indexing="ij"), -1).reshape(-1, 3)
    g = np.linalg.norm(m @ crystal.reciprocal, axis=1)
    return np.unique(np.round(g[(g > 1e-9) & (g <= qmax)], 6))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("fitdir")
    ap.add_argument("outdir")
    ap.add_argument("--prefix", default="final_")
    ap.add_argument("--bundle", default=str(ROOT / "resources/bundles/GaAs"))
    ap.add_argument("--library", default=str(ROOT / "resources/potentials-realspace"))
    ap.add_argument("--dots", nargs="*", default=[], help="dot folders (dot.json) to summarize")
    args = ap.parse_args()
    torch.set_num_threads(1)

    from sepm.constants import HARTREE_EV
    from sepm.crystal import Crystal
    from sepm.fitting.potential_files import load_potential
    from sepm.io import read_bundle
    from sepm.nanocrystal.dot import bulk_edges_of
    from sepm.nanocrystal.potfiles import read_library
    from sepm.nanocrystal.radial import LibraryFormFactor, tables_from_form_factor
    from sepm.output import save_figure
    from sepm.pseudopotential import Pseudopotential

    out = Path(args.outdir)
    out.mkdir(parents=True, exist_ok=True)
    bundle = read_bundle(args.bundle)
    system = bundle.systems[0]
    species = sorted(set(system.atom_species))
    crystal = Crystal.from_system(system, species=species)
    fit, _, _ = load_potential(args.fitdir, args.prefix)
    zunger = Pseudopotential.from_bundle(bundle)
    library_tables = read_library(args.library, species)
    forms = {"fit": fit.local_form_factor, "Zunger (bundle)": zunger.local_form_factor}
    tables = {name: tables_from_form_factor(f, species)[0] for name, f in forms.items()}
    tables["library"] = library_tables
    client = {name: LibraryFormFactor(t, species) for name, t in tables.items()}
    forms["library"] = client["library"]

    q = torch.linspace(0.0, 6.0, 1201, dtype=torch.float64)
    g = shells(crystal, 6.0)
    fig = Figure(figsize=(15, 4.6))
    axq, axr, axl = fig.subplots(1, 3)
    for i, s in enumerate(species):
        for j, (name, f) in enumerate(forms.items()):
            with torch.no_grad():
                axq.plot(q, f(q)[:, i], color=f"C{j}", ls="-" if i == 0 else "--", label=f"{name} {s}")
            t = tables[name][s]
            axr.plot(t.r, t.v, color=f"C{j}", ls="-" if i == 0 else "--", label=f"{name} {s}")
            axl.semilogy(t.r, np.abs(t.v), color=f"C{j}", ls="-" if i == 0 else "--", label=f"{name} {s}")
    for x in g:
        axq.axvline(x, color="gray", lw=0.5)
    axq.set(xlabel="q (1/Bohr); grey: shells |G| of the crystal", ylabel="v(q) (Hartree Bohr³)", title="v(q)")
    axr.set(xlabel="r (Bohr)", ylabel="v(r) (Hartree)", title="v(r) on the client grid", ylim=(-1.5, 0.5))
    axl.axhline(1e-6, color="k", lw=0.8, ls=":")
    axl.set(xlabel="r (Bohr)", ylabel="|v(r)| (Hartree)", title="|v(r)| (dotted: 1e-6 Hartree)", ylim=(1e-10, 10))
    for ax in (axq, axr, axl):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, out / "potentials")

    counts = {s: sum(1 for a in system.atom_species if a == s) for s in species}
    zero = torch.zeros(1, dtype=torch.float64)
    rows = {}
    for name in ("fit", "Zunger (bundle)"):
        with torch.no_grad():
            own = bulk_edges_of(system, forms[name], species)
            cut = bulk_edges_of(system, client[name], species)
            dv0 = (client[name](zero) - forms[name](zero))[0].numpy()
        analytic = sum(counts[s] * dv0[i] for i, s in enumerate(species)) / crystal.volume * HARTREE_EV
        last = {s: float(tables[name][s].v[-1]) for s in species}
        rows[name] = dict(vbm=own["vbm"] * HARTREE_EV, cbm=own["cbm"] * HARTREE_EV,
                          vbm_client=cut["vbm"] * HARTREE_EV, cbm_client=cut["cbm"] * HARTREE_EV,
                          shift_measured=(cut["vbm"] - own["vbm"]) * HARTREE_EV, shift_analytic=float(analytic),
                          last_row=last, v0=(forms[name](zero)[0].detach().numpy()).tolist())
    lib = bulk_edges_of(system, client["library"], species)
    rows["library"] = dict(vbm_client=lib["vbm"] * HARTREE_EV, cbm_client=lib["cbm"] * HARTREE_EV,
                           last_row={s: float(library_tables[s].v[-1]) for s in species})
    print("bulk levels (eV): the potential's own v(q) vs its client tables (last row subtracted, zero beyond)")
    for name, r in rows.items():
        if "vbm" in r:
            print(f"  {name:16s} VBM {r['vbm']:8.4f} CBM {r['cbm']:8.4f} | client VBM {r['vbm_client']:8.4f} "
                  f"CBM {r['cbm_client']:8.4f} | shift {r['shift_measured']:+.4f} "
                  f"(analytic {r['shift_analytic']:+.4f}) "
                  f"| last row " + " ".join(f"{s} {v:+.2e}" for s, v in r["last_row"].items()) + " Hartree")
        else:
            print(f"  {name:16s} client VBM {r['vbm_client']:8.4f} CBM {r['cbm_client']:8.4f} | last row "
                  + " ".join(f"{s} {v:+.2e}" for s, v in r["last_row"].items()) + " Hartree")
    print("first shells |G| (1/Bohr):", " ".join(f"{x:.3f}" for x in g[:6]))

    dots = []
    for folder in args.dots:
        rec = json.loads((Path(folder) / "dot.json").read_text())
        sanity = rec["sanity"]
        dots.append(dict(radius=rec["radius_bohr"], gap=rec["gap_ev"], homo=rec["homo_ev"], lumo=rec["lumo_ev"],
                         vbm=rec["bulk"]["vbm"], cbm=rec["bulk"]["cbm"], flags=sanity["flags"],
                         homo_location=sanity["homo_location"], lumo_location=sanity["lumo_location"]))
    for d in sorted(dots, key=lambda d: d["radius"]):
        where = "; ".join(f"{e} " + " ".join(f"{k} {v:.2f}" for k, v in d[f"{e}_location"].items())
                          for e in ("homo", "lumo"))
        print(f"  R {d['radius']:5g}: gap {d['gap']:.3f} eV, HOMO {d['homo']:.3f} (bulk VBM {d['vbm']:.3f}), LUMO "
              f"{d['lumo']:.3f} (bulk CBM {d['cbm']:.3f}); flags {', '.join(d['flags']) or 'none'}; {where}")
    (out / "transferability.json").write_text(json.dumps(dict(bulk=rows, dots=dots), indent=2) + "\n")
    print(f"wrote {out / 'potentials.png'} and {out / 'transferability.json'}")


if __name__ == "__main__":
    main()

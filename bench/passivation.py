"""The dot table of issue 18 (passivation): fit, library and Zunger dots side by side (not a test).

``zunger OUT``: writes the bundle's analytic (Zunger) local potential as client tables, with the P1/P2
ligands calibrated to its bulk band edges against the library (what `sepm export --nc-ligand-reference`
does for a fit), to OUT; run its dots with `sepm dot BUNDLE DOTS --pot-dir OUT --radius 10 12 14 16 18 20`.

``table DOTS ...``: for each folder of dots (R*/dot.json), per radius: gap, HOMO - bulk VBM, LUMO - bulk
CBM (meV), the sanity flags, and where the HOMO and LUMO live (core/surface/ligand/vacuum shares).

Usage: python bench/passivation.py zunger OUT [--bundle resources/bundles/GaAs]
       [--library resources/potentials-realspace]
       python bench/passivation.py table results/GaAs/nanocrystal/dots DOTS2 ...
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def zunger(args) -> None:
    import torch

    from sepm.io import read_bundle
    from sepm.nanocrystal.client_export import export_for_client
    from sepm.nanocrystal.potfiles import read_library
    from sepm.nanocrystal.radial import LibraryFormFactor
    from sepm.pseudopotential import Pseudopotential

    torch.set_num_threads(1)
    bundle = read_bundle(args.bundle)
    pp = Pseudopotential.from_bundle(bundle)
    species = list(pp.species)
    reference = LibraryFormFactor(read_library(Path(args.library), species), species)
    record = export_for_client(args.out, pp, source=f"{args.bundle} (Zunger form)", ligand_reference=reference,
                               system=bundle.systems[0])
    print("ligands:", ", ".join(f"{s} {a:+.4f}" for s, a in record["ligand_calibration"]["amplitudes"].items()),
          "Hartree; decayed:", record["decayed"])


def table(args) -> None:
    for folder in args.dots:
        print(f"== {folder}")
        print("   R   gap(eV)  HOMO-VBM  LUMO-CBM (meV)  flags  HOMO core/surf/lig/vac  LUMO core/surf/lig/vac")
        records = sorted((json.loads(p.read_text()) for p in Path(folder).glob("R*/dot.json")),
                         key=lambda r: r["radius_bohr"])
        for r in records:
            where = ["/".join(f"{v:.2f}" for v in r["sanity"][f"{e}_location"].values()) for e in ("homo", "lumo")]
            print(f"{r['radius_bohr']:5g}  {r['gap_ev']:7.3f}  {1000 * (r['homo_ev'] - r['bulk']['vbm']):+8.0f}  "
                  f"{1000 * (r['lumo_ev'] - r['bulk']['cbm']):+8.0f}        {','.join(r['sanity']['flags']) or '-':5s}  "
                  f"{where[0]:22s}  {where[1]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    z = sub.add_parser("zunger")
    z.add_argument("out")
    z.add_argument("--bundle", default=str(ROOT / "resources/bundles/GaAs"))
    z.add_argument("--library", default=str(ROOT / "resources/potentials-realspace"))
    t = sub.add_parser("table")
    t.add_argument("dots", nargs="+")
    args = ap.parse_args()
    (zunger if args.what == "zunger" else table)(args)


if __name__ == "__main__":
    main()

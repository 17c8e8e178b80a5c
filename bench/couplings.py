"""Coupling benchmark (not a test): seconds to evaluate every electron-phonon coupling of DeepPseudopot's
test_ham_montecarlo bundle (CsPbI3, SOC + NL, maxKE 6 as shipped: 2N ~ 2350; 5 atoms x 3 directions x
2 q-points x 2 edges) next to its band structure (3 k-points, 32 bands), same run, same threads.
With --grad, also one value-and-gradient evaluation of the coupling loss (full eigendecompositions).

Usage: python bench/couplings.py [--repeat R] [--maxke E] [--grad] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "deeppseudopot" / "test_ham_montecarlo"
sys.path.insert(0, str(ROOT / "bench"))
from bands import best_of  # noqa: E402


def main():
    import torch

    from sepm.bands import band_energies, system_hamiltonian
    from sepm.io import read_bundle
    from sepm.observables import SystemCouplings
    from sepm.pseudopotential import Pseudopotential

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--maxke", type=float, default=6.0)
    ap.add_argument("--grad", action="store_true")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "cspbi3"
        folder.mkdir()
        for p in DATA.iterdir():
            shutil.copy(p, folder / (f"init_{p.name}" if p.name.endswith("Params.par") else p.name))
        (folder / "input_0.par").write_text((DATA / "input_0.par").read_text().replace("maxKE = 6.0",
                                                                                        f"maxKE = {args.maxke}"))
        (folder / "NN_config.par").write_text("nSystem = 1\nSObool = 1\nPPmodel = ZeroFunction\n")
        bundle = read_bundle(folder)
    spec = bundle.systems[0]
    pp = Pseudopotential.from_bundle(bundle, device=args.device)
    ham = system_hamiltonian(spec, pp, device=args.device)
    couplings = SystemCouplings(ham, spec)
    with torch.no_grad():
        t_bands = best_of(lambda: band_energies(ham, spec.kpoints, spec.nbands), args.repeat)
        t_first = best_of(couplings.values, 1)  # includes the derivative geometry, kept afterwards
        t_cpl = best_of(couplings.values, args.repeat)
        t_states = best_of(couplings.states, args.repeat)
    print(f"CsPbI3 test_ham_montecarlo, maxKE {args.maxke:g}: 2N = {ham.dim}, {torch.get_num_threads()} threads")
    print(f"band structure (3 k-points, 32 bands): {t_bands:.2f} s")
    print(f"all couplings (60 values, 3 subset diagonalizations with vectors): {t_cpl:.2f} s (first call {t_first:.2f} s, "
          f"with the derivative geometry); ratio to the band structure {t_cpl / t_bands:.2f}")
    print(f"  of which Hamiltonians and edge eigenvectors {t_states:.2f} s, matrix elements {t_cpl - t_states:.2f} s")
    if args.grad:
        pp.params = pp.params.clone().requires_grad_(True)

        def value_and_grad():
            torch.autograd.grad(couplings.loss(couplings.values(need_grad=True)), pp.params)

        t_grad = best_of(value_and_grad, 1)
        print(f"coupling loss with its gradient: {t_grad:.2f} s; ratio to the band structure {t_grad / t_bands:.2f}")


if __name__ == "__main__":
    main()

"""Band-structure benchmark (not a test): whole calculation vs the bare eigensolver, same run.

Cases (each in its own subprocess so that peak memory is its own):
- GaAs bundle: 61 k-points, maxKE 6, no SOC. Time of the whole band structure (basis, Hamiltonian
  and eigenvalues) against the eigensolver calls alone on the same matrices. Target ratio <= 1.3.
- CsPbI3_soc bundle at maxKE 6 (SOC + NL, 2N ~ 2400): time of building one k-point's Hamiltonian
  against its eigensolve. Target <= 10 %.

Usage: python bench/bands.py [--repeat R] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def best_of(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def case_gaas(repeat, device):
    import torch

    from sepm.bands import band_energies, batch_size, levels_needed, system_hamiltonian
    from sepm.eigensolver import lowest_eigenvalues
    from sepm.io import read_bundle
    from sepm.pseudopotential import Pseudopotential

    bundle = read_bundle(ROOT / "resources/bundles/GaAs")
    system = bundle.systems[0]
    pp = Pseudopotential.from_bundle(bundle, device=device)

    def whole():
        with torch.no_grad():
            ham = system_hamiltonian(system, pp, device=device)
            return band_energies(ham, system.kpoints, system.nbands)

    whole()  # warm up
    t_whole = best_of(whole, repeat)
    ham = system_hamiltonian(system, pp, device=device)
    k = ham.basis.kpoints(system.kpoints)
    step = batch_size(ham.dim, 2.0, len(k))
    with torch.no_grad():
        prepared = ham.prepare()
        mats = [ham.matrices(k[i:i + step], prepared) for i in range(0, len(k), step)]
    n = levels_needed(system.nbands, ham.spinor)
    t_eig = best_of(lambda: [lowest_eigenvalues(m, n) for m in mats], repeat)
    return {"case": "GaAs 61 k, maxKE 6, no SOC", "N": ham.basis.size, "whole_s": t_whole,
            "eigensolver_s": t_eig, "ratio": t_whole / t_eig, "target": "<= 1.3"}


def case_soc(repeat, device):
    import torch

    from sepm.bands import system_hamiltonian
    from sepm.eigensolver import lowest_eigenvalues
    from sepm.io import read_bundle
    from sepm.pseudopotential import Pseudopotential

    bundle = read_bundle(ROOT / "resources/bundles/CsPbI3_soc")
    system = bundle.systems[0]
    system.maxke = 6.0
    pp = Pseudopotential.from_bundle(bundle, device=device)
    ham = system_hamiltonian(system, pp, device=device)
    kpts = ham.basis.kpoints(system.kpoints[:3])
    with torch.no_grad():
        prepared = ham.prepare()
        build = eig = 0.0
        for i in range(len(kpts)):
            k = kpts[i:i + 1]
            ham.matrices(k, prepared)  # warm up
            build += best_of(lambda: ham.matrices(k, prepared), repeat)
            h = ham.matrices(k, prepared)
            eig += best_of(lambda: lowest_eigenvalues(h, system.nbands), max(1, repeat // 2))
    return {"case": "CsPbI3 SOC+NL, maxKE 6, per k", "N": ham.basis.size, "dim": ham.dim,
            "build_s": build / len(kpts), "eigensolver_s": eig / len(kpts), "ratio": build / eig,
            "target": "<= 0.10"}


CASES = {"gaas": case_gaas, "soc": case_soc}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--case", choices=sorted(CASES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        result = CASES[args.case](args.repeat, args.device)
        result["peak_rss_MiB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    for name in CASES:
        out = subprocess.run([sys.executable, __file__, "--case", name, "--repeat", str(args.repeat),
                              "--device", args.device],
                             check=True, capture_output=True, text=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        timings = {k: v for k, v in r.items() if k.endswith("_s")}
        print(f"{r['case']}: N = {r['N']}, " + ", ".join(f"{k} {v:.4f}" for k, v in timings.items())
              + f", ratio {r['ratio']:.3f} (target {r['target']}), peak RSS {r['peak_rss_MiB']:.0f} MiB")


if __name__ == "__main__":
    main()

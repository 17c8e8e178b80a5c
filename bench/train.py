"""Training benchmark (not a test): seconds per training epoch (forward + backward) next to the
values-only eigensolver floor on the same matrices, measured in the same run.

Cases:
- GaAs bundle, NN Net_celu_HeInit_decayGaussian 3 x 20 hidden, 61 k-points, maxKE 6. Target <= 2.5.
- CsPbI3_soc at maxKE 6 (SOC + NL, 2N ~ 2400), one k-point, ZeroFunction with a5..a7 trainable
  (reference bands are the bundle's own + 0.1 eV, so the loss and its gradient are non-trivial);
  with and without cacheSO.

Usage: python bench/train.py [--repeat R] [--device cpu|cuda]

bench/train_loop.py times the whole `sepm train` epoch against this forward + backward (and the original).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from bands import best_of  # noqa: E402

from sepm.bands import levels_needed  # noqa: E402
from sepm.eigensolver import lowest_eigenvalues  # noqa: E402
from sepm.fitting.stage import FitSetup  # noqa: E402


def epoch_vs_floor(setup, repeat):
    problem = setup.build_problem()

    def epoch():
        for p in [*setup.model.parameters(), *setup.coefficients.parameters()]:
            p.grad = None
        problem.evaluate(backward=True)

    epoch()
    t_epoch = best_of(epoch, repeat)
    floor = 0.0
    with torch.no_grad():
        setup.refresh()
        for t in problem.targets:
            h = t.ham.matrices(t.ham.basis.kpoints(t.spec.kpoints))
            n = levels_needed(t.spec.nbands, t.ham.spinor)
            floor += best_of(lambda: lowest_eigenvalues(h, n), repeat)
    return t_epoch, floor


def soc_bundle(tmp: Path, device: str) -> Path:
    folder = tmp / "CsPbI3_soc"
    shutil.copytree(ROOT / "resources/bundles/CsPbI3_soc", folder)
    (folder / "input_0.par").write_text("nBands = 32\nmaxKE = 6.0\n")
    np.savetxt(folder / "kpoints_0.par", np.loadtxt(folder / "kpoints_0.par")[:1])
    setup = FitSetup(folder, ["PPmodel=ZeroFunction"], device=device)
    with torch.no_grad():
        setup.refresh()
        bands = setup.build_problem().bands(0).cpu().numpy()
    np.savetxt(folder / "expBandStruct_0.par", np.column_stack([[0.0], bands + 0.1]))
    return folder


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    args = parser.parse_args()
    nn = ["PPmodel=Net_celu_HeInit_decayGaussian", "PPmodel_gaussian_std=2.0", "hiddenLayers=20 20 20"]
    t, floor = epoch_vs_floor(FitSetup(ROOT / "resources/bundles/GaAs", nn, device=args.device), args.repeat)
    print(f"GaAs NN 3x20, 61 k, maxKE 6: epoch {t:.3f} s, values-only eigensolver floor {floor:.3f} s, "
          f"ratio {t / floor:.2f} (target <= 2.5)")
    with tempfile.TemporaryDirectory() as tmp:
        folder = soc_bundle(Path(tmp), args.device)
        for cache in (0, 1):
            setup = FitSetup(folder, ["PPmodel=ZeroFunction", f"cacheSO={cache}"], device=args.device)
            t, floor = epoch_vs_floor(setup, max(1, args.repeat - 1))
            dim = setup.problem.targets[0].ham.dim
            print(f"CsPbI3 SOC+NL, maxKE 6, 1 k (dim {dim}), cacheSO={cache}: epoch {t:.3f} s, "
                  f"floor {floor:.3f} s, ratio {t / floor:.2f}")


if __name__ == "__main__":
    main()

"""The real-space tail of fitted network potentials: dv/dq at q = 0 and |v(r)| far out, per species, next to
the export's implied level shift and decay (issue 18; PPmodel_input = q against q2).

    OMP_NUM_THREADS=1 python bench/network_form.py [--bundle BUNDLE] NAME=FOLDER[:PREFIX[:SIDECAR]] ...

FOLDER is a fitting stage's output (model_config.json + <PREFIX>PPmodel.pth; PREFIX defaults to final_),
e.g. results/GaAs/prior:init_ or results/GaAs/optimize/1_gradient; SIDECAR an export's
nanocrystal_potentials.json. v(r) = 1/(2 pi^2) int q^2 v(q) j0(qr) dq with the export's converged quadrature.
A slope s at q = 0 alone gives v(r) -> -s / (pi^2 r^4): that column is printed alongside. With --bundle,
the band RMSE (all / weight 1 / weight 20, meV) of each folder's <PREFIX>bands_0.dat against the bundle's
first system.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import torch

from sepm.export import converge_realspace
from sepm.fitting.potential_files import load_potential
from sepm.io.bundle import read_bundle

RADII = (30.0, 50.0, 100.0)


def rmse_mev(bands_file, system) -> str:
    error = np.loadtxt(bands_file)[:, 2:] - system.ref_bands
    w = system.band_weights
    return " / ".join(f"{1e3 * np.sqrt(np.mean(error[:, cols] ** 2)):.1f}" for cols in (w != 0, w == 1, w == 20))


def main(args: list[str]) -> None:
    torch.set_num_threads(1)
    system = None
    if args[:1] == ["--bundle"]:
        system, args = read_bundle(args[1]).systems[0], args[2:]
    r = torch.tensor(RADII, dtype=torch.float64)
    print(f"{'run':<14}{'sp':<4}{'input':<6}{'dv/dq(0)':>11}" + "".join(f"{f'|v({x:g})|':>11}" for x in RADII)
          + f"{'s/pi2r4(30)':>12}{'shift eV':>10}{'decayed':>8}{'rmax':>7}")
    for arg in args:
        name, spec = arg.split("=", 1)
        folder, prefix, sidecar = (spec.split(":") + ["", ""])[:3]
        pp, model, cfg = load_potential(folder, prefix or "final_")
        q0 = torch.zeros(1, 1, dtype=torch.float64, requires_grad=True)
        v0 = model(q0)[0]
        slopes = [float(torch.autograd.grad(v, q0, retain_graph=True)[0]) for v in v0]
        with torch.no_grad():
            vr = converge_realspace(pp.local_form_factor, r)["v"]
        shift, decayed, rmax = "", "", ""
        if sidecar:
            side = json.loads(open(sidecar).read())
            shift = " ".join(f"{v:+.3f}" for v in side["level_shift"]["bulk_level_shift_ev"].values())
            decayed, rmax = str(side["decayed"]), f"{side['grid']['rmax_bohr']:.0f}"
        bands = Path(folder) / f"{prefix or 'final_'}bands_0.dat"
        if system is not None and bands.is_file():
            print(f"{name}: band RMSE all / w1 / w20 = {rmse_mev(bands, system)} meV")
        for i, s in enumerate(pp.species):
            print(f"{name:<14}{s:<4}{cfg.get('PPmodel_input', 'q'):<6}{slopes[i]:>11.3g}"
                  + "".join(f"{abs(float(v)):>11.2e}" for v in vr[:, i])
                  + f"{abs(slopes[i]) / (math.pi ** 2 * RADII[0] ** 4):>12.2e}{shift:>10}{decayed:>8}{rmax:>7}")


if __name__ == "__main__":
    main(sys.argv[1:])

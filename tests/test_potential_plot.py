"""final_plotPP of `sepm export`: v(q) without the diverging tail, v(r) from final_pot.dat, references."""

import numpy as np
from PIL import Image

from small_bundles import small_gaas
from sepm.cli import main
from sepm.fitting.stage import run_fit


def test_export_plot_shows_vq_and_vr(tmp_path):
    folder = small_gaas(tmp_path / "bundle", kstride=20,
                        config={"PPmodel": "Net_celu_HeInit_decayGaussian", "hiddenLayers": [6, 6],
                                "PPmodel_gaussian_std": 2.0, "max_num_epochs": 0})
    run_fit(folder, tmp_path / "fit")  # init-only: the network's own initializer
    assert main(["export", str(tmp_path / "fit"), str(tmp_path / "out"), "--nr", "301"]) == 0
    pot = np.loadtxt(tmp_path / "out" / "final_pot.dat")
    assert pot.shape == (301, 3) and np.all(np.isfinite(pot))
    width, height = Image.open(tmp_path / "out" / "final_plotPP.png").size
    assert width > 2 * height  # two panels side by side: v(q) and v(r)
    assert (tmp_path / "out" / "final_plotPP.pdf").stat().st_size > 5000

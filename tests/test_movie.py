"""Training movies: real short gradient and Monte Carlo fits on the small GaAs bundle, then GIFs."""

import re
import shutil

import numpy as np
import pytest
from PIL import Image, ImageSequence

from crystals import GAAS_PARAMS
from small_bundles import small_gaas
from sepm.analysis.movie import find_snapshots, load_frames, movie_format, pick_frames
from sepm.cli import main
from sepm.errors import InputError
from sepm.io import read_bundle


def _frames(path):
    with Image.open(path) as im:
        assert im.format == "GIF"
        return im.size, [np.asarray(f.convert("RGB"), dtype=np.int16) for f in ImageSequence.Iterator(im)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 12-epoch network fit with checkpoints at epochs 4, 8, 12 (lexical order would be 12, 4, 8)."""
    root = tmp_path_factory.mktemp("train")
    bundle = small_gaas(root, kstride=10, config={"PPmodel": "Net_celu_HeInit_decayGaussian", "hiddenLayers": [6, 6],
                                                  "PPmodel_gaussian_std": 2.0, "max_num_epochs": 12, "plotEvery": 4,
                                                  "optimizer_lr": 0.01})
    assert main(["train", str(bundle), str(root / "fit")]) == 0
    return bundle, root / "fit"


def test_training_movie_gif(trained, tmp_path):
    bundle, fit = trained
    out = tmp_path / "movie.gif"
    assert main(["movie", str(fit), str(out), "--bundle", str(bundle), "--fps", "4"]) == 0
    size, frames = _frames(out)
    assert size == (1200, 540) and len(frames) == 3  # one frame per checkpoint
    for a, b in zip(frames, frames[1:]):
        bands_panel = np.abs(a[60:480, 80:620] - b[60:480, 80:620]).sum(axis=2)
        assert (bands_panel > 30).sum() > 200  # the band lines moved, not just the title
    kind, snapshots, species = find_snapshots(fit)
    assert kind == "train" and [n for n, _ in snapshots] == [4, 8, 12] and species == ["As", "Ga"]
    frames, _, costs = load_frames(fit, snapshots, kind, 0, read_bundle(bundle))
    history = np.loadtxt(fit / "training_cost.dat")
    assert [f.cost for f in frames] == pytest.approx(history[[3, 7, 11], 2], rel=1e-9)
    assert frames[0].cost > frames[1].cost > frames[2].cost
    for f in frames:  # the RMSE of each frame is the one recorded in its epoch band table
        header = (fit / f"epoch_{f.step}_bands_0.dat").read_text().splitlines()[0]
        assert f.rmse_meV == pytest.approx(float(re.search(r"RMSE ([\d.]+) meV", header).group(1)), abs=2e-3)
    assert not np.allclose(frames[0].vq, frames[2].vq)  # the network potential changed


def test_end_state_closes_the_movie(trained, tmp_path):
    """final_ is the last frame when it comes after the last epoch snapshot (here epoch 12's files are
    removed, so final_ stands for epoch 12), and the only frame of a run without snapshots."""
    bundle, fit = trained
    copy = tmp_path / "fit"
    shutil.copytree(fit, copy, ignore=shutil.ignore_patterns("epoch_12_*"))
    kind, snapshots, _ = find_snapshots(copy)
    assert snapshots == [(4, "epoch_4_"), (8, "epoch_8_"), (12, "final_")]
    end = load_frames(copy, snapshots[-1:], kind, 0, read_bundle(bundle))[0][0]
    saved = load_frames(fit, [(12, "epoch_12_")], kind, 0, read_bundle(bundle))[0][0]
    assert np.allclose(end.bands, saved.bands, atol=1e-6) and end.cost == pytest.approx(saved.cost, rel=1e-12)
    for extra in copy.glob("epoch_*"):
        extra.unlink()
    assert find_snapshots(copy)[1] == [(12, "final_")]
    assert main(["movie", str(copy), str(tmp_path / "one.gif"), "--bundle", str(bundle)]) == 0
    assert len(_frames(tmp_path / "one.gif")[1]) == 1


def test_bands_recomputed_from_checkpoints_match_saved_tables(trained, tmp_path):
    bundle, fit = trained
    copy = shutil.copytree(fit, tmp_path / "fit")
    saved = np.loadtxt(copy / "epoch_8_bands_0.dat")[:, 2:]
    (copy / "epoch_8_bands_0.dat").unlink()
    kind, snapshots, _ = find_snapshots(copy)
    with pytest.raises(InputError, match="--bundle"):
        load_frames(copy, snapshots, kind)
    frames, _, _ = load_frames(copy, snapshots, kind, 0, read_bundle(bundle))
    assert np.abs(frames[1].bands - saved).max() < 1e-5  # table precision 1e-6 eV
    assert main(["movie", str(copy), str(tmp_path / "two.gif"), "--bundle", str(bundle), "--max-frames", "2"]) == 0
    assert len(_frames(tmp_path / "two.gif")[1]) == 2


def test_monte_carlo_movie(tmp_path, capsys):
    start = GAAS_PARAMS.copy()
    start[:, :4] *= np.array([1.03, 0.97, 1.04, 0.96])
    bundle = small_gaas(tmp_path, kstride=10, params={"As": start[0], "Ga": start[1]},
                        config={"mc_bool": 1, "mc_percentage": 0.5, "mc_iter": 6, "seed": 2,
                                "trainable_params": ["a0", "a1", "a2", "a3"]})
    (bundle / "mcOpts1.par").write_text("betas = 100 10\nstepsAtTemp = 2 2\ntotalIter = 6\nwritePerIter = 2\n")
    fit = tmp_path / "mc"
    assert main(["mc", str(bundle), str(fit)]) == 0
    capsys.readouterr()
    assert main(["movie", str(fit), str(tmp_path / "no.gif")]) == 2  # MC snapshots have no band tables
    err = capsys.readouterr().err
    assert f"{fit / 'iter_2_bands_0.dat'}: missing" in err and "--bundle" in err and not (tmp_path / "no.gif").exists()
    out = tmp_path / "mc.gif"
    assert main(["movie", str(fit), str(out), "--bundle", str(bundle)]) == 0
    size, frames = _frames(out)
    assert size == (1200, 540) and len(frames) == 3
    assert all(np.abs(a - b).sum() > 0 for a, b in zip(frames, frames[1:]))
    kind, snapshots, _ = find_snapshots(fit)
    assert kind == "mc" and [n for n, _ in snapshots] == [2, 4, 6]
    data, _, _ = load_frames(fit, snapshots, kind, 0, read_bundle(bundle))
    trace = np.loadtxt(fit / "mc_cost.dat")
    assert [f.cost for f in data] == pytest.approx(trace[[1, 3, 5], 5], rel=1e-9)  # best_cost column
    assert data[0].cost >= data[1].cost >= data[2].cost and data[2].cost < trace[0, 5]
    best = np.loadtxt(fit / "best_bands_0.dat")[:, 2:]  # the final snapshot is the best state
    assert np.abs(data[-1].bands - best).max() < 1e-5


def test_format_choice_and_mp4_without_ffmpeg(trained, tmp_path, monkeypatch, capsys):
    _, fit = trained
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert main(["movie", str(fit), str(tmp_path / "m.mp4")]) == 2
    err = capsys.readouterr().err
    assert "m.mp4: MP4 needs ffmpeg" in err and "m.gif" in err and not (tmp_path / "m.mp4").exists()
    assert main(["movie", str(fit), str(tmp_path / "m.mp4"), "--format", "gif", "--max-frames", "1"]) == 0
    assert len(_frames(tmp_path / "m.mp4")[1]) == 1
    with pytest.raises(InputError, match=".gif or .mp4"):
        movie_format(tmp_path / "m.avi")
    assert pick_frames(list(range(10)), 4) == [0, 3, 6, 9] and pick_frames([1, 2], 5) == [1, 2]


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not on PATH")
def test_mp4_with_ffmpeg(trained, tmp_path):
    _, fit = trained
    assert main(["movie", str(fit), str(tmp_path / "m.mp4")]) == 0
    assert (tmp_path / "m.mp4").read_bytes()[4:8] == b"ftyp"

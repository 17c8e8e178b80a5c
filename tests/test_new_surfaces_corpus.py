"""Bad-input corpus of the newer surfaces (issue 20): ``sepm dot``, ``dot-series``, ``export``,
``import-realspace`` and the output folders of the writing commands. Every case runs ``sepm`` in-process
and must be refused before any compute: non-zero exit, no traceback, one error line naming the option or
the file (and line, where the defect has one). The ``stale outputs`` cases rerun a command into a finished
folder and stop it right after its checks (as if killed): no previous completion record may remain.

``python tests/test_new_surfaces_corpus.py`` prints the outcome of every case (clean / no line / traceback /
silent success / stale outputs) without asserting: the before/after counts of issue 20.
"""

from __future__ import annotations

import errno
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from small_bundles import small_gaas  # noqa: E402
from threads import single_thread  # noqa: E402,F401 (autouse)

RESOURCES = Path(__file__).resolve().parents[1] / "resources"
LIBRARY = RESOURCES / "potentials-realspace"


#: The text of a previous finished run's files in the ``stale outputs`` cases.
PREVIOUS = "from a previous finished run\n"


class Killed(Exception):
    """Raised by a patched compute step: the run stops there, as if killed."""


@dataclass
class Work:
    """The files of one case: a small GaAs bundle, a potential library, a finished fit folder, OUT."""

    root: Path
    bundle: Path
    pots: Path
    fit: Path
    out: Path


def workspace(tmp: Path) -> Work:
    import numpy as np
    import torch

    from sepm.fitting.potential_files import save_potential
    from sepm.io import read_bundle
    from sepm.models import ZeroFunction

    bundle = small_gaas(tmp)
    pots = tmp / "pots"
    pots.mkdir()
    for s in ("Ga", "As"):
        shutil.copy(LIBRARY / f"pot{s}.par", pots)
    b = read_bundle(bundle)
    params = torch.as_tensor(np.stack([b.params[s] for s in b.species]))
    save_potential(tmp / "fit", "final_", ZeroFunction(len(b.species)), params, b.species, {"PPmodel": "ZeroFunction"})
    return Work(tmp, bundle, pots, tmp / "fit", tmp / "out")


@dataclass
class Case:
    name: str
    kind: str
    setup: Callable  # (Work) -> (argv, where, fragment); where: an option, or (path, line or None)
    patch: Callable | None = None  # (monkeypatch) -> None: simulate a disk or a kill
    stale: tuple = ()  # files of a previous finished run put in OUT first; none may remain


def dot(*extra, radius=("10",)):
    return lambda w: ["dot", str(w.bundle), str(w.out), "--pot-dir", str(w.pots), "--radius", *radius, *extra]


def option(argv_of, where, fragment):
    return lambda w: (argv_of(w), where, fragment)


def set_pot_line(symbol, line, text, fragment):
    def setup(w):
        path = w.pots / f"pot{symbol}.par"
        lines = path.read_text().splitlines()
        lines[line - 1] = text
        path.write_text("\n".join(lines) + "\n")
        return dot()(w), (path, line), fragment
    return setup


def records(kind):
    def setup(w):
        path = w.root / "R8" / "dot.json"
        path.parent.mkdir()
        if kind == "truncated":
            path.write_text('{"radius_bohr": 8.0,\n "n_core": 17,\n "bulk": {"vbm"')
        elif kind == "foreign":
            path.write_text(json.dumps({"radius_bohr": 8.0, "species": ["As", "Ga"]}))
        line, fragment = {"missing": (None, "missing"), "truncated": (3, "damaged JSON"),
                          "foreign": (None, "'n_core' is missing")}[kind]
        return ["dot-series", str(w.out / "gap"), str(path)], (path, line), fragment
    return setup


def model_config(text, line, fragment):
    def setup(w):
        path = w.fit / "model_config.json"
        path.write_text(text)
        return ["export", str(w.fit), str(w.out)], (path, line), fragment
    return setup


def export(*extra):
    return lambda w: ["export", str(w.fit), str(w.out), *extra]


def out_is_file(argv_of):
    def setup(w):
        w.out.write_text("a plain file\n")
        return argv_of(w), (w.out, None), "is a file"
    return setup


def bands(w):
    return ["bands", str(w.bundle), str(w.out)]


def train(w):
    return ["train", str(w.bundle), str(w.out)]


def couplings(w):
    return ["couplings", str(w.bundle), str(w.out)]


def kill(target):
    """A patch: the compute step ``target`` (a dotted name) raises Killed."""
    def patch(monkeypatch):
        def stop(*args, **kwargs):
            raise Killed(target)
        monkeypatch.setattr(target, stop)
    return patch


def full_disk(monkeypatch):
    import sepm.output

    real = sepm.output.os.replace

    def fail(src, dst):  # the rename of a finished temporary file: the disk filled while writing it
        if str(dst).endswith(".dat"):
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        real(src, dst)

    monkeypatch.setattr(sepm.output.os, "replace", fail)


def read_only(monkeypatch):
    import tempfile

    def fail(*args, dir=None, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(dir))

    monkeypatch.setattr(tempfile, "mkstemp", fail)


#: The smallest Monte Carlo settings that pass the checks.
MC_SETTINGS = [a for kv in ("mc_bool=1", "max_num_epochs=0", "mc_percentage=0.5", "mc_beta=100", "mc_iter=1")
               for a in ("--set", kv)]


def rerun(argv_of):
    """A stale-outputs case: only the command line (what it must leave is checked, not what it says)."""
    return lambda w: (argv_of(w), None, None)


CASES = [
    # dot options
    Case("dot-radius-nan", "dot options", option(dot(radius=("nan",)), "--radius", "finite")),
    Case("dot-radius-0", "dot options", option(dot(radius=("0",)), "--radius", "> 0")),
    Case("dot-spacing-nan", "dot options", option(dot("--spacing", "nan"), "--spacing", "finite")),
    Case("dot-spacing--1", "dot options", option(dot("--spacing", "-1"), "--spacing", "> 0")),
    Case("dot-vacuum-inf", "dot options", option(dot("--vacuum", "inf"), "--vacuum", "finite")),
    Case("dot-center-atom-7", "dot options", option(dot("--center-atom", "7"), "--center-atom", "2 atoms")),
    Case("dot-center-atom--1", "dot options", option(dot("--center-atom", "-1"), "--center-atom", ">= 0")),
    Case("dot-center-nan", "dot options", option(dot("--center", "0", "nan", "0"), "--center", "finite")),
    Case("dot-min-bonds-4", "dot options", option(dot("--min-bonds", "4"), "--min-bonds", "<= 3")),
    Case("dot-cation-fraction-1.5", "dot options", option(dot("--cation-fraction", "1.5"), "--cation-fraction", "< 1")),
    Case("dot-anion-fraction-nan", "dot options", option(dot("--anion-fraction", "nan"), "--anion-fraction",
                                                         "finite")),
    Case("dot-ligand-unknown", "dot options", option(dot("--cation-ligand", "P9"), "--cation-ligand", "P9")),
    Case("dot-tol-0", "dot options", option(dot("--tol", "0"), "--tol", "> 0")),
    Case("dot-system-3", "dot options", lambda w: (dot("--system", "3")(w), (w.bundle, None), "--system 3")),
    Case("dot-perovskite", "dot options", lambda w: (["dot", str(RESOURCES / "bundles" / "CsPbI3_soc"), str(w.out),
                                                      "--pot-dir", str(w.pots), "--radius", "10"],
                                                     (RESOURCES / "bundles" / "CsPbI3_soc" / "system_0.par", None),
                                                     "III-V and II-VI")),
    Case("dot-device-gpu", "dot options", option(dot("--device", "gpu"), "--device", "not a torch device")),
    Case("dot-n-valence-0", "dot options", option(dot("--n-valence", "0"), "--n-valence", ">= 1")),
    # dot size: refused from the estimate, before anything is built
    Case("dot-radius-3", "dot size", option(dot(radius=("3",)), "--radius", "leaves no atom")),
    Case("dot-radius-10000", "dot size", option(dot(radius=("10000",)), "--radius", "GiB")),
    Case("dot-radius-300", "dot size", option(dot(radius=("300",)), "--radius", "GiB")),
    Case("dot-spacing-1e-4", "dot size", option(dot("--spacing", "1e-4"), "--radius", "--spacing 0.0001")),
    Case("dot-series-one-too-large", "dot size", option(dot("--memory-limit-gb", "2", radius=("10", "60")), "--radius",
                                                        "60 with")),
    Case("dot-memory-limit", "dot size", option(dot("--memory-limit-gb", "0.001"), "--radius",
                                                "--memory-limit-gb 0.001")),
    # potential files of the dot
    Case("pot-1e300", "potential files", set_pot_line("Ga", 5, "0.1005310 1e300", "1e+300")),
    Case("pot-r-1e300", "potential files", set_pot_line("As", 3, "1e300 -0.5", "1e+300")),
    Case("pot-text", "potential files", set_pot_line("Ga", 2, "0.0251327 abc", "not a number")),
    Case("pot-header", "potential files", set_pot_line("As", 1, "# r v", "header")),
    Case("pot-missing", "potential files", lambda w: ((w.pots / "potAs.par").unlink(), dot()(w))[1:] +
         ((w.pots / "potAs.par", None), "missing")),
    # dot-series records
    Case("series-missing", "records", records("missing")),
    Case("series-truncated", "records", records("truncated")),
    Case("series-foreign", "records", records("foreign")),
    # export
    Case("export-config-damaged", "export", model_config('{"species": ["As", "Ga"],\n "PPmodel": ', 2,
                                                         "damaged JSON")),
    Case("export-config-list", "export", model_config("[1, 2]\n", None, "no JSON object")),
    Case("export-config-no-species", "export", model_config('{"PPmodel": "ZeroFunction"}\n', None,
                                                            "'species' is missing")),
    Case("export-config-unknown-model", "export", model_config('{"species": ["As", "Ga"], "PPmodel": "NoSuchNet"}',
                                                               None, "NoSuchNet")),
    Case("export-no-fit", "export", lambda w: (["export", str(w.root / "nofit"), str(w.out)],
                                               (w.root / "nofit" / "model_config.json", None), "missing")),
    Case("export-nr-0", "export", option(export("--nr", "0"), "--nr", ">= 2")),
    Case("export-rmax--5", "export", option(export("--rmax", "-5"), "--rmax", "> 0")),
    Case("export-rmax-nan", "export", option(export("--rmax", "nan"), "--rmax", "finite")),
    Case("export-qmax-table-0", "export", option(export("--qmax-table", "0"), "--qmax-table", "> 0")),
    Case("export-nc-rows-9000", "export", option(export("--nc-rows", "9000"), "--nc-rows", "<= 8192")),
    Case("export-nc-dr-nan", "export", option(export("--nc-dr", "nan"), "--nc-dr", "finite")),
    Case("import-nq-1", "export", option(lambda w: ["import-realspace", str(w.pots), str(w.out / "t.par"), "--species",
                                                    "Ga", "--nq", "1"], "--nq", ">= 2")),
    Case("import-species-missing", "export", lambda w: (["import-realspace", str(w.pots), str(w.out / "t.par"),
                                                         "--species", "In"], (w.pots / "potIn.par", None), "missing")),
    # inputs of the fitting stages named on the command line
    Case("train-init-optimizer-missing", "fit inputs",
         lambda w: (train(w) + ["--init-optimizer", str(w.root / "x.pth")], (w.root / "x.pth", None),
                    "file not found")),
    Case("mc-init-from-missing", "fit inputs", lambda w: (["mc", str(w.bundle), str(w.out), "--init-from",
                                                           str(w.root / "nofit"), *MC_SETTINGS],
                                                          (w.root / "nofit", None), "folder not found")),
    # output folders
    Case("out-file-bands", "output folders", out_is_file(bands)),
    Case("out-file-train", "output folders", out_is_file(train)),
    Case("out-file-dot", "output folders", out_is_file(dot())),
    Case("out-file-export", "output folders", out_is_file(export())),
    Case("out-file-couplings", "output folders", out_is_file(couplings)),
    Case("out-parent-file", "output folders", lambda w: (w.out.write_text("x\n"),
                                                         ["bands", str(w.bundle), str(w.out / "sub")])[1:] +
         ((w.out, None), "a parent is a file")),
    Case("series-stem-parent-file", "output folders", lambda w: (w.out.write_text("x\n"),
                                                                 ["dot-series", str(w.out / "gap"), "x.json"])[1:] +
         ((w.out, None), "STEM")),
    Case("out-read-only", "output folders", lambda w: (bands(w), (w.out, None), "Read-only"), patch=read_only),
    Case("out-disk-full-export", "output folders", lambda w: (export()(w), (w.out / "final_qSpace_pot.dat", None),
                                                              "No space left"), patch=full_disk),
    # a finished folder rerun and stopped right after its checks: no previous completion record remains
    Case("stale-train", "stale outputs", rerun(train), patch=kill("sepm.fitting.runner.run_prior"),
         stale=("fit_summary.json", "final_GaParams.par", "final_AsParams.par")),
    Case("stale-prior", "stale outputs", rerun(lambda w: ["prior", str(w.bundle), str(w.out)]),
         patch=kill("sepm.fitting.stage.run_prior"), stale=("init_record.json",)),
    Case("stale-mc", "stale outputs", rerun(lambda w: ["mc", str(w.bundle), str(w.out), *MC_SETTINGS]),
         patch=kill("sepm.fitting.runner.run_prior"), stale=("mc_summary.json", "best_GaParams.par")),
    Case("stale-dot", "stale outputs", rerun(dot()), patch=kill("sepm.nanocrystal.dot.bulk_edges"),
         stale=("dot.json", "levels.dat", "homo.cube", "lumo.cube", "conf.par")),
    Case("stale-export", "stale outputs", rerun(lambda w: export("--nanocrystal", str(w.out))(w)),
         patch=kill("sepm.export.export_realspace"),
         stale=("final_pot.dat", "final_qSpace_pot.dat", "final_plotPP.png", "nanocrystal_potentials.json")),
]


def run_case(case: Case, tmp_path: Path, stderr, monkeypatch) -> tuple[str, str]:
    """(outcome, stderr) of one case: 'clean', 'no line', 'traceback', 'silent success' or 'stale outputs'.

    ``stderr()`` returns what was written to stderr so far."""
    from sepm.cli import main

    w = workspace(tmp_path)
    argv, where, fragment = case.setup(w)
    for name in case.stale:
        w.out.mkdir(exist_ok=True)
        (w.out / name).write_text(PREVIOUS)
    if case.patch:
        case.patch(monkeypatch)
    try:
        rc = main(argv)
    except SystemExit as exc:
        rc = exc.code
    except Killed:
        left = [n for n in case.stale if (w.out / n).is_file() and (w.out / n).read_text() == PREVIOUS]
        return ("stale outputs", f"left: {left}") if left else ("clean", "stopped after the checks")
    except Exception as exc:  # noqa: BLE001 - the corpus counts escapes as tracebacks
        return "traceback", f"{stderr()}{type(exc).__name__}: {exc}"
    text = stderr()
    if case.stale:
        return "no line", f"the run did not reach its compute (rc {rc}): {text}"
    if not rc:
        return "silent success", text
    if "Traceback" in text:
        return "traceback", text
    errors = [t for t in text.splitlines() if " ERROR " in t or ": error: " in t]  # logged, or argparse's
    if len(errors) != 1:
        return "no line", text
    if isinstance(where, str):  # an option: argparse's "argument --x:" or a Defect on the option
        marks = (f"argument {where}", f"bad input: {where}")
    else:
        path, line = where
        marks = (f"{path}:{line}: " if line else f"{path}: ",)
    located = any(m in errors[0] for m in marks)
    return ("clean" if located and fragment in errors[0] else "no line"), text


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_on_new_surfaces_is_refused_in_one_line(case, tmp_path, capsys, monkeypatch):
    outcome, text = run_case(case, tmp_path, lambda: capsys.readouterr().err, monkeypatch)
    assert outcome == "clean", text


def test_the_dot_estimate_counts_atoms_and_grid_like_the_builder_and_the_grid(tmp_path):
    """Independent counts: the sphere of a 10 Bohr dot holds 4/3 pi R^3 / (a^3 / 8) atoms of zinc blende on
    average (the builder's exact count before removal is within 25 %), and the grid's points per axis are
    within 20 % of those of DotGrid.around for the built dot."""
    import math

    import numpy as np

    from sepm.crystal import Crystal
    from sepm.io import read_bundle
    from sepm.nanocrystal.builder import build_nanocrystal
    from sepm.nanocrystal.estimate import estimate_dot
    from sepm.nanocrystal.grid import DotGrid, centred

    system = read_bundle(small_gaas(tmp_path)).systems[0]
    crystal = Crystal.from_system(system, species=["As", "Ga"])
    a = 10.683
    est = estimate_dot(crystal, 10.0, 0.8, 5.0, 4, a * math.sqrt(3) / 4)
    assert est.atoms == pytest.approx(8 * 4 / 3 * math.pi * 1000 / a**3, rel=1e-9)
    nc = build_nanocrystal(crystal, 10.0)
    assert abs(nc.n_core + nc.removed - est.atoms) / est.atoms < 0.25
    grid = DotGrid.around(centred(nc.positions), 0.8, 5.0)
    assert all(0.8 * n_true <= n <= 1.2 * n_true for n, n_true in zip(est.grid_shape, grid.shape))
    assert est.solver_bytes == (40 * 8 + 6) * np.prod(est.grid_shape) * 8


def test_the_solve_time_estimate_goes_through_the_measured_application_counts():
    """1.5 x applications per state x states x one application, the applications per state the measured ones
    (199 at 123 core atoms, 261 at 979), a power law between and beyond, never fewer than 199."""
    from sepm.nanocrystal.estimate import solve_seconds

    assert solve_seconds(123, 8, 1e-3) == pytest.approx(1.5 * 199 * 8 * 1e-3, rel=1e-12)
    assert solve_seconds(979, 2, 0.5) == pytest.approx(1.5 * 261 * 2 * 0.5, rel=1e-12)
    assert 199 < solve_seconds(513, 1, 1 / 1.5) < 261 < solve_seconds(2000, 1, 1 / 1.5)
    assert solve_seconds(29, 1, 1 / 1.5) == pytest.approx(199, rel=1e-12)  # small dots: the smallest measured


def snakemake_dry_run(tmp_path, *targets, config: str | None = None) -> tuple[int, str]:
    import subprocess

    from pipeline_copy import copy_pipeline

    work = copy_pipeline(tmp_path / "work")
    if config is not None:
        (work / "config" / "config.yaml").write_text(config)
    run = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1", "-n", *targets], cwd=work,
                         capture_output=True, text=True, timeout=300)
    return run.returncode, run.stdout + run.stderr


def test_pipeline_target_of_an_unknown_material_names_the_config_key(tmp_path):
    rc, text = snakemake_dry_run(tmp_path, "results/NoSuch/final_pot.dat")
    assert rc != 0
    assert "config materials: no material 'NoSuch' (target results/NoSuch/final_pot.dat; configured: GaAs)" in text
    assert "KeyError" not in text and "Traceback" not in text and "InputFunctionException" not in text


def test_pipeline_config_yaml_error_names_file_and_line(tmp_path):
    rc, text = snakemake_dry_run(tmp_path, config="materials:\n  GaAs:\n    bundle: [resources/bundles/GaAs\n"
                                 "    optimize: []\n")
    assert rc != 0
    assert "config/config.yaml:4: not valid YAML" in text, text
    assert "not valid JSON or YAML" not in text


if __name__ == "__main__":  # the corpus table
    import contextlib
    import io
    import signal
    import tempfile
    from collections import Counter

    def timeout(signum, frame):
        raise TimeoutError("ran past 60 s")

    signal.signal(signal.SIGALRM, timeout)
    counts: dict[str, Counter] = {}
    for case in CASES:
        buffer = io.StringIO()
        with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stderr(buffer), pytest.MonkeyPatch.context() \
                as mp:
            signal.alarm(60)
            try:
                outcome, text = run_case(case, Path(tmp), buffer.getvalue, mp)
            except TimeoutError:
                outcome, text = "hang", "ran past 60 s"
            except MemoryError:
                outcome, text = "traceback", "MemoryError"
            signal.alarm(0)
        counts.setdefault(case.kind, Counter())[outcome] += 1
        last = [t for t in text.splitlines() if t.strip()][-1:] or [""]
        print(f"{case.name:28s} {outcome:15s} {last[0][:150]}", flush=True)
    for kind, c in counts.items():
        print(f"{kind:16s} " + ", ".join(f"{k}: {v}" for k, v in sorted(c.items())))

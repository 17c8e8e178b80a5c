"""Bad-input corpus (issue 11): each case mutates a copy of the small GaAs bundle, runs the ``sepm`` command
in-process and must get a refusal before any long compute: non-zero exit, no traceback, and one error line
that names the file (and line, where the defect has one).

``python tests/test_bad_input_corpus.py`` prints the outcome of every case (clean / no-line / traceback /
silent success) without asserting: the before/after counts of issue 11.
"""

from __future__ import annotations

import os
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sepm.errors import InputError  # noqa: E402
from small_bundles import small_gaas  # noqa: E402

NETWORK = {"PPmodel": "Net_celu_HeInit_decayGaussian", "hiddenLayers": [4, 4], "PPmodel_decay_rate": 0.5,
           "PPmodel_decay_center": 6.0, "PPmodel_gaussian_std": 1.0}


@dataclass
class Case:
    name: str
    kind: str  # the defect class of issue 11
    mutate: Callable  # (bundle, outdir) -> (file name, line or None, message fragment)
    args: tuple = ()  # extra arguments; {bundle} stands for the bundle folder
    config: dict | None = None  # NN_config.par keys besides nSystem and PPmodel = ZeroFunction
    command: str = "train"


def line_of(path: Path, start: str) -> int:
    return next(n for n, text in enumerate(path.read_text().splitlines(), 1) if text.strip().startswith(start))


def set_line(path: Path, line: int, text: str):
    lines = path.read_text().splitlines()
    lines[line - 1] = text
    path.write_text("\n".join(lines) + "\n")


def append(path: Path, text: str):
    path.write_text(path.read_text().rstrip("\n") + "\n" + text + "\n")


def missing_reference(b, out):
    (b / "expBandStruct_0.par").unlink()
    return "expBandStruct_0.par", None, "reference band"


def dangling_reference(b, out):
    (b / "expBandStruct_0.par").unlink()
    (b / "expBandStruct_0.par").symlink_to(b / "gone.par")
    return "expBandStruct_0.par", None, "gone.par"


def input_key(key, value, fragment):
    def mutate(b, out):
        path = b / "input_0.par"
        line = line_of(path, key)
        set_line(path, line, f"{key} = {value}")
        return "input_0.par", line, fragment
    return mutate


def tiny_basis(b, out):
    path = b / "input_0.par"
    set_line(path, line_of(path, "maxKE"), "maxKE = 0.2")  # one plane wave for 16 bands
    return "input_0.par", line_of(path, "nBands"), "basis of only 1 states"


def extra_atom(text, first):
    def mutate(b, out):
        path = b / "system_0.par"
        append(path, text)
        return "system_0.par", len(path.read_text().splitlines()), f"line {line_of(path, first)}"
    return mutate


def param(sym, index, value, fragment):
    def mutate(b, out):
        path = b / f"init_{sym}Params.par"
        set_line(path, index + 1, value)
        return path.name, index + 1, fragment
    return mutate


def zunger_pole(b, out):
    path = b / "init_GaParams.par"
    set_line(path, 3, "1.0")  # a2 = 1 and a3 = 0: a2 exp(a3 q^2) - 1 = 0 at every q
    set_line(path, 4, "0.0")
    return path.name, 3, "denominator"


def huge_k(b, out):
    path = b / "kpoints_0.par"
    set_line(path, 1, "1e200 0.5 0.5 1.0")
    return path.name, 1, "1e+200"


def kpoint_file(b, out):
    (b / "path.par").write_text("0 0 0 1\n0.5 0.5 1e200 1\n")
    return "path.par", 2, "k3 = 1e+200"


def zero_cell(b, out):
    path = b / "system_0.par"
    line = line_of(path, "cell")
    for row in range(line + 1, line + 4):
        set_line(path, row, "0.0 0.0 0.0")
    return path.name, line, "singular cell"


def override(fragment):
    def mutate(b, out):
        return "--set", None, fragment
    return mutate


def network_state(hidden=(4, 4)):
    from sepm.models import build_model

    model = build_model(NETWORK["PPmodel"], list(hidden), 2, NETWORK, seed=0)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def checkpoint_file(kind, name="init_PPmodel.pth", in_out=False, todo=""):
    def mutate(b, out):
        import torch

        path = (out if in_out else b) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "garbage":
            path.write_bytes(random.Random(0).randbytes(3000))  # fixed bytes: torch's error depends on them
        elif kind == "truncated":
            torch.save(network_state(), path)
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        elif kind == "other architecture":
            torch.save(network_state((8, 8, 8)), path)
        elif kind == "pickle":  # a checkpoint that would call a function on load (a harmless one)
            torch.save({"weight": Payload()}, path)
        fragment = {"garbage": "not a torch.save file", "truncated": "truncated", "pickle": "posix.getpid",
                    "other architecture": "does not fit"}[kind]
        return path, None, todo or fragment
    return mutate


class Payload:
    def __reduce__(self):
        return (os.getpid, ())


def nn_config_key(key, value, fragment):
    def mutate(b, out):
        path = b / "NN_config.par"
        line = line_of(path, key)
        set_line(path, line, f"{key} = {value}")
        return "NN_config.par", line, fragment
    return mutate


def non_utf8(b, out):
    path = b / "input_0.par"
    path.write_bytes(b"maxKE = 3.0  # cutoff \xe9\nnBands = 16\n")
    return "input_0.par", 1, "UTF-8"


CASES = [
    Case("reference-missing", "reference", missing_reference),
    Case("reference-dangling", "reference", dangling_reference),
    Case("mc-reference-missing", "reference", missing_reference, command="mc",
         config={"mc_bool": 1, "max_num_epochs": 0, "mc_iter": 1, "mc_percentage": 0.5, "mc_beta": 100}),
    Case("maxKE-1e6", "basis size", input_key("maxKE", "1e6", "memory_limit_GB")),
    Case("maxKE-300", "basis size", input_key("maxKE", "300", "memory_limit_GB"), config={"memory_limit_GB": 8}),
    Case("nBands-over-basis", "basis size", tiny_basis),
    Case("atom-duplicate", "atoms", extra_atom("Ga 0.125 0.125 0.125", "Ga")),
    Case("atom-lattice-image", "atoms", extra_atom("As 0.875 0.875 -0.125", "As")),
    Case("zunger-pole", "values", zunger_pole),
    Case("a0-1e300", "values", param("Ga", 0, "1e300", "a0")),
    Case("k-1e200", "values", huge_k),
    Case("cell-all-zero", "values", zero_cell),
    Case("bands-kpoints-1e200", "values", kpoint_file, ("--kpoints", "{bundle}/path.par"), command="bands"),
    Case("set-hiddenLayers-0", "overrides", override("hiddenLayers"), ("--set", "hiddenLayers=0"), NETWORK),
    Case("set-max_num_epochs--5", "overrides", override("max_num_epochs"), ("--set", "max_num_epochs=-5")),
    Case("set-optimizer_lr--1", "overrides", override("optimizer_lr"), ("--set", "optimizer_lr=-1")),
    Case("model-truncated", "checkpoints", checkpoint_file("truncated"), config=NETWORK),
    Case("model-garbage", "checkpoints", checkpoint_file("garbage"), config=NETWORK),
    Case("model-other-architecture", "checkpoints", checkpoint_file("other architecture"), config=NETWORK),
    Case("model-pickle", "checkpoints", checkpoint_file("pickle"), config=NETWORK),
    Case("train-state-garbage", "checkpoints",
         checkpoint_file("garbage", "train_state.pth", in_out=True, todo="delete it")),
    Case("PPmodel-unknown", "lines", nn_config_key("PPmodel", "NoSuchNet", "NoSuchNet")),
    Case("nSystem-too-large", "lines", nn_config_key("nSystem", "3", "nSystem")),
    Case("non-UTF-8-byte", "lines", non_utf8),
]


def run_case(case: Case, tmp_path: Path, stderr) -> tuple[str, str]:
    """(outcome, stderr) of one case: 'clean', 'no line', 'traceback' or 'silent success'.

    ``stderr()`` returns what was written to stderr so far."""
    from sepm.cli import main

    config = {"max_num_epochs": 1, "optimizer_lr": 0.01, **(case.config or {})}
    bundle = small_gaas(tmp_path, config=config)
    out = tmp_path / "out"
    name, line, fragment = case.mutate(bundle, out)
    try:
        rc = main([case.command, str(bundle), str(out), *(a.format(bundle=bundle) for a in case.args)])
    except SystemExit as exc:
        rc = exc.code
    except Exception as exc:  # noqa: BLE001 - the corpus counts escapes as tracebacks
        return "traceback", f"{stderr()}{type(exc).__name__}: {exc}"
    text = stderr()
    if not rc:
        return "silent success", text
    errors = [t for t in text.splitlines() if " ERROR " in t or t.startswith("error")]
    where = name if name == "--set" else (f"{bundle / name}:{line}: " if line else f"{bundle / name}: ")
    if "Traceback" in text:
        return "traceback", text
    if len(errors) == 1 and where in errors[0] and fragment in errors[0]:
        return "clean", text
    return "no line", text


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_refused_in_one_line(case, tmp_path, capsys):
    outcome, text = run_case(case, tmp_path, lambda: capsys.readouterr().err)
    assert outcome == "clean", text
    if case.kind == "checkpoints":
        assert "weights_only=False" not in text and "unsafe" not in text.lower()
    if case.name.startswith("set-"):
        assert "NN_config.par" not in [t for t in text.splitlines() if " ERROR " in t][0]


def test_failed_eigensolve_names_system_kpoint_and_parameters(tmp_path):
    """Input that passes every check can still break the solver (here a NaN coefficient set after reading):
    the error says which system, k-point and parameters, and is still a LinAlgError."""
    import torch

    from sepm.bands import band_energies, system_hamiltonian
    from sepm.errors import ComputeFailure
    from sepm.io import read_bundle
    from sepm.pseudopotential import Pseudopotential

    bundle = read_bundle(small_gaas(tmp_path))
    pp = Pseudopotential.from_bundle(bundle)
    pp.params = pp.params.clone()
    pp.params[1, 0] = float("nan")  # Ga a0 (species are sorted: As, Ga)
    spec = bundle.systems[0]
    with pytest.raises(ComputeFailure) as info:
        band_energies(system_hamiltonian(spec, pp), spec.kpoints[2:], 16, label="system 0 (GaAs)", k_offset=2)
    assert isinstance(info.value, torch.linalg.LinAlgError)
    k = " ".join(f"{v:g}" for v in spec.kpoints[2])
    assert str(info.value).startswith(f"system 0 (GaAs): eigensolver failed at k-point 2 (k = {k}, fractional): "
                                      "the Hamiltonian has non-finite entries; parameters a0..a8 As: 25.8094")
    assert "Ga: nan 2.29528" in str(info.value)


def test_a_system_without_reference_is_evaluated_when_another_has_one(tmp_path, caplog):
    import shutil

    from sepm.fitting.stage import FitSetup

    bundle = tmp_path / "InGaAsP"
    shutil.copytree(Path(__file__).resolve().parents[1] / "resources" / "bundles" / "InGaAsP", bundle)
    (bundle / "expBandStruct_1.par").unlink()
    setup = FitSetup(bundle, ["PPmodel=ZeroFunction"])
    with caplog.at_level("INFO", logger="sepm"):
        setup.require_reference("training")
    assert "notice: expBandStruct_1.par not found: that system is evaluated but not fitted" in caplog.text
    (bundle / "expBandStruct_2.par").unlink()
    (bundle / "expBandStruct_2.par").symlink_to(bundle / "moved.par")
    with pytest.raises(InputError, match=f"^{bundle}/expBandStruct_2.par: dangling symlink to {bundle}/moved.par; "
                       "training fits to the reference bands in this file$"):
        setup.require_reference("training")


def snakemake_dry_run(tmp_path, config: str):
    import subprocess

    from pipeline_copy import copy_pipeline

    work = copy_pipeline(tmp_path / "work")
    (work / "config" / "config.yaml").write_text(config)
    run = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", "-n", "all"], cwd=work,
                         capture_output=True, text=True, timeout=300)
    return run.returncode, run.stdout + run.stderr


PIPELINE_CONFIG = """materials:
  GaAs:
    bundle: resources/bundles/GaAs
    optimize:
      - method: gradient
        set: {max_num_epochs: 3}
"""


def test_pipeline_config_without_resources_block_takes_the_schema_defaults(tmp_path):
    rc, text = snakemake_dry_run(tmp_path, PIPELINE_CONFIG)
    assert rc == 0, text
    assert "KeyError" not in text and "prior" in text and "optimize" in text


def test_pipeline_config_schema_error_is_one_line_with_the_key_path(tmp_path):
    rc, text = snakemake_dry_run(tmp_path, PIPELINE_CONFIG + "resources:\n  prior: {threads: 0}\n")
    assert rc != 0
    assert "config resources.prior.threads: 0 is less than the minimum of 1" in text.splitlines(), text
    assert "Traceback" not in text and "Failed validating" not in text


if __name__ == "__main__":  # the corpus table
    import contextlib
    import io
    import tempfile
    from collections import Counter

    counts: dict[str, Counter] = {}
    for case in CASES:
        buffer = io.StringIO()
        with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stderr(buffer):
            outcome, text = run_case(case, Path(tmp), buffer.getvalue)
        counts.setdefault(case.kind, Counter())[outcome] += 1
        last = [t for t in text.splitlines() if t.strip()][-1:] or [""]
        print(f"{case.name:28s} {outcome:15s} {last[0][:150]}")
    for kind, c in counts.items():
        print(f"{kind:12s} " + ", ".join(f"{k}: {v}" for k, v in sorted(c.items())))

# Helpers shared by all rules: bundle lookup and the per-material output lists.

import re
from pathlib import Path

SYSTEM_FILE = re.compile(r"^system_(\d+)\.par$")
BAND_EXTS = ["dat", "png", "pdf"]


def bundle_dir(material):
    """Input bundle folder of a configured material."""
    return Path(config["materials"][material]["bundle"])


def system_indices(material):
    """Sorted system indices X of the bundle, from its system_X.par files."""
    folder = bundle_dir(material)
    if not folder.is_dir():
        raise WorkflowError(
            f"materials.{material}.bundle: {folder} is not a folder (config)"
        )
    found = sorted(
        int(m.group(1))
        for m in (SYSTEM_FILE.match(p.name) for p in folder.iterdir())
        if m
    )
    if not found:
        raise WorkflowError(f"{folder}: no system_X.par file in the bundle")
    return found


def bundle_files(material):
    """Every file of a material's bundle, so that editing one reruns its jobs."""
    system_indices(material)  # fails early on a missing or empty bundle
    return sorted(str(p) for p in bundle_dir(material).iterdir() if p.is_file())


def bands_outputs(material):
    """Band tables and plots of every system of a material."""
    return [
        f"results/{material}/bands/bands_{i}.{ext}"
        for i in system_indices(material)
        for ext in BAND_EXTS
    ]


def all_targets():
    """Default targets: the bands of every configured material."""
    return [f for material in config["materials"] for f in bands_outputs(material)]

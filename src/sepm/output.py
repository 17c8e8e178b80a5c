"""Writing outputs safely: every file is written under a temporary name and renamed into place,
so an interrupted run never leaves a half-written file that looks complete."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import numpy as np


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path next to ``path``; on success it is renamed to ``path`` with the
    permissions an ordinary new file gets (mkstemp's own are owner-only)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text(path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_table(path, columns: list[str], data, header_lines=(), fmt="%.6f") -> Path:
    """A whitespace table with ``#`` header lines and a final ``# col1 col2 ...`` line."""
    header = "\n".join([*header_lines, " ".join(columns)])
    with atomic_path(path) as tmp:
        np.savetxt(tmp, np.asarray(data), fmt=fmt, header=header, comments="# ")
    return Path(path)


def save_figure(fig, stem) -> list[Path]:
    """Save a matplotlib figure as ``stem.png`` and ``stem.pdf``."""
    paths = []
    for ext in ("png", "pdf"):
        target = Path(f"{stem}.{ext}")
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format=ext, dpi=150, bbox_inches="tight")
        paths.append(target)
    return paths


def check_output_folder(folder, what: str) -> Path:
    """Refuse, before any compute and without creating anything, an output folder that cannot be made or
    written: a plain file on the path, a read-only folder or file system give one
    :class:`~sepm.errors.InputError` naming ``what`` (the option or argument) and the path. The folder, or
    its nearest existing parent when it is still to be made, is proved writable by a probe file."""
    from .errors import Defect, InputError

    folder = Path(folder)
    existing = next(p for p in (folder, *folder.parents) if p.exists() or p == Path(p.anchor) or str(p) == ".")
    if not existing.is_dir():
        raise InputError(Defect(existing, None, f"{what}: {'this' if existing == folder else 'a parent'} is a file, "
                                "not a folder; choose another output path or move the file"))
    try:
        fd, probe = tempfile.mkstemp(prefix=".sepm-write-test.", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        where = "here" if existing == folder else f"in {existing}, where it would be made"
        raise InputError(Defect(folder, None, f"{what}: cannot write {where} ({err.strerror}); choose another "
                                "output folder or make this one writable")) from None
    return folder


def remove_stale(folder, names) -> list[Path]:
    """Remove the files ``names`` that a previous run left in ``folder`` and this run writes again, before it
    computes, so that no old record stands beside new partial files; logs what went."""
    import logging

    gone = [Path(folder) / name for name in names if (Path(folder) / name).is_file()]
    for path in gone:
        path.unlink()
    if gone:
        logging.getLogger("sepm").info("removed %d file(s) of a previous run from %s (this run writes them again): "
                                       "%s", len(gone), folder, " ".join(p.name for p in gone))
    return gone

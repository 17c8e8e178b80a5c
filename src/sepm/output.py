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

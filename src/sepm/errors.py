"""Errors raised for bad user input, always naming the file and line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Defect:
    """One problem found in an input file. ``line`` is 1-based, or None for whole-file problems."""

    path: Path
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else f"{self.path}"
        return f"{where}: {self.message}"


class InputError(ValueError):
    """Bad input. Carries every defect found, each formatted as ``path:line: message``."""

    def __init__(self, defects: list[Defect] | Defect):
        if isinstance(defects, Defect):
            defects = [defects]
        self.defects = list(defects)
        super().__init__("\n".join(str(d) for d in self.defects))


class ComputeFailure(Exception):
    """A computation failed on input that passed the checks; the message says where (system, k-point) and
    with which parameters. Mixed into the library's own exception type (e.g. the eigensolver's)."""


class RunError(RuntimeError):
    """A run that cannot go on for a reason other than a defect in its input (training diverged, the output
    folder is in use by another run). Its message is one line saying what happened and what to do."""

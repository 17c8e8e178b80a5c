"""Reading ``.pth`` files: network state_dicts, optimizer states, resume states.

Every read maps the tensors onto the run's device (a checkpoint saved on a GPU cluster loads on a
laptop's CPU) and uses ``weights_only=True`` (no code is run from the file). A file that cannot be
read, or a state_dict that does not fit the model, is an :class:`~sepm.errors.InputError` naming the
file: one line, no traceback.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import torch
from torch import nn

from ..errors import Defect, InputError


#: What to do about an unreadable file, by what it holds.
REMEDY = {
    "training state": "delete it to start this training over (its epochs are lost)",
    "Monte Carlo checkpoint": "delete it to start the Monte Carlo run over (its iterations are lost)",
}


def read_checkpoint(path, device="cpu", what: str = "checkpoint"):
    """``torch.load(path, map_location=device, weights_only=True)``; unreadable files raise InputError
    saying what is wrong and what to do (never to load the file another way)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(Defect(path, None, f"{what} not found"))
    try:
        return torch.load(path, map_location=torch.device(device), weights_only=True)
    except Exception as err:  # torch raises many types (pickle, zip, runtime); all mean "not readable"
        text = str(err)  # torch's own text suggests loading unsafely: only the kind of failure is kept
        code = re.search(r"GLOBAL (\S+)", text)
        if code:
            wrong = f"it refers to the Python object {code.group(1)}, not only tensors (loading it could run code)"
        elif isinstance(err, (EOFError, pickle.UnpicklingError)) or "PytorchStreamReader" in text:
            wrong = "it is truncated or not a torch.save file of tensors"
        else:
            wrong = f"it is damaged or not a torch.save file ({type(err).__name__} on reading)"
        todo = REMEDY.get(what, f"replace it by a {what} written by sepm or DeepPseudopot (torch.save of a "
                                "state_dict), or leave it out")
        raise InputError(Defect(path, None, f"cannot read this {what}: {wrong}; {todo}")) from None


def load_model_checkpoint(model: nn.Module, path, device=None) -> nn.Module:
    """Load the state_dict in ``path`` into ``model`` (on the model's device unless ``device``)."""
    from .network import load_state_dict_compat

    if device is None:
        device = next((t.device for t in model.state_dict().values()), torch.device("cpu"))
    state = read_checkpoint(path, device, "model checkpoint")
    if not isinstance(state, dict):
        raise InputError(Defect(Path(path), None, f"model checkpoint holds a {type(state).__name__}, "
                                "not a state_dict"))
    try:
        return load_state_dict_compat(model, state)
    except ValueError as err:
        raise InputError(Defect(Path(path), None, str(err))) from None

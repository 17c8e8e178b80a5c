"""A fitted potential on disk: ``<prefix>PPmodel.pth`` (network state_dict, absent for ZeroFunction),
``<prefix><Sym>Params.par`` (a0..a8 per species) and ``model_config.json`` (architecture, species,
SOC/NL switches), enough for any later stage (export, evaluation, the next fit of a chain) to rebuild it."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..errors import Defect, InputError
from ..io.jsonfile import read_json
from ..models import ZeroFunction, build_model
from ..models.checkpoint import load_model_checkpoint
from ..output import atomic_path, write_text
from ..pseudopotential import Pseudopotential, long_range_default
from ..settings import setting
from .params_files import read_params, write_params

ARCH_KEYS = ("PPmodel", "hiddenLayers", "PPmodel_decay_rate", "PPmodel_decay_center", "PPmodel_gaussian_std",
             "PPmodel_scale", "PPmodel_dropout", "PPmodel_input", "PPmodel_randinit_std", "SObool", "LRgamma",
             "network_long_range")


def network_form_factor(model):
    """The local form factor of a network model, or None (Zunger form) for ZeroFunction."""
    if isinstance(model, ZeroFunction):
        return None
    return lambda q: model(q[:, None])


def model_config(config: dict, species) -> dict:
    out = {k: config[k] for k in ARCH_KEYS if k in config}
    out["species"] = list(species)
    return out


def save_potential(outdir, prefix: str, model, params, species, config: dict) -> list[Path]:
    outdir = Path(outdir)
    paths = write_params(outdir, prefix, species, params.detach().cpu().numpy())
    if not isinstance(model, ZeroFunction):
        target = outdir / f"{prefix}PPmodel.pth"
        with atomic_path(target) as tmp:
            torch.save(model.state_dict(), tmp)
        paths.append(target)
    paths.append(write_text(outdir / "model_config.json", json.dumps(model_config(config, species), indent=2) + "\n"))
    return paths


def load_potential(folder, prefix: str = "final_", device="cpu") -> tuple[Pseudopotential, torch.nn.Module, dict]:
    """Rebuild the pseudopotential saved by :func:`save_potential`."""
    folder = Path(folder)
    cfg_path = folder / "model_config.json"
    if not cfg_path.is_file():
        raise InputError(Defect(cfg_path, None, "missing: not a folder written by a sepm fitting stage"))
    cfg = read_json(cfg_path, "model_config.json written by a sepm fitting stage", required=("species",))
    species = cfg["species"]
    try:
        # a model_config.json without PPmodel describes an analytic potential
        model = build_model(cfg.get("PPmodel", "ZeroFunction"), setting(cfg, "hiddenLayers"), len(species), cfg)
    except (ValueError, TypeError) as err:
        raise InputError(Defect(cfg_path, None, f"the model it describes cannot be built: {err}")) from None
    model = model.to(device)
    if not isinstance(model, ZeroFunction):
        load_model_checkpoint(model, folder / f"{prefix}PPmodel.pth")
    model = model.eval()
    params = torch.as_tensor(read_params(folder, prefix, species), device=device)
    sobool = setting(cfg, "SObool")
    local = network_form_factor(model)
    pp = Pseudopotential(tuple(species), params, local=local, soc=sobool, nonlocal_=sobool,
                         lr_gamma=setting(cfg, "LRgamma"), long_range=long_range_default(local, cfg))
    return pp, model, cfg

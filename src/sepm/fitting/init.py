"""Initialization of the local-potential network, in DeepPseudopot's order of preference:

1. checkpoint reuse: ``init_PPmodel.pth`` (and ``init_AdamState.pth`` for the optimizer), from the
   bundle or from a previous stage (final / epoch_<N> / best model);
2. fit to the Zunger form of each species (init_Zunger_num_epochs > 0): samples q on [0, 10] 1/Bohr,
   weighted x10 below q = 1, optimizer init_Zunger_optimizer with init_Zunger_optimizer_lr,
   ExponentialLR(init_Zunger_scheduler_gamma) every schedulerStep epochs;
3. fit to a tabulated v(q) (init_qSpace_pot.par), same procedure;
4. the network's own He/Kaiming or Xavier initializer;
5. RandInit: a truly random draw (uncertainty ensembles).

ZeroFunction has no network: the analytic coefficients are the whole local potential. The chosen
strategy is logged and returned as a record (written next to the outputs as init_record.json).
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from tqdm import tqdm

from ..constants import PRIOR_Q_MAX
from ..models import ZeroFunction, init_strategy_name
from ..models.checkpoint import load_model_checkpoint, read_checkpoint
from ..potentials.zunger import zunger
from ..settings import setting

log = logging.getLogger("sepm")

#: q samples (1/Bohr) of the prior fits and their weights (x10 below q = 1).
PRIOR_Q = torch.linspace(0.0, PRIOR_Q_MAX, 1001, dtype=torch.float64)
PRIOR_WEIGHT = torch.where(PRIOR_Q < 1.0, 10.0, 1.0)


def fit_network(model, target, epochs: int, optimizer: str, lr: float, gamma: float, step: int, plot_every: int,
                on_plot=None, desc="prior", print_grad=False) -> float:
    """Fit ``model`` (q (n,1) -> (n, n_species)) to ``target`` (q (n,) -> (n, n_species)); weighted MSE.

    ``print_grad`` (init_Zunger_printGrad): log the gradient norms at the first epoch and every
    ``plot_every`` (init_Zunger_plotEvery) epochs."""
    q = PRIOR_Q.to(next(model.parameters()).device)
    w = PRIOR_WEIGHT.to(q.device)[:, None]
    with torch.no_grad():
        goal = target(q)
    opt = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}[optimizer.lower()](model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma)
    model.train()
    loss = torch.tensor(float("nan"))
    for epoch in tqdm(range(1, epochs + 1), unit="epoch", desc=desc, disable=None):
        opt.zero_grad()
        loss = (w * (model(q[:, None]) - goal) ** 2).mean()
        loss.backward()
        if print_grad and (epoch == 1 or (plot_every > 0 and epoch % plot_every == 0)):
            from .train import log_gradients

            log_gradients({"model": model}, f"{desc}, epoch {epoch}")
        opt.step()
        if epoch % step == 0:
            sched.step()
        if plot_every > 0 and on_plot is not None and (epoch % plot_every == 0 or epoch == epochs):
            on_plot(epoch)
    model.eval()
    return float(loss.detach())


def initialize(model, bundle, params, init_model: Path | None = None, init_optimizer: Path | None = None,
               on_plot=None) -> dict:
    """Initialize ``model`` in place; returns the record {strategy, details..., optimizer_state?}."""
    cfg = bundle.config
    if isinstance(model, ZeroFunction):
        return {"strategy": "analytic only (ZeroFunction)",
                "details": "no network; the Wang-Zunger coefficients are the local potential"}
    model_file = init_model or bundle.optional_files.get("init_PPmodel")
    if model_file is not None:
        load_model_checkpoint(model, model_file)
        record = {"strategy": "checkpoint reuse", "model_file": str(model_file)}
        opt_file = init_optimizer or (bundle.optional_files.get("init_AdamState") if init_model is None else None)
        if opt_file is not None:
            record["optimizer_file"] = str(opt_file)
            device = next(model.parameters()).device
            record["optimizer_state"] = read_checkpoint(opt_file, device, "optimizer state")
        return record
    epochs = setting(cfg, "init_Zunger_num_epochs")
    fit_args = dict(optimizer=setting(cfg, "init_Zunger_optimizer"), lr=setting(cfg, "init_Zunger_optimizer_lr"),
                    gamma=setting(cfg, "init_Zunger_scheduler_gamma"), step=setting(cfg, "schedulerStep"),
                    plot_every=setting(cfg, "init_Zunger_plotEvery"), on_plot=on_plot,
                    print_grad=setting(cfg, "init_Zunger_printGrad"))
    if epochs > 0:
        params = torch.as_tensor(params, dtype=torch.float64)
        loss = fit_network(model, lambda q: zunger(q, params.to(q.device)), epochs, desc="Zunger prior", **fit_args)
        return {"strategy": "fit to Zunger form", "epochs": epochs, "final_mse": loss, **_public(fit_args)}
    table = bundle.optional_files.get("init_qSpace_pot")
    if table is not None:
        from ..export import read_qspace_table
        from ..potentials import TabulatedFormFactor

        q, values, _ = read_qspace_table(table)
        loss = fit_network(model, TabulatedFormFactor(q, values), max(1, epochs or 1000), desc="q-table prior",
                           **fit_args)
        return {"strategy": "fit to tabulated v(q)", "table": str(table), "final_mse": loss, **_public(fit_args)}
    return {"strategy": init_strategy_name(model), "details": "network initializer only (no prior fit)"}


def _public(args: dict) -> dict:
    return {k: v for k, v in args.items() if k != "on_plot"}

"""How reference_training.dat was made (run once, offline, like make_reference.py).

Runs DeepPseudopot's own training loop (bandStruct_train_GPU of a checkout in /tmp/dp_orig, not part
of sepm) on BUNDLE, writing its outputs to RESULTS, and prints the training and validation costs.
For reference_training.dat the bundle's NN_config.par had max_num_epochs = 4, schedulerStep = 2,
scheduler_gamma = 0.5 and optimizer_lr = 0.01.

Usage: python make_training_reference.py BUNDLE RESULTS
"""
import sys, os
import scipy.integrate
scipy.integrate.quadrature = None
import torch
torch.set_default_dtype(torch.float64)
sys.path.insert(0, "/tmp/dp_orig")
from torch.optim.lr_scheduler import ExponentialLR
from utils.read import read_NNConfigFile, setAllBulkSystems, setNN
from utils.ham import initAndCacheHams
from utils.init_NN_train import init_ZungerPP, init_optimizer
from utils.NN_train import weighted_mse_bandStruct, weighted_mse_energiesAtKpt, bandStruct_train_GPU
inp, res = sys.argv[1].rstrip("/") + "/", sys.argv[2].rstrip("/") + "/"
os.makedirs(res, exist_ok=True)
cfg = read_NNConfigFile(inp + "NN_config.par")
systems, order, npp, PPparams, total, loc = setAllBulkSystems(cfg["nSystem"], inp, res)
model = setNN(cfg, npp)
dev = torch.device("cpu")
hams, info, _, _ = initAndCacheHams(systems, cfg, PPparams, order, dev)
model, val = init_ZungerPP(inp, model, order, loc, npp, cfg, dev, res)
opt = init_optimizer(inp, model, cfg)
sched = ExponentialLR(opt, gamma=cfg["scheduler_gamma"])
train, valid = bandStruct_train_GPU(model, dev, cfg, systems, hams, order, weighted_mse_bandStruct,
                                    weighted_mse_energiesAtKpt, opt, sched, val, res, info)
print("TRAIN", [float(t) for t in train])
print("VAL", [float(v) for v in valid])

"""How the reference_*.dat tables here were made (run once, offline; not part of the test suite).

It runs DeepPseudopot's own code (TommyLinkl/DeePseudopot at a317799, checked out outside this project
in /tmp/dp_orig; none of it is in sepm) on one bundle folder and writes its band energies at full
precision: OUT_oldFunc.dat (the analytic Zunger + a4 potential of init_<Sym>Params.par) and
OUT_network.dat (the checkpoint's network), each headed by the original's weighted band cost.

Usage: python make_reference.py BUNDLE OUT [PPmodel SObool CHECKPOINT]
"""
import sys
import numpy as np
import scipy.integrate
scipy.integrate.quadrature = None  # removed from scipy >= 1.15; imported but unused by the original
import torch
torch.set_default_dtype(torch.float64)
sys.path.insert(0, "/tmp/dp_orig")
from utils.read import read_NNConfigFile, setAllBulkSystems, setNN
from utils.ham import initAndCacheHams
from utils.NN_train import weighted_mse_bandStruct

bundle, out = sys.argv[1].rstrip("/") + "/", sys.argv[2]
cfg_path = bundle + "NN_config.par"
if len(sys.argv) > 3:
    import tempfile, shutil
    text = open(cfg_path).read() + f"\nPPmodel = {sys.argv[3]}\nSObool = {sys.argv[4]}\n"
    text = "\n".join(l for l in text.splitlines() if not l.startswith("SObool") or l == f"SObool = {sys.argv[4]}")
    cfg_path = tempfile.mktemp(suffix=".par")
    open(cfg_path, "w").write(text)
cfg = read_NNConfigFile(cfg_path)
ckpt = sys.argv[5] if len(sys.argv) > 5 else bundle + "init_PPmodel.pth"
import os
os.makedirs("/tmp/dp_ref/res", exist_ok=True)
systems, order, npp, PPparams, total, loc = setAllBulkSystems(cfg["nSystem"], bundle, "/tmp/dp_ref/res/")
model = setNN(cfg, npp)
model.load_state_dict(torch.load(ckpt, map_location="cpu"))
model.eval()
hams, info, _, _ = initAndCacheHams(systems, cfg, PPparams, order, torch.device("cpu"))
if systems[0].bandWeights is None:  # the original needs bandWeights_0.par; sepm takes weights 1
    systems[0].bandWeights = torch.ones(systems[0].nBands)
for label, use_nn in (("oldFunc", False), ("network", True)):
    hams[0].NN_locbool = use_nn
    if use_nn:
        hams[0].set_NNmodel(model)
    with torch.no_grad():
        bs = hams[0].calcBandStruct_noGrad(info)
    mse = float(weighted_mse_bandStruct(bs, systems[0]))
    np.savetxt(f"{out}_{label}.dat", bs.numpy(), fmt="%.10f", header=f"{label} cost {mse:.12g}")
    print(label, "cost", mse, "basis", hams[0].basis.shape[0])

"""One fit over torch.distributed ranks (not a test): epoch time at 1 and 2 ranks side by side, the
collectives per epoch, and a model of many-node scaling.

Cases, each in its own processes, in one run, on the same bundle:
- serial: one process, ``FitProblem.evaluate(backward=True)`` per epoch;
- ranks-2: two gloo ranks on this machine (fitting/distributed.py, what NN_config num_cores = 2 starts),
  started by torch.multiprocessing.spawn (--cases adds ranks-N for other N).
An epoch is one objective + gradient evaluation and a small step (as an optimizer would take); the
median over --epochs after one warm-up epoch. For ranks-N also the collectives of an epoch (the
parameter broadcast and the loss + gradient all-reduce): calls, bytes and seconds (the transfer and the
wait for the slower rank).

Then the scaling model for ``--model-nk`` k-points at ``--model-tk`` seconds per k-point (default: the
CsPbI3 SOC fit at maxKE 10, ~8 s per k-point and epoch on one core, bench/eigensolver.py), with this
run's per-epoch bytes: T(N) = ceil(nk / N) t_k + c(N), c(N) = ring all-reduce 2 (N - 1) (alpha + B / (N beta))
plus the broadcast log2(N) (alpha + B / beta), alpha and beta an inter-node link's latency and bandwidth
(--alpha-us, --beta-gbs; gloo over TCP).

Usage: python bench/distributed.py [--bundle gaas|cspbi3] [--maxke 3] [--kstride 6] [--nk 8] [--epochs 5]
       [--rounds 1] [--threads 1] [--cases serial ranks-2 ...] [--model-nk 64] [--model-tk 8] [--alpha-us 50]
       [--beta-gbs 1]
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NETWORK = ["PPmodel=Net_celu_HeInit_decayGaussian", "hiddenLayers=16 16", "PPmodel_gaussian_std=2.0"]


def make_bundle(tmp: Path, args) -> tuple[Path, list[str]]:
    """(bundle folder, --set overrides) of the benchmark's fit."""
    import numpy as np

    if args.bundle == "gaas":
        sys.path.insert(0, str(ROOT / "tests"))
        from small_bundles import shrink_gaas

        folder = tmp / "GaAs"
        shutil.copytree(ROOT / "resources/bundles/GaAs", folder)
        shrink_gaas(folder, args.maxke, args.kstride)
        return folder, NETWORK
    folder = tmp / "CsPbI3_soc"
    shutil.copytree(ROOT / "resources/bundles/CsPbI3_soc", folder)
    (folder / "input_0.par").write_text(f"nBands = 32\nmaxKE = {args.maxke}\n")
    k = np.loadtxt(folder / "kpoints_0.par")[:args.nk]
    np.savetxt(folder / "kpoints_0.par", k)
    import torch

    from sepm.bands import band_energies, system_hamiltonian
    from sepm.io import read_bundle
    from sepm.pseudopotential import Pseudopotential

    b = read_bundle(folder)  # the reference: the bundle potential's own bands + 0.1 eV (as bench/eigensolver.py)
    with torch.no_grad():
        bands = band_energies(system_hamiltonian(b.systems[0], Pseudopotential.from_bundle(b)), b.systems[0].kpoints, 32)
    np.savetxt(folder / "expBandStruct_0.par", np.column_stack([np.zeros(len(bands)), bands.numpy() + 0.1]))
    return folder, ["PPmodel=ZeroFunction", "cacheSO=1", "trainable_params=a0 a1 a2 a3 a5 a6 a7"]


def epochs(args, folder: Path, overrides: list[str]) -> dict:
    """This process's epochs; with a process group its rank's view."""
    import torch

    from sepm.fitting import ranks
    from sepm.fitting.stage import FitSetup

    torch.set_num_threads(args.threads)
    setup = FitSetup(folder, overrides)
    problem = setup.build_problem()
    params = [p for m in (setup.model, setup.coefficients) for p in m.parameters() if p.requires_grad]
    times, costs = [], []
    for epoch in range(args.epochs + 1):
        if epoch == 1 and ranks.active():  # the collectives of the epochs after the warm-up
            problem.distributed.comm.update(calls=0, bytes=0, seconds=0.0)
        start = time.perf_counter()
        for p in params:
            p.grad = None
        costs.append(problem.evaluate(backward=True).total)
        with torch.no_grad():
            for p in params:
                if p.grad is not None:
                    p -= 1e-4 * p.grad / p.grad.abs().max().clamp_min(1e-300)
        times.append(time.perf_counter() - start)
    out = {"epoch_s": statistics.median(times[1:]), "cost": costs, "nk": len(problem.targets[0].spec.kpoints),
           "parameters": sum(p.numel() for p in params)}
    if ranks.active():
        out["comm"] = {k: v / args.epochs for k, v in problem.distributed.comm.items()}
    return out


def _rank(rank: int, size: int, port: int, args, folder: Path, overrides: list[str], out: Path):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=size)
    try:
        result = epochs(args, folder, overrides)
        if rank == 0:
            out.write_text(json.dumps(result))
    finally:
        dist.destroy_process_group()


def case(name: str, args, folder: Path, overrides: list[str]) -> dict:
    """serial or ranks-N (N gloo ranks)."""
    if name == "serial":
        return epochs(args, folder, overrides)
    n = name.split("-")[1]
    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = folder.parent / "rank0.json"
    mp.spawn(_rank, args=(int(n), port, args, folder, overrides, out), nprocs=int(n))
    return json.loads(out.read_text())


def model(args, nbytes: float) -> list[tuple]:
    """(N, epoch s, speed-up, efficiency, communication s) for N = 1, 2, 4, ... ranks."""
    alpha, beta = args.alpha_us * 1e-6, args.beta_gbs * 1e9
    rows, n = [], 1
    while n <= 2 * args.model_nk:
        comm = 0.0 if n == 1 else 2 * (n - 1) * (alpha + nbytes / 2 / (n * beta)) + math.log2(n) * (alpha + nbytes / 2 / beta)
        t = math.ceil(args.model_nk / n) * args.model_tk + comm
        rows.append((n, t, args.model_nk * args.model_tk / t, args.model_nk * args.model_tk / t / n, comm))
        n *= 2
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", choices=("gaas", "cspbi3"), default="gaas")
    parser.add_argument("--maxke", type=float, default=3.0)
    parser.add_argument("--kstride", type=int, default=6, help="GaAs: every kstride-th k-point")
    parser.add_argument("--nk", type=int, default=8, help="CsPbI3: the first nk k-points")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--rounds", type=int, default=1, help="runs of every case, interleaved")
    parser.add_argument("--cases", nargs="+", default=["serial", "ranks-2"], help="serial, ranks-N (N gloo ranks)")
    parser.add_argument("--model-nk", type=int, default=64, help="k-points of the modelled fit (all systems)")
    parser.add_argument("--model-tk", type=float, default=8.0, help="seconds per k-point and epoch of the modelled fit")
    parser.add_argument("--alpha-us", type=float, default=50.0, help="inter-node latency per message (microseconds)")
    parser.add_argument("--beta-gbs", type=float, default=1.0, help="inter-node bandwidth (GB/s)")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        overrides = json.loads(Path(args.folder).with_suffix(".json").read_text())
        print(json.dumps(case(args.case, args, Path(args.folder), overrides)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder, overrides = make_bundle(Path(tmp), args)
        folder.with_suffix(".json").write_text(json.dumps(overrides))
        results, rounds = {}, {name: [] for name in args.cases}
        for _ in range(args.rounds):  # the cases interleaved: a change of the machine's load hits all of them
            for name in args.cases:
                cmd = [sys.executable, __file__, "--case", name, "--folder", str(folder), *sys.argv[1:]]
                run = subprocess.run(cmd, capture_output=True, text=True)
                if run.returncode:
                    sys.exit(f"{name} failed:\n{run.stderr[-4000:]}")
                results[name] = json.loads(run.stdout.strip().splitlines()[-1])
                rounds[name].append(results[name]["epoch_s"])
        for name, times in rounds.items():
            results[name]["epoch_s"] = statistics.median(times)
    serial = results.get("serial")
    print(f"{args.bundle}, maxKE {args.maxke}, {next(iter(results.values()))['nk']} k-points, "
          f"{next(iter(results.values()))['parameters']} trainable parameters, {args.threads} thread(s) per process; "
          f"median over {args.rounds} interleaved round(s) of the median of {args.epochs} epochs after a warm-up")
    for name, r in results.items():
        line = f"  {name:8s} epoch {r['epoch_s']:.4f} s"
        if serial and name != "serial":
            line += f"  speed-up {serial['epoch_s'] / r['epoch_s']:.2f}x;  cost differs from serial by " \
                    f"{max(abs(a - b) / abs(b) for a, b in zip(r['cost'], serial['cost'])):.1e} (relative)"
        if "comm" in r:
            c = r["comm"]
            line += (f"\n           collectives per epoch: {c['calls']:.0f} calls, {c['bytes']:.0f} bytes, "
                     f"{1e3 * c['seconds']:.2f} ms ({100 * c['seconds'] / r['epoch_s']:.1f} % of the epoch)")
        print(line)
    measured = [r["comm"]["bytes"] for r in results.values() if "comm" in r]
    nbytes = measured[0] if measured else 16.0 * next(iter(results.values()))["parameters"]
    print(f"\nmodel: {args.model_nk} k-points x {args.model_tk:g} s per k-point, {nbytes:.0f} bytes of collectives per "
          f"epoch, link {args.alpha_us:g} us + {args.beta_gbs:g} GB/s")
    print("  ranks  epoch_s  speed-up  efficiency  communication_s")
    for n, t, s, e, c in model(args, nbytes):
        print(f"  {n:5d}  {t:7.1f}  {s:8.1f}  {e:10.2f}  {c:.2e}")


if __name__ == "__main__":
    main()

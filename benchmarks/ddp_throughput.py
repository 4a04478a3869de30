"""Data-parallel training throughput: configurations per second of ``attnff train`` on 1 and N processes.

    nice python benchmarks/ddp_throughput.py                      # jat and cmret, 1 and 2 processes, 3 epochs
    nice python benchmarks/ddp_throughput.py --models jat --epochs 4 --processes 1 2 4

Each run is the real command on a shipped MD17 ethanol config (examples/configs/<model>_md17_ethanol.yaml,
data ../shared/data/md17_ethanol_2000.npz): ``python -m attnff train`` for one process and
``torchrun --standalone --nproc_per_node=N -m attnff train`` for N, one torch thread per process
(OMP_NUM_THREADS=1, training.threads=1), gloo on the CPU, no test set. ``training.batch_size`` is the
global batch, so N processes take the same optimiser steps as one, each on 1/N of every batch (strong
scaling); ``--scale-batch`` also runs N processes at N times the batch (the per-process batch of one
process). Throughput is the training-set size divided by the median epoch time after the first epoch, from
the run's metrics.jsonl (``elapsed_s``; an epoch includes scoring the 50 validation configurations); rank 0's
CPU time per epoch (``epoch_cpu_s``) tells work from waiting on a shared machine.
Efficiency is the N-process throughput over N times the one-process throughput at the config's batch. Results go to
benchmarks/results/ddp_throughput.json and the generated part of docs/training.md.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "md17_ethanol_2000.npz"
RESULTS = ROOT / "benchmarks" / "results" / "ddp_throughput.json"
BEGIN, END = "<!-- ddp_throughput.py: begin generated part -->", "<!-- ddp_throughput.py: end generated part -->"


def run(model: str, processes: int, epochs: int, batch_scale: int, out: Path) -> dict:
    config = ROOT / "examples" / "configs" / f"{model}_md17_ethanol.yaml"
    import yaml

    batch = yaml.safe_load(config.read_text())["training"]["batch_size"] * batch_scale
    overrides = [f"output={out}", f"data.path={DATA}", "data.split={train: [0, 950], validation: [950, 1000]}",
                 f"training.epochs={epochs}", "training.max_minutes=0", "training.threads=1",
                 f"training.batch_size={batch}"]
    launcher = [sys.executable, "-m", "attnff"] if processes == 1 else \
        [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}", "-m", "attnff"]
    command = [*launcher, "train", str(config), *[a for item in overrides for a in ("--set", item)], "--no-progress"]
    started = time.perf_counter()
    subprocess.run(command, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True)
    wall = time.perf_counter() - started
    log = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    epoch_s = float(np.median(np.diff([r["elapsed_s"] for r in log])))
    cpu_s = float(np.median([r["epoch_cpu_s"] for r in log[1:]]))
    return {"model": model, "processes": processes, "global_batch": batch, "per_process_batch": batch / processes,
            "epochs": epochs, "epoch_s_median": round(epoch_s, 3), "configs_per_s": round(950 / epoch_s, 1),
            "rank0_cpu_s_per_epoch": round(cpu_s, 3), "wall_s_with_startup": round(wall, 1),
            "load_after": [round(x, 2) for x in os.getloadavg()]}


def write_section(rows: list[dict], doc: Path, load: str) -> None:
    lines = [BEGIN, "", "| model | processes | global batch | batch per process | s / epoch (median) | rank 0 CPU s / "
             "epoch | configs/s | efficiency | load after |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    single = {r["model"]: r["configs_per_s"] for r in rows if r["processes"] == 1}
    for r in rows:
        base = single.get(r["model"])
        efficiency = f"{r['configs_per_s'] / (r['processes'] * base):.0%}" if base else "-"
        r["efficiency"] = efficiency
        lines.append(f"| {r['model']} | {r['processes']} | {r['global_batch']} | {r['per_process_batch']:g} | "
                     f"{r['epoch_s_median']:.2f} | {r['rank0_cpu_s_per_epoch']:.2f} | {r['configs_per_s']:.1f} | "
                     f"{efficiency} | {r['load_after'][0]:.1f} |")
    lines += ["", f"Load when the measurement started: `{load}`.", "", END]
    text = "\n".join(lines)
    old = doc.read_text()
    new = old[:old.index(BEGIN)] + text + old[old.index(END) + len(END):] if BEGIN in old else \
        old.rstrip() + "\n\n" + text + "\n"
    doc.write_text(new)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["jat", "cmret"])
    parser.add_argument("--processes", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--scale-batch", action="store_true", help="also run N processes at N times the batch")
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "training.md")
    args = parser.parse_args()
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for model in args.models:
            for processes in args.processes:
                scales = [1, processes] if args.scale_batch and processes > 1 else [1]
                for scale in scales:
                    rows.append(run(model, processes, args.epochs, scale, Path(folder) / f"{model}{processes}x{scale}"))
                    print(rows[-1], flush=True)
    write_section(rows, args.doc, load)
    RESULTS.write_text(json.dumps({"load_at_start": load, "cpu_cores": os.cpu_count(), "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()

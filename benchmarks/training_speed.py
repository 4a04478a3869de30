"""Training throughput (configurations per second) of each model on MD17 ethanol; writes into docs/performance.md.

    python benchmarks/training_speed.py                  # jat, cmret, geomatt, 10 timed steps each
    python benchmarks/training_speed.py --steps 20 --models jat

For each shipped MD17 ethanol config (examples/configs/<model>_md17_ethanol.yaml, data in
data/external/ or ../shared/data: benchmarks/reference_data.py) the script builds the potential as
``attnff train`` does (species,
reference energies, scale; freshly initialised weights) and times optimiser steps on the
training split at the config's batch size, dtype and loss weights: forward, energy and
force loss (the force graph kept for the second derivative), backward, AdamW step. The
batches are built before timing; validation, EMA and checkpoints are not included.
Reported: configurations per second of process CPU time (one torch thread) and of wall
time, median over the timed steps after ``--warmup`` steps.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from attnff.data import GraphDataset
from attnff.potential import Potential, fit_reference_energies
from attnff.train.loop import _energy_scale, load_splits
from attnff.train.loss import LossWeights, potential_loss
from reference_data import load_example_config

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- training_speed.py: begin generated part -->", "<!-- training_speed.py: end generated part -->"


def measure(model: str, steps: int, warmup: int) -> dict:
    config = load_example_config(ROOT / "examples" / "configs" / f"{model}_md17_ethanol.yaml")
    t = config.training
    torch.manual_seed(config.seed)
    train_configs, *_ = load_splits(config)
    species = sorted({int(z) for c in train_configs for z in c.numbers})
    references = fit_reference_energies([c.numbers for c in train_configs],
                                        np.array([c.energy for c in train_configs]), species)
    potential = Potential(config.model_name, config.model, species, references,
                          _energy_scale(train_configs, species, references))
    dtype = torch.float64 if t.dtype == "float64" else torch.float32
    potential = potential.to(dtype=dtype).train()
    dataset = GraphDataset(train_configs[: (steps + warmup) * t.batch_size], potential.cutoff)
    batches = [b.to("cpu", dtype) for b in dataset.batches(t.batch_size, torch.Generator().manual_seed(0))]
    weights = LossWeights(t.energy_weight, t.forces_weight, t.stress_weight, t.loss, t.loss_delta, t.dipole_weight)
    optimizer = torch.optim.AdamW(potential.parameters(), lr=t.lr, weight_decay=t.weight_decay)
    cpu, wall = [], []
    for k, batch in enumerate(batches):
        c0, w0 = time.process_time(), time.perf_counter()
        pred = potential(batch, forces=weights.forces > 0, training=True)
        loss = potential_loss(pred, batch, weights)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        c1, w1 = time.process_time(), time.perf_counter()
        if k >= warmup:
            cpu.append(c1 - c0)
            wall.append(w1 - w0)
    return {"model": model, "batch_size": t.batch_size, "dtype": t.dtype, "steps": len(cpu),
            "cpu_configs_per_s": t.batch_size / float(np.median(cpu)),
            "wall_configs_per_s": t.batch_size / float(np.median(wall)),
            "parameters": sum(p.numel() for p in potential.parameters())}


def write_section(rows: list[dict], doc: Path, load: str) -> None:
    lines = [BEGIN, "", "## Training throughput (MD17 ethanol)", "",
             "Written by `python benchmarks/training_speed.py`: one optimiser step (forward, energy + force "
             "loss, backward through the forces, AdamW) on the training split of each shipped config, batches "
             f"prebuilt, one torch thread; median over the timed steps. Load while measuring: {load}.", "",
             "| model | parameters | batch | dtype | timed steps | configs/s (CPU time) | configs/s (wall) |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {r['model']} | {r['parameters']:,} | {r['batch_size']} | {r['dtype']} | {r['steps']} | "
              f"{r['cpu_configs_per_s']:.1f} | {r['wall_configs_per_s']:.1f} |" for r in rows]
    text = "\n".join(lines + ["", END])
    old = doc.read_text() if doc.exists() else "# Performance\n"
    if BEGIN in old and END in old:
        new = old[:old.index(BEGIN)] + text + old[old.index(END) + len(END):]
    else:
        new = old.rstrip() + "\n\n" + text + "\n"
    doc.write_text(new)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["jat", "cmret", "geomatt"])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "performance.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import subprocess

    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    rows = []
    for model in args.models:
        rows.append(measure(model, args.steps, args.warmup))
        print(rows[-1], flush=True)
    write_section(rows, args.doc, load)


if __name__ == "__main__":
    main()

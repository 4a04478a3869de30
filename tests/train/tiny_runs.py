"""Tiny training runs for the tests in tests/train: EMT-labelled data and a small config."""

from pathlib import Path

import numpy as np
from ase.build import bulk, molecule
from ase.calculators.emt import EMT
from ase.io import write

EPOCHS = 3


def write_emt_data(path: Path, count: int = 24) -> Path:
    """Methanol molecules (energy, forces) alternating with Cu cells (also stress), EMT labels, extxyz."""
    rng = np.random.default_rng(0)
    frames = []
    for k in range(count):
        if k % 2:
            atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
            atoms.rattle(0.05, seed=k)
            atoms.set_cell(atoms.cell * (1 + 0.02 * rng.normal()), scale_atoms=True)
        else:
            atoms = molecule("CH3OH")
            atoms.rattle(0.05, seed=k)
        atoms.calc = EMT()
        atoms.get_potential_energy(), atoms.get_forces()
        if atoms.pbc.all():
            atoms.get_stress()
        frames.append(atoms)
    write(path, frames)
    return path


def tiny_raw(data_file, out, **training) -> dict:
    """A YAML-like run config: a small JAT, 60/20/20 split (14/5/5 structures), batch 4, stress loss."""
    return {
        "name": "tiny", "output": str(out), "seed": 3, "description": "test run",
        "data": {"path": str(data_file), "split": {"train": 0.6, "validation": 0.2, "test": 0.2}},
        "model": {"name": "jat", "width": 8, "num_heads": 2, "num_layers": 2, "num_basis": 4, "cutoff": 3.0},
        "training": {"epochs": EPOCHS, "batch_size": 4, "lr": 3e-3, "warmup_epochs": 1, "stress_weight": 1.0,
                     "device": "cpu", **training},
    }

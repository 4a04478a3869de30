"""Test errors of one peer checkpoint copied by benchmarks/training_race.py; runs in that peer's venv.

    <peer venv>/bin/python benchmarks/race_peer_eval.py KIND SNAPSHOT SCRATCH DATA COMMAND_JSON

KIND is "mace" or "painn". Energies and forces of the 1000 test frames (DATA/test.xyz, eV) through the
package's own ASE calculator in float64 (schnetpack's calculator casts the model); prints one JSON line
with the energy MAE (eV per molecule), the force MAE (eV/A, per component) and the checkpoint's epoch.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from ase.io import read


def mace_calculator(snapshot: Path, scratch: Path, command: list[str]):
    """MACE's ASE calculator with the checkpoint's (EMA) weights.

    A checkpoint holds weights only: the model object (architecture, E0s, neighbour count, scale and
    shift, all fixed by the training data) comes from MACE's own training command run for zero epochs.
    """
    from mace.calculators import MACECalculator

    template = scratch.parent / "template" / "mace.model"
    if not template.exists():
        (template.parent / "checkpoints").mkdir(parents=True, exist_ok=True)  # MACE writes the model there
        args = [a for a in command if not a.startswith(("--work_dir", "--max_num_epochs", "--restart_latest",
                                                        "--swa", "--start_swa"))]
        subprocess.run([*args, f"--work_dir={template.parent}", "--max_num_epochs=0"], check=True,
                       cwd=template.parent, capture_output=True)
    model = torch.load(template, weights_only=False)
    # in stage two MACE keeps the last stage-one checkpoint beside the stage-two ("_swa") one: take the newest
    checkpoint = max(snapshot.glob("*.pt"), key=lambda p: int(re.search(r"epoch-(\d+)", p.name).group(1)))
    model.load_state_dict(torch.load(checkpoint, weights_only=False)["model"])
    path = scratch / "snapshot.model"
    torch.save(model, path)
    epoch = int(re.search(r"epoch-(\d+)", checkpoint.name).group(1))
    return MACECalculator(model_paths=str(path), device="cpu", default_dtype="float64"), epoch


def painn_calculator(snapshot: Path):
    """schnetpack's ASE calculator around the run's best model (written by its ModelCheckpoint)."""
    import schnetpack.transform as trn
    from schnetpack.interfaces import SpkCalculator

    os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"  # best_model is a pickled model object

    calculator = SpkCalculator(model_file=str(snapshot / "best_model"), neighbor_list=trn.ASENeighborList(cutoff=5.0),
                               energy_key="energy", force_key="forces", energy_unit="kcal/mol", position_unit="Ang",
                               device="cpu", dtype=torch.float64)
    epoch = int(torch.load(snapshot / "last.ckpt", weights_only=False, map_location="cpu")["epoch"])
    return calculator, epoch


def main() -> None:
    kind, snapshot, scratch, data, command = sys.argv[1:6]
    snapshot, scratch = Path(snapshot), Path(scratch)
    if kind == "mace":
        calculator, epoch = mace_calculator(snapshot, scratch, json.loads(command))
    else:
        calculator, epoch = painn_calculator(snapshot)
    energy_errors, force_errors = [], []
    for atoms in read(Path(data) / "test.xyz", index=":"):
        reference_energy, reference_forces = atoms.info["REF_energy"], atoms.arrays["REF_forces"]
        atoms.calc = calculator
        energy_errors.append(atoms.get_potential_energy() - reference_energy)
        force_errors.append(atoms.get_forces() - reference_forces)
    print(json.dumps({"energy_mae": float(np.mean(np.abs(energy_errors))),
                      "forces_mae": float(np.mean(np.abs(np.concatenate(force_errors)))),
                      "epoch": epoch, "frames": len(energy_errors)}))


if __name__ == "__main__":
    main()

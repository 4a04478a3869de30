"""Error metrics of a potential on labelled configurations."""

from typing import Sequence

import numpy as np
import torch

from ..data.dataset import GraphDataset
from ..potential import Potential
from ..units import energy_factor

__all__ = ["evaluate", "KCAL_PER_MOL"]

KCAL_PER_MOL = energy_factor("kcal/mol")


def evaluate(potential: Potential, dataset: GraphDataset, batch_size: int = 32,
             indices: Sequence[int] | None = None) -> dict[str, float]:
    """Energy, force, stress and dipole MAE/RMSE in eV, eV/A, eV/A^3, e*A (and kcal/mol units for E and F).

    The potential is evaluated on its own device and dtype; targets stay float64.
    """
    param = next(potential.parameters())
    indices = list(range(len(dataset))) if indices is None else list(indices)
    e_err, e_atom_err, f_err, s_err, d_err = [], [], [], [], []
    for start in range(0, len(indices), batch_size):
        batch = dataset.batch(indices[start:start + batch_size]).to(param.device, param.dtype)
        stress = bool(batch.has_stress is not None and batch.has_stress.any())
        pred = potential(batch, forces=batch.forces is not None, stress=stress)
        if batch.energy is not None:
            err = (pred["energy"].detach() - batch.energy.double()).cpu().numpy()
            n_atoms = torch.bincount(batch.batch, minlength=batch.num_graphs).cpu().numpy()
            e_err.append(err)
            e_atom_err.append(err / n_atoms)
        if batch.forces is not None:
            f_err.append((pred["forces"].detach() - batch.forces).double().cpu().numpy().ravel())
        if stress:
            mask = batch.has_stress.cpu().numpy()
            s_err.append((pred["stress"].detach() - batch.stress).double().cpu().numpy()[mask].ravel())
        if batch.dipole is not None and "dipole" in pred:
            mask = batch.has_dipole.cpu().numpy()
            d_err.append((pred["dipole"].detach() - batch.dipole).double().cpu().numpy()[mask].ravel())
    metrics: dict[str, float] = {"count": float(len(indices))}
    for name, errors, unit in (("energy", e_err, "eV"), ("energy_per_atom", e_atom_err, "eV"),
                               ("forces", f_err, "eV/A"), ("stress", s_err, "eV/A^3"), ("dipole", d_err, "e*A")):
        if errors:
            values = np.concatenate(errors)
            metrics[f"{name}_mae"] = float(np.abs(values).mean())
            metrics[f"{name}_rmse"] = float(np.sqrt((values**2).mean()))
    for name in ("energy_mae", "energy_rmse", "forces_mae", "forces_rmse"):
        if name in metrics:
            metrics[f"{name}_kcal_mol"] = metrics[name] / KCAL_PER_MOL
    return metrics

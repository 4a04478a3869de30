"""Training losses on energies (per atom), forces, stress and dipoles."""

import math

import torch

from ..data.batch import AtomsBatch

__all__ = ["elementwise_loss", "LossWeights", "potential_loss"]


def elementwise_loss(error: torch.Tensor, kind: str, delta: float) -> torch.Tensor:
    """Mean loss of ``error`` by kind: "mse", "huber" (threshold delta) or "logcosh" (scale delta).

    logcosh is delta * log(cosh(error / delta)) (the thesis' log(cosh(p x)) / p with p = 1/delta),
    written stably as |x| + softplus(-2|x|) - log 2.
    """
    if kind == "mse":
        return error.pow(2).mean()
    if kind == "huber":
        return torch.nn.functional.huber_loss(error, torch.zeros_like(error), delta=delta)
    if kind == "logcosh":
        x = (error / delta).abs()
        return delta * (x + torch.nn.functional.softplus(-2.0 * x) - math.log(2.0)).mean()
    raise ValueError(f"unknown loss {kind!r}; use 'mse', 'huber' or 'logcosh'")


class LossWeights:
    """Weights of the energy, force, stress and dipole terms and the loss kind."""

    def __init__(self, energy: float, forces: float, stress: float, kind: str = "mse", delta: float = 0.01,
                 dipole: float = 0.0):
        self.energy, self.forces, self.stress, self.dipole = energy, forces, stress, dipole
        self.kind, self.delta = kind, delta


def potential_loss(pred: dict[str, torch.Tensor], batch: AtomsBatch, weights: LossWeights) -> torch.Tensor:
    """Weighted loss: per-atom energy error (eV/atom), force components (eV/A), stress (eV/A^3),
    dipole components (e*A)."""
    total = pred["energy"].new_zeros(())
    if weights.energy and batch.energy is not None:
        n_atoms = torch.bincount(batch.batch, minlength=batch.num_graphs).to(pred["energy"].dtype)
        error = (pred["energy"] - batch.energy.to(pred["energy"].dtype)) / n_atoms
        total = total + weights.energy * elementwise_loss(error, weights.kind, weights.delta)
    if weights.forces and batch.forces is not None:
        total = total + weights.forces * elementwise_loss(pred["forces"] - batch.forces, weights.kind, weights.delta)
    if weights.stress and batch.stress is not None and "stress" in pred:
        mask = batch.has_stress
        error = (pred["stress"] - batch.stress)[mask]
        total = total + weights.stress * elementwise_loss(error, weights.kind, weights.delta)
    if weights.dipole and batch.dipole is not None and "dipole" in pred:
        error = (pred["dipole"] - batch.dipole)[batch.has_dipole]
        total = total + weights.dipole * elementwise_loss(error, weights.kind, weights.delta)
    return total

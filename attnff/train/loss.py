"""Training losses on energies (per atom), forces, stress and dipoles.

Each term is a sum of element-wise losses divided by its count of elements. The sums and counts
are kept apart (``loss_terms``) so that data-parallel ranks can divide their partial sums by the
counts of the whole global batch: the sum over ranks is then exactly the one-process loss.
"""

import math

import torch

from ..data.batch import AtomsBatch

__all__ = ["elementwise_loss", "LossWeights", "loss_terms", "combine_terms", "potential_loss"]


def elementwise_loss(error: torch.Tensor, kind: str, delta: float, reduction: str = "mean") -> torch.Tensor:
    """Loss of ``error`` by kind: "mse", "huber" (threshold delta) or "logcosh" (scale delta),
    averaged ("mean") or summed ("sum") over the elements.

    logcosh is delta * log(cosh(error / delta)) (the thesis' log(cosh(p x)) / p with p = 1/delta),
    written stably as |x| + softplus(-2|x|) - log 2.
    """
    if kind == "mse":
        values = error.pow(2)
    elif kind == "huber":
        values = torch.nn.functional.huber_loss(error, torch.zeros_like(error), delta=delta, reduction="none")
    elif kind == "logcosh":
        x = (error / delta).abs()
        values = delta * (x + torch.nn.functional.softplus(-2.0 * x) - math.log(2.0))
    else:
        raise ValueError(f"unknown loss {kind!r}; use 'mse', 'huber' or 'logcosh'")
    if reduction == "sum":
        return values.sum()
    if reduction == "mean":
        return values.mean()
    raise ValueError(f"unknown reduction {reduction!r}; use 'mean' or 'sum'")


class LossWeights:
    """Weights of the energy, force, stress and dipole terms and the loss kind."""

    def __init__(self, energy: float, forces: float, stress: float, kind: str = "mse", delta: float = 0.01,
                 dipole: float = 0.0):
        self.energy, self.forces, self.stress, self.dipole = energy, forces, stress, dipole
        self.kind, self.delta = kind, delta

    def vector(self, like: torch.Tensor) -> torch.Tensor:
        """(4,) weights of the energy, force, stress and dipole terms (the order of ``loss_terms``)."""
        return torch.tensor([self.energy, self.forces, self.stress, self.dipole], dtype=like.dtype,
                            device=like.device)


def loss_terms(pred: dict[str, torch.Tensor], batch: AtomsBatch,
               weights: LossWeights) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed element-wise losses and their element counts, per term.

    Terms, in order: per-atom energy error (eV/atom, one element per structure), force components
    (eV/A), stress components (eV/A^3, structures with a stress target), dipole components (e*A,
    structures with a dipole target). A term whose weight is zero or whose target is missing has
    sum and count 0.

    Returns:
        sums: (4,) tensor in the energies' dtype, differentiable.
        counts: (4,) float64 tensor, no gradient.
    """
    zero = pred["energy"].new_zeros(())
    sums, counts = [zero, zero, zero, zero], [0, 0, 0, 0]
    if weights.energy and batch.energy is not None:
        n_atoms = torch.bincount(batch.batch, minlength=batch.num_graphs).to(pred["energy"].dtype)
        error = (pred["energy"] - batch.energy.to(pred["energy"].dtype)) / n_atoms
        sums[0], counts[0] = elementwise_loss(error, weights.kind, weights.delta, "sum"), error.numel()
    if weights.forces and batch.forces is not None:
        error = pred["forces"] - batch.forces
        sums[1], counts[1] = elementwise_loss(error, weights.kind, weights.delta, "sum"), error.numel()
    if weights.stress and batch.stress is not None and "stress" in pred:
        error = (pred["stress"] - batch.stress)[batch.has_stress]
        sums[2], counts[2] = elementwise_loss(error, weights.kind, weights.delta, "sum"), error.numel()
    if weights.dipole and batch.dipole is not None and "dipole" in pred:
        error = (pred["dipole"] - batch.dipole)[batch.has_dipole]
        sums[3], counts[3] = elementwise_loss(error, weights.kind, weights.delta, "sum"), error.numel()
    sums = torch.stack([term.to(pred["energy"].dtype) for term in sums])
    return sums, torch.tensor(counts, dtype=torch.float64)


def combine_terms(sums: torch.Tensor, counts: torch.Tensor, weights: LossWeights) -> torch.Tensor:
    """The weighted loss sum_k w_k sums_k / counts_k over the terms with a nonzero count.

    counts may be those of a larger batch than the one ``sums`` came from (data-parallel ranks
    pass the counts of the global batch).
    """
    counts = counts.to(sums.device, sums.dtype)
    present = counts > 0
    scaled = torch.where(present, sums / torch.where(present, counts, torch.ones_like(counts)), sums.new_zeros(()))
    return (weights.vector(sums) * scaled).sum()


def potential_loss(pred: dict[str, torch.Tensor], batch: AtomsBatch, weights: LossWeights) -> torch.Tensor:
    """Weighted loss of one batch: the mean of each term over its elements (see ``loss_terms``)."""
    sums, counts = loss_terms(pred, batch, weights)
    return combine_terms(sums, counts, weights)

"""The geometry a model sees: what the Potential hands to every model's forward.

Every model's forward(inputs) returns a dict: "energies" (N,) per-atom energies in
model units (the Potential scales them to eV), and optionally "dipole" (B, 3) in e*Angstrom.
"""

from dataclasses import dataclass

import torch

__all__ = ["ModelInputs"]


@dataclass
class ModelInputs:
    """Differentiable geometry and graph of a batch of B structures with N atoms and E edges.

    Attributes:
        species: (N,) index into the potential's species list.
        numbers: (N,) atomic numbers.
        positions: (N, 3) Angstrom (strained, part of the autograd graph).
        vec_ij: (E, 3) Angstrom, r_i - r_j (receiver minus sender image).
        d_ij: (E,) Angstrom.
        edge_index: (2, E), row 0 receiver i, row 1 sender j.
        batch: (N,) structure index of each atom.
        num_graphs: B.
        charge: (B,) net charge in e.
        spin: (B,) spin quantum number S (multiplicity = 2S + 1).
    """

    species: torch.Tensor
    numbers: torch.Tensor
    positions: torch.Tensor
    vec_ij: torch.Tensor
    d_ij: torch.Tensor
    edge_index: torch.Tensor
    batch: torch.Tensor
    num_graphs: int
    charge: torch.Tensor
    spin: torch.Tensor

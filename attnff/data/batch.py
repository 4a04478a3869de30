"""AtomsBatch: structures as tensors, built once with the potential's dtype and device."""

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace

import numpy as np
import torch

from ..neighbors import neighbor_list
from .records import Configuration

__all__ = ["AtomsBatch", "collate"]


@dataclass
class AtomsBatch:
    """B structures with N atoms and E edges in all.

    Attributes:
        numbers: (N,) int64 atomic numbers.
        positions: (N, 3) Angstrom.
        cell: (B, 3, 3) Angstrom, rows are lattice vectors.
        pbc: (B, 3) bool.
        batch: (N,) int64 structure index of each atom.
        edge_index: (2, E) int64, row 0 receiver i, row 1 sender j.
        shifts: (E, 3) integer cell shifts of the sender image (stored as float).
        charge: (B,) net charge in e.
        spin: (B,) spin quantum number S.
        energy: (B,) eV, targets only.
        forces: (N, 3) eV/Angstrom, targets only.
        stress: (B, 3, 3) eV/Angstrom^3, targets only.
        has_stress: (B,) bool, which structures carry a stress target.
        dipole: (B, 3) e*Angstrom, targets only.
        has_dipole: (B,) bool, which structures carry a dipole target.
    """

    numbers: torch.Tensor
    positions: torch.Tensor
    cell: torch.Tensor
    pbc: torch.Tensor
    batch: torch.Tensor
    edge_index: torch.Tensor
    shifts: torch.Tensor
    charge: torch.Tensor
    spin: torch.Tensor
    energy: torch.Tensor | None = None
    forces: torch.Tensor | None = None
    stress: torch.Tensor | None = None
    has_stress: torch.Tensor | None = None
    dipole: torch.Tensor | None = None
    has_dipole: torch.Tensor | None = None

    @property
    def num_graphs(self) -> int:
        return self.cell.shape[0]

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> "AtomsBatch":
        """Copy to a device; floating tensors to ``dtype``, except energy targets, which stay
        float64 (total energies of thousands of eV need more than float32's ~7 digits)."""
        moved = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                cast = dtype if (dtype is not None and value.is_floating_point() and f.name != "energy") else None
                value = value.to(device=device, dtype=cast)
            moved[f.name] = value
        return replace(self, **moved)


def collate(configs: Sequence[Configuration], cutoff: float,
            graphs: Sequence[tuple[np.ndarray, np.ndarray]] | None = None) -> AtomsBatch:
    """Stack configurations into one AtomsBatch (float64, CPU).

    Args:
        configs: the structures.
        cutoff: neighbour cutoff in Angstrom (ignored when ``graphs`` is given).
        graphs: precomputed (edge_index (2, E), shifts (E, 3)) per structure.
    """
    if graphs is None:
        graphs = [neighbor_list(c.positions, c.cell, c.pbc, cutoff) for c in configs]
    offsets = np.cumsum([0] + [len(c) for c in configs[:-1]])
    edge_index = np.concatenate([g[0] + off for g, off in zip(graphs, offsets)], axis=1)
    shifts = np.concatenate([g[1] for g in graphs], axis=0)
    as_float = lambda x: torch.as_tensor(np.asarray(x), dtype=torch.float64)  # noqa: E731
    labelled = all(c.energy is not None for c in configs)
    with_forces = all(c.forces is not None for c in configs)
    has_stress = [c.stress is not None for c in configs]
    has_dipole = [c.dipole is not None for c in configs]
    return AtomsBatch(
        numbers=torch.as_tensor(np.concatenate([c.numbers for c in configs]), dtype=torch.long),
        positions=as_float(np.concatenate([c.positions for c in configs])),
        cell=as_float(np.stack([c.cell for c in configs])),
        pbc=torch.as_tensor(np.stack([c.pbc for c in configs]), dtype=torch.bool),
        batch=torch.repeat_interleave(torch.arange(len(configs)), torch.tensor([len(c) for c in configs])),
        edge_index=torch.as_tensor(edge_index, dtype=torch.long),
        shifts=as_float(shifts),
        charge=as_float([c.charge for c in configs]),
        spin=as_float([(c.multiplicity - 1) / 2 for c in configs]),
        energy=as_float([c.energy for c in configs]) if labelled else None,
        forces=as_float(np.concatenate([c.forces for c in configs])) if with_forces else None,
        stress=as_float(np.stack([c.stress if c.stress is not None else np.zeros((3, 3)) for c in configs]))
        if any(has_stress) else None,
        has_stress=torch.tensor(has_stress) if any(has_stress) else None,
        dipole=as_float(np.stack([c.dipole if c.dipole is not None else np.zeros(3) for c in configs]))
        if any(has_dipole) else None,
        has_dipole=torch.tensor(has_dipole) if any(has_dipole) else None,
    )

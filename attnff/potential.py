"""Potential: a model plus species, reference energies and scale; owns geometry and derivatives.

Energy of structure b:  E_b = sum_{i in b} (scale * eps_i + E_ref[Z_i]),
with eps_i the model's per-atom output. Forces F = -dE/dr and stress
sigma = (1/V) dE/d(strain) come from one ``torch.autograd.grad`` call.
"""

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from .data.batch import AtomsBatch
from .models import AttnModel, ModelInputs, build_model, config_to_dict
from .nn import segment_sum

__all__ = ["Potential", "fit_reference_energies"]


class Potential(nn.Module):
    """Wraps any registry model into a potential in eV and Angstrom.

    Args:
        model_name: registry name ("jat", ...).
        model_config: that model's config dataclass.
        species: atomic numbers the potential knows, in embedding order.
        reference_energies: per-species energy in eV added to each atom (float64 kept).
        scale: energy scale in eV applied to the model's per-atom output.
    """

    species_index: torch.Tensor  # buffer: atomic number -> embedding row
    scale: torch.Tensor  # buffer, eV

    def __init__(self, model_name: str, model_config: Any, species: Sequence[int],
                 reference_energies: Sequence[float] | None = None, scale: float = 1.0):
        super().__init__()
        self.model_name = model_name
        self.species = tuple(int(z) for z in species)
        self.model: AttnModel = build_model(model_name, model_config, len(self.species))
        lookup = torch.full((119,), -1, dtype=torch.long)
        lookup[list(self.species)] = torch.arange(len(self.species))
        self.register_buffer("species_index", lookup, persistent=False)
        self.register_buffer("scale", torch.tensor(float(scale)))
        refs = reference_energies if reference_energies is not None else [0.0] * len(self.species)
        # Kept as float64 whatever the model dtype: total energies of molecules are
        # thousands of eV, beyond float32's resolution of meV.
        self._reference_energies = torch.tensor(list(refs), dtype=torch.float64)
        self._compiled_forward: Callable[[ModelInputs], dict[str, torch.Tensor]] | None = None

    @property
    def cutoff(self) -> float:
        return self.model.cutoff

    @property
    def supports_charge_spin(self) -> bool:
        return self.model.supports_charge_spin

    @property
    def has_dipole(self) -> bool:
        return self.model.has_dipole

    @property
    def recompute_layers(self) -> bool:
        """Recompute each layer in the backward pass: peak memory / about the layer count, time x ~1.3."""
        return self.model.recompute_layers

    @recompute_layers.setter
    def recompute_layers(self, value: bool) -> None:
        if value and not self.model.supports_recompute:
            raise ValueError(f"model {self.model_name!r} does not support layer recomputation")
        self.model.recompute_layers = bool(value)

    def compile_model(self) -> None:
        """Evaluate the model through ``torch.compile`` (dynamic shapes) from the next call on.

        The module and its parameter names stay as they are; ``uncompile_model`` goes back to eager calls.
        """
        self._compiled_forward = torch.compile(self.model.forward, dynamic=True)

    def uncompile_model(self) -> None:
        self._compiled_forward = None

    @property
    def compiled(self) -> bool:
        return self._compiled_forward is not None

    @property
    def model_config(self) -> dict[str, Any]:
        return config_to_dict(self.model.config)

    @property
    def reference_energies(self) -> list[float]:
        return self._reference_energies.tolist()

    def set_reference_energies(self, values: Sequence[float]) -> None:
        self._reference_energies = torch.tensor(list(values), dtype=torch.float64)

    def forward(self, batch: AtomsBatch, forces: bool = True, stress: bool = False,
                training: bool = False) -> dict[str, torch.Tensor]:
        """Evaluate a batch.

        Args:
            batch: AtomsBatch on this potential's device and dtype.
            forces: also return forces (N, 3) eV/Angstrom.
            stress: also return stress (B, 3, 3) eV/Angstrom^3 (periodic structures).
            training: keep the graph of the derivatives (for force/stress losses).

        Returns:
            dict with "energy" (B,) eV float64, "energies" (N,) eV float64 per atom,
            "forces", "stress" as requested, and "dipole" (B, 3) e*Angstrom for models
            with a dipole head.
        """
        positions = batch.positions
        if forces and not positions.requires_grad:
            positions = positions.detach().requires_grad_(True)
        strain = None
        if stress:
            strain = torch.zeros_like(batch.cell, requires_grad=True)
            symmetric = 0.5 * (strain + strain.transpose(1, 2))  # (B, 3, 3)
            positions = positions + torch.einsum("ni,nij->nj", positions, symmetric[batch.batch])
            cell = batch.cell + torch.bmm(batch.cell, symmetric)
        else:
            cell = batch.cell
        i, j = batch.edge_index
        # sender image r_j + S @ cell; vec_ij = r_i - (r_j + S @ cell)
        if batch.num_graphs == 1:  # one cell: a (E, 3) @ (3, 3) product, no per-edge copy of the cell
            image_offset = batch.shifts @ cell[0]
        else:
            image_offset = torch.einsum("ek,ekl->el", batch.shifts, cell[batch.batch[i]])
        vec_ij = positions.index_select(0, i) - positions.index_select(0, j) - image_offset
        d_ij = torch.linalg.vector_norm(vec_ij, dim=-1)
        inputs = ModelInputs(
            species=self.species_index[batch.numbers], numbers=batch.numbers, positions=positions,
            vec_ij=vec_ij, d_ij=d_ij, edge_index=batch.edge_index, batch=batch.batch,
            num_graphs=batch.num_graphs, charge=batch.charge, spin=batch.spin,
        )
        model_out = (self._compiled_forward or self.model)(inputs)
        atom_energies = model_out["energies"] * self.scale
        reference = self._reference_energies.to(positions.device)[inputs.species]
        energies = atom_energies.double() + reference
        energy = segment_sum(energies, batch.batch, batch.num_graphs)
        out = {"energy": energy, "energies": energies}
        if "dipole" in model_out:
            out["dipole"] = model_out["dipole"]
        wrt = ([positions] if forces else []) + ([strain] if stress else [])
        if wrt:
            model_energy = segment_sum(atom_energies, batch.batch, batch.num_graphs)
            grads = torch.autograd.grad(model_energy.sum(), wrt, create_graph=training, allow_unused=True)
            if forces:
                out["forces"] = -grads[0] if grads[0] is not None else torch.zeros_like(positions)
            if stress:
                volume = torch.linalg.det(batch.cell).abs()
                g = grads[-1] if grads[-1] is not None else torch.zeros_like(batch.cell)
                out["stress"] = g / volume.clamp(min=1e-12).view(-1, 1, 1)
        return out

    def metadata(self) -> dict[str, Any]:
        """What a potential file needs to rebuild this object (JSON-ready)."""
        return {
            "model": self.model_name,
            "config": self.model_config,
            "species": list(self.species),
            "reference_energies": self.reference_energies,
            "scale": float(self.scale),
            "cutoff": self.cutoff,
            "supports_charge_spin": self.supports_charge_spin,
        }

    @classmethod
    def from_metadata(cls, meta: dict[str, Any]) -> "Potential":
        from .models import config_from_dict

        config = config_from_dict(meta["model"], meta["config"])
        return cls(meta["model"], config, meta["species"], meta["reference_energies"], meta["scale"])


def fit_reference_energies(numbers_per_config: Sequence[np.ndarray], energies: np.ndarray,
                           species: Sequence[int]) -> np.ndarray:
    """Per-species reference energies (eV) by least squares of E on composition counts."""
    counts = np.stack([[np.count_nonzero(n == z) for z in species] for n in numbers_per_config]).astype(float)
    solution, *_ = np.linalg.lstsq(counts, np.asarray(energies, dtype=float), rcond=None)
    return solution

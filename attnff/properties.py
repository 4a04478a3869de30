"""PropertyModel: a property network (models.property) plus species, in the units of its targets.

Where a Potential predicts energies and forces, a PropertyModel predicts per-molecule properties
(HOMO, LUMO and gap in eV, dipole in Debye, ...) from geometry alone: no derivatives are taken.
It offers what the calculator and the model file need (species, cutoff, metadata) and a batched
``predict`` for lists of structures.
"""

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from .data.batch import AtomsBatch, collate
from .data.records import Configuration
from .data.validate import check_structure, resolve_charge_spin
from .errors import ChargeSpinError
from .models import AttnModel, ModelInputs, config_from_dict, config_to_dict
from .models.property import PropertyConfig, PropertyNet

__all__ = ["PropertyModel", "KIND"]

#: the metadata "kind" of a property model file (a potential file has none)
KIND = "properties"


class PropertyModel(nn.Module):
    """Per-molecule properties from any registry backbone.

    Args:
        model_name: registry name of the backbone.
        model_config: its config dataclass.
        species: atomic numbers known, in embedding order.
        property_config: PropertyConfig (targets, readout, ...).
    """

    species_index: torch.Tensor  # buffer: atomic number -> embedding row

    def __init__(self, model_name: str, model_config: Any, species: Sequence[int], property_config: PropertyConfig):
        super().__init__()
        self.model_name = model_name
        self.species = tuple(int(z) for z in species)
        self.property_config = property_config
        self.net = PropertyNet(model_name, model_config, len(self.species), property_config)
        lookup = torch.full((119,), -1, dtype=torch.long)
        lookup[list(self.species)] = torch.arange(len(self.species))
        self.register_buffer("species_index", lookup, persistent=False)

    # what the calculator asks of any model it evaluates
    @property
    def model(self) -> AttnModel:
        return self.net.backbone

    @property
    def cutoff(self) -> float:
        return self.net.backbone.cutoff

    @property
    def targets(self) -> tuple[str, ...]:
        return self.property_config.targets

    @property
    def units(self) -> dict[str, str]:
        return dict(zip(self.targets, self.property_config.units or ("",) * len(self.targets)))

    @property
    def supports_charge_spin(self) -> bool:
        """Property models are trained on neutral closed-shell molecules only."""
        return False

    @property
    def has_dipole(self) -> bool:
        """True when the dipole vector (not only its magnitude) is predicted."""
        return self.property_config.vector_dipole

    @property
    def recompute_layers(self) -> bool:
        return False

    @recompute_layers.setter
    def recompute_layers(self, value: bool) -> None:
        if value:
            raise ValueError("property models do not recompute layers (no forces are taken)")

    @property
    def compiled(self) -> bool:
        return False

    def compile_model(self) -> None:
        raise ValueError("property models run uncompiled")

    def uncompile_model(self) -> None:
        """Nothing to undo: property models always run uncompiled."""

    @property
    def model_config(self) -> dict[str, Any]:
        return config_to_dict(self.net.backbone.config)

    def inputs(self, batch: AtomsBatch) -> ModelInputs:
        """The model's inputs for a batch of (non-periodic or periodic) structures; no gradients."""
        i, j = batch.edge_index
        image_offset = torch.einsum("ek,ekl->el", batch.shifts, batch.cell[batch.batch[i]])
        vec_ij = batch.positions.index_select(0, i) - batch.positions.index_select(0, j) - image_offset
        return ModelInputs(species=self.species_index[batch.numbers], numbers=batch.numbers,
                           positions=batch.positions, vec_ij=vec_ij, d_ij=torch.linalg.vector_norm(vec_ij, dim=-1),
                           edge_index=batch.edge_index, batch=batch.batch, num_graphs=batch.num_graphs,
                           charge=batch.charge, spin=batch.spin)

    def forward(self, batch: AtomsBatch) -> dict[str, torch.Tensor]:
        """{"targets": (B, T) in target units, and with a vector dipole head "dipole_vector": (B, 3) e*Angstrom}."""
        return self.net(self.inputs(batch))

    @torch.no_grad()
    def predict(self, structures: Sequence, batch_size: int = 64, dtype: torch.dtype = torch.float32,
                device: str | torch.device = "cpu") -> dict[str, np.ndarray]:
        """Properties of many structures (ase.Atoms or Configuration), evaluated ``batch_size`` at a time.

        Returns:
            {target: (M,) array in the target's unit}, plus "dipole_vector" (M, 3) e*Angstrom with a
            vector dipole head.

        Raises:
            InvalidStructureError: an unknown element, non-finite positions or overlapping atoms.
            ChargeSpinError: a structure with a net charge or unpaired electrons.
        """
        configs = [self._configuration(s, k) for k, s in enumerate(structures)]
        was_training = self.training
        self.eval()
        model = self.to(device=device, dtype=dtype)
        parts: dict[str, list[np.ndarray]] = {}
        for start in range(0, len(configs), batch_size):
            out = model(collate(configs[start:start + batch_size], self.cutoff).to(device, dtype))
            for k, name in enumerate(self.targets):
                parts.setdefault(name, []).append(out["targets"][:, k].double().cpu().numpy())
            if "dipole_vector" in out:
                parts.setdefault("dipole_vector", []).append(out["dipole_vector"].double().cpu().numpy())
        self.train(was_training)
        if not configs:
            return {name: np.zeros(0) for name in self.targets}
        return {name: np.concatenate(values) for name, values in parts.items()}

    def _configuration(self, structure, position: int) -> Configuration:
        if isinstance(structure, Configuration):
            return structure
        numbers, positions = structure.numbers, structure.positions
        cell, pbc = np.asarray(structure.cell.array, dtype=float), np.asarray(structure.pbc, dtype=bool)
        check_structure(numbers, positions, cell, pbc, self.species)
        charge, multiplicity = resolve_charge_spin(numbers, structure.info)
        if charge != 0 or multiplicity != 1:
            raise ChargeSpinError(f"structure {position}: this property model describes neutral closed-shell "
                                  f"molecules only; got charge {charge}, multiplicity {multiplicity}")
        return Configuration(numbers=numbers.copy(), positions=positions.copy(), cell=cell, pbc=pbc)

    def metadata(self) -> dict[str, Any]:
        """What a model file needs to rebuild this object (JSON-ready)."""
        config = self.property_config
        return {
            "kind": KIND,
            "model": self.model_name,
            "config": self.model_config,
            "species": list(self.species),
            "properties": {**{k: getattr(config, k) for k in config.__dataclass_fields__},
                           "targets": list(config.targets), "extensive": list(config.extensive),
                           "units": list(config.units)},
            "cutoff": self.cutoff,
            "supports_charge_spin": False,
        }

    @classmethod
    def from_metadata(cls, meta: dict[str, Any]) -> "PropertyModel":
        values = dict(meta["properties"])
        config = PropertyConfig(**values)
        return cls(meta["model"], config_from_dict(meta["model"], meta["config"]), meta["species"], config)

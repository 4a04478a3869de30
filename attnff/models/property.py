"""Property models: any registry backbone's per-atom features pooled into per-molecule targets
(HOMO, LUMO, gap, dipole, polarizability, ...; docs/models/pooling.md).

The backbone's energy head (``AttnModel.energy_head``) is dropped; ``represent`` gives the per-atom
features h_i (N, F), and the readout, a config choice, turns them into T outputs per molecule:
    "sum":        y_b = sum_{i in b} MLP(h_i)
    "mean":       y_b = (1/n_b) sum_{i in b} MLP(h_i)
    "attention":  y_b = SetTransformer({h_i : i in b})  (models.pooling: SAB or ISAB encoder, PMA, masked padding)
(Buterez et al. 2023). Targets are standardised: the network predicts z = (y - shift) / scale per target,
with shift and scale the training set's mean and standard deviation. An extensive target (U0,
polarizability, ...) is predicted as y_b = sum_{i in b} ref[Z_i] + scale * n_b * y'_b for a mean or
attention readout y'_b (for "sum" the sum itself), the per-element references fitted by least squares,
so every readout can serve it and "sum" keeps its usual meaning.

A "dipole" target can also come from CMRET's equivariant dipole head (``dipole_head="vector"``):
mu = sum_i (mu_i + q_i (r_i - r_0)) in e*Angstrom (models.cmret), and the target is |mu| in Debye.
"""

from dataclasses import dataclass
from typing import Literal

import torch
from ase import units
from torch import nn

from ..nn import MLP, segment_sum
from . import build_model
from .base import AttnModel
from .inputs import ModelInputs
from .pooling import AttentionPooling

__all__ = ["PropertyConfig", "PropertyNet", "READOUTS"]

READOUTS = ("sum", "mean", "attention")


@dataclass(frozen=True)
class PropertyConfig:
    """What a property model predicts and how it pools.

    Attributes:
        targets: names of the per-molecule targets, in output order (QM9: attnff.data.qm9.TARGETS).
        readout: "sum", "mean" or "attention" (Set Transformer).
        extensive: the targets that grow with the molecule (per-element references, sum-like scaling).
        dipole_head: "scalar" (the "dipole" target pooled like the others) or "vector" (its magnitude
            from CMRET's equivariant dipole head; needs model cmret with dipole: true).
        pooling_width: attention width of the Set Transformer.
        pooling_heads: its attention heads.
        pooling_seeds: k seed vectors of its PMA.
        pooling_inducing: m inducing points of ISAB encoder blocks (0: SAB).
        hidden: hidden width of the per-atom MLP of "sum" and "mean" (0: the feature width).
        units: unit of each target, for cards and outputs (filled by the trainer).
    """

    targets: tuple[str, ...]
    readout: Literal["sum", "mean", "attention"] = "attention"
    extensive: tuple[str, ...] = ()
    dipole_head: Literal["scalar", "vector"] = "scalar"
    pooling_width: int = 64
    pooling_heads: int = 4
    pooling_seeds: int = 4
    pooling_inducing: int = 0
    hidden: int = 0
    units: tuple[str, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "targets", tuple(self.targets))
        object.__setattr__(self, "extensive", tuple(self.extensive))
        object.__setattr__(self, "units", tuple(self.units))
        if not self.targets or len(set(self.targets)) != len(self.targets):
            raise ValueError(f"properties.targets must name distinct targets, not {list(self.targets)}")
        if self.readout not in READOUTS:
            raise ValueError(f"properties.readout must be one of {READOUTS}, not {self.readout!r}")
        if self.dipole_head not in ("scalar", "vector"):
            raise ValueError(f"properties.dipole_head must be 'scalar' or 'vector', not {self.dipole_head!r}")
        if self.dipole_head == "vector" and "dipole" not in self.targets:
            raise ValueError("properties.dipole_head 'vector' needs 'dipole' among the targets")
        unknown = sorted(set(self.extensive) - set(self.targets))
        if unknown:
            raise ValueError(f"properties.extensive names {unknown}, which are not targets")
        if self.units and len(self.units) != len(self.targets):
            raise ValueError("properties.units needs one unit per target")
        if self.pooling_width % self.pooling_heads:
            raise ValueError(f"pooling_width {self.pooling_width} is not divisible by pooling_heads "
                             f"{self.pooling_heads}")

    @property
    def vector_dipole(self) -> bool:
        return self.dipole_head == "vector"

    @property
    def pooled_targets(self) -> tuple[str, ...]:
        """Targets that come out of the readout (all but a vector-head dipole)."""
        return tuple(t for t in self.targets if not (t == "dipole" and self.vector_dipole))


class PropertyNet(nn.Module):
    """Backbone + readout -> (B, T) targets in their units.

    Args:
        model_name: registry name of the backbone ("jat", "cmret", "geomatt").
        model_config: the backbone's config.
        num_species: embedding rows of the backbone.
        config: PropertyConfig.
    """

    shift: torch.Tensor  # buffer (T,): target mean
    scale: torch.Tensor  # buffer (T,): target standard deviation
    references: torch.Tensor  # buffer (num_species, T): per-element part of extensive targets (else 0)
    extensive_mask: torch.Tensor  # buffer (T,) bool

    def __init__(self, model_name: str, model_config, num_species: int, config: PropertyConfig):
        super().__init__()
        self.config = config
        self.backbone: AttnModel = build_model(model_name, model_config, num_species)
        if config.vector_dipole and not self.backbone.has_dipole:
            raise ValueError(f"properties.dipole_head 'vector' needs a backbone with a dipole head (cmret with "
                             f"dipole: true), not {model_name}")
        dropped = self.backbone.energy_head + (("dipole_output",) if self.backbone.has_dipole and
                                               not config.vector_dipole else ())
        for name in dropped:
            setattr(self.backbone, name, None)
        width, pooled = self.backbone.feature_width, len(config.pooled_targets)
        self.readout: nn.Module | None
        if not pooled:  # only a vector-head dipole
            self.readout = None
        elif config.readout == "attention":
            self.readout = AttentionPooling(width, config.pooling_width, config.pooling_heads,
                                                       config.pooling_seeds, pooled, config.pooling_inducing)
        else:
            self.readout = MLP((width, config.hidden or width, pooled))
        count = len(config.targets)
        self.register_buffer("shift", torch.zeros(count))
        self.register_buffer("scale", torch.ones(count))
        self.register_buffer("references", torch.zeros(num_species, count))
        self.register_buffer("extensive_mask", torch.tensor([t in config.extensive for t in config.targets]))
        self._pooled_columns = [config.targets.index(t) for t in config.pooled_targets]
        self._dipole_column = config.targets.index("dipole") if config.vector_dipole else None

    def pool(self, features: torch.Tensor, inputs: ModelInputs) -> torch.Tensor:
        """(N, F) atom features -> (B, T') standardised readout outputs (T' pooled targets)."""
        b = inputs.num_graphs
        if self.readout is None:
            return features.new_zeros((b, 0))
        if self.config.readout == "attention":
            return self.readout(features, inputs.batch, b)
        summed = segment_sum(self.readout(features), inputs.batch, b)
        if self.config.readout == "sum":
            return summed
        return summed / torch.bincount(inputs.batch, minlength=b).clamp(min=1).to(summed.dtype).unsqueeze(-1)

    def forward(self, inputs: ModelInputs) -> dict[str, torch.Tensor]:
        """{"targets": (B, T) in target units, and with a vector dipole head "dipole_vector": (B, 3) e*Angstrom}."""
        representation = self.backbone.represent(inputs)
        b = inputs.num_graphs
        pooled = self.pool(representation["features"], inputs)
        columns = self._pooled_columns
        standardised = pooled.new_zeros((b, len(self.config.targets)))
        standardised[:, columns] = pooled
        extensive = self.extensive_mask.to(pooled.device)
        if self.config.readout != "sum":
            atoms = torch.bincount(inputs.batch, minlength=b).to(pooled.dtype).unsqueeze(-1)
            standardised = torch.where(extensive, standardised * atoms, standardised)
        references = segment_sum(self.references.to(pooled.dtype)[inputs.species], inputs.batch, b)
        offset = torch.where(extensive, references, self.shift.to(pooled.dtype))
        targets = offset + self.scale.to(pooled.dtype) * standardised
        out = {}
        if self._dipole_column is not None:
            vector = self.backbone.dipole_vector(representation, inputs)
            norm = torch.sqrt((vector * vector).sum(-1) + 1e-12) / units.Debye  # Debye
            targets = torch.cat([targets[:, :self._dipole_column], norm.unsqueeze(-1),
                                 targets[:, self._dipole_column + 1:]], dim=-1)
            out["dipole_vector"] = vector
        out["targets"] = targets
        return out

"""The contract every attnff model fulfils: what Potential, calculator, memory policy and attention maps rely on.

A model is an ``AttnModel`` built as ``Model(config, num_species)`` from a frozen config dataclass
(``ModelConfig``). ``forward(inputs)`` takes ``ModelInputs`` and returns a dict with "energies" (N,)
per-atom energies in model units (the Potential scales them to eV) and, for models with a dipole
head, "dipole" (B, 3) in e*Angstrom. Everything else a caller may ask a model is declared here,
with the default that a model without the feature gets, so no caller probes attributes.
"""

from typing import ClassVar, Protocol

import torch
from torch import nn

from .inputs import ModelInputs

__all__ = ["AttnModel", "ModelConfig"]


class ModelConfig(Protocol):
    """What every model config (a frozen dataclass) offers besides its own hyperparameters."""

    @property
    def cutoff(self) -> float:
        """Graph cutoff in Angstrom: pairs at or beyond it contribute nothing."""
        ...

    @property
    def supports_charge_spin(self) -> bool:
        """True when the model takes net charge and spin as inputs (else neutral, lowest spin only)."""
        ...


class AttnModel(nn.Module):
    """Base class of attnff models.

    Attributes:
        config: the model's frozen config.
        cutoff: ``config.cutoff`` in Angstrom.
        supports_recompute: the model can recompute its layers in the backward pass (``nn.recompute``).
        recompute_layers: recompute now (set by the Potential; only where ``supports_recompute``).
        recompute_block_edges: above this many edges a recomputing model also runs each layer in blocks
            of receiving atoms (0: never; only local message-passing layers can).
        reuses_pair_list: the model derives costly structures from the pair list (GeomAtt's triplets)
            and reuses them while it gets the same ``edge_index`` tensor: the calculator then hands it
            the whole neighbour list, unchanged between list rebuilds, instead of a per-step selection.
    """

    #: submodules that map ``represent``'s features to energies (and nothing else): a property model
    #: (models.property) drops them and reads the features instead
    energy_head: ClassVar[tuple[str, ...]] = ()
    supports_recompute: ClassVar[bool] = False
    recompute_block_edges: ClassVar[int] = 0
    reuses_pair_list: ClassVar[bool] = False

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.cutoff = float(config.cutoff)
        self.recompute_layers = False

    @property
    def supports_charge_spin(self) -> bool:
        return bool(self.config.supports_charge_spin)

    @property
    def has_dipole(self) -> bool:
        """True when ``forward`` also returns a trained "dipole" (B, 3)."""
        return False

    @property
    def feature_width(self) -> int:
        """Width F of the per-atom features that ``represent`` returns."""
        raise NotImplementedError

    def represent(self, inputs: ModelInputs) -> dict[str, torch.Tensor]:
        """The per-atom representation before the energy head: "features" (N, F), and for equivariant
        models "vectors" (N, 3, F). ``forward`` is the energy head applied to it."""
        raise NotImplementedError

    def dipole_vector(self, representation: dict[str, torch.Tensor], inputs: ModelInputs) -> torch.Tensor:
        """(B, 3) dipole in e*Angstrom from ``represent``'s output, for models with a dipole head."""
        raise NotImplementedError(f"{type(self).__name__} has no dipole head")

    def autograd_values_per_pair(self) -> float | None:
        """Numbers a force call keeps per evaluated pair (for the memory policy), or None if unknown."""
        return None

    def attention_label(self, name: str) -> str:
        """Readable name of a recorded attention layer from its module name: "layers.0" -> "layer 1"."""
        indices = [int(part) for part in name.split(".") if part.isdigit()]
        return f"layer {indices[0] + 1}" if len(indices) == 1 else name

    def forward(self, inputs: ModelInputs) -> dict[str, torch.Tensor]:
        raise NotImplementedError

"""Attention maps: which atoms each attention layer of a potential weighs, for one structure.

The structure is evaluated once through the calculator's own path
(``AttnCalculator.batch_for``: checks, charge/spin, neighbour list) with the
model's attention layers recording (``attnff.nn.record_attention``). Each
layer's weights on pairs receiver i <- sender j become an N x N matrix per
head; pairs of i with several periodic images of j add up in entry (i, j), so
the self weight and i's own images share the diagonal.

JAT and CMRET record softmax weights: each row is non-negative and sums to 1.
GeomAtt records its alpha^(k)_ij, signed coefficients that are not normalised.
"""

from dataclasses import dataclass

import numpy as np
import torch
from ase import Atoms

from .calculator import AttnCalculator
from .nn import AttentionRecord, record_attention

__all__ = ["AttentionMaps", "attention_maps"]


@dataclass
class AttentionMaps:
    """Attention matrices of one structure with N atoms, for the L attention layers of a model with H heads.

    Attributes:
        model: registry name of the potential's model ("jat", "cmret", "geomatt").
        labels: (L,) layer names in evaluation order, e.g. "layer 1" or "stream order 3, layer 2".
        per_head: (L, H, N, N) weight of sender j (column) in the update of receiver i (row), per head;
            dimensionless. H = 1 for GeomAtt.
        softmax: True when each row of every head is a softmax (non-negative, summing to 1: JAT, CMRET);
            False for signed, unnormalised coefficients (GeomAtt).
    """

    model: str
    labels: list[str]
    per_head: np.ndarray
    softmax: bool

    @property
    def matrices(self) -> np.ndarray:
        """(L, N, N) the head average of ``per_head``."""
        return self.per_head.mean(axis=1)


def _matrix(record: AttentionRecord, order: torch.Tensor) -> np.ndarray:
    """(H, N, N) float64 from one record's pair weights, entries of repeated (i, j) pairs summed.

    ``order`` (N,) maps the batch's atom labels to the caller's (the calculator's spatial order).
    """
    num_atoms = order.shape[0]
    flat = order[record.receivers] * num_atoms + order[record.senders]  # (P,)
    weights = record.weights.to(torch.float64)  # (P, H)
    summed = weights.new_zeros((num_atoms * num_atoms, weights.shape[1])).index_add_(0, flat, weights)
    return summed.T.reshape(-1, num_atoms, num_atoms).cpu().numpy()


def attention_maps(calc: AttnCalculator, atoms: Atoms) -> AttentionMaps:
    """Attention matrices of every attention layer of ``calc``'s potential for ``atoms``.

    Args:
        calc: the calculator; its device, dtype, neighbour list and charge/spin rules are used.
        atoms: the structure (charge and multiplicity from ``atoms.info``, as for the calculator).

    Returns:
        AttentionMaps with per-head (L, H, N, N) matrices, rows receiver i, columns sender j.

    Raises:
        InvalidStructureError, ChargeSpinError: as ``AttnCalculator.batch_for``.
        ValueError: the potential's model has no recordable attention layer, or a layer ran other than once.
    """
    batch = calc.batch_for(atoms)
    model = calc.potential.model
    with record_attention(model) as records, torch.no_grad():
        calc.potential(batch, forces=False)
    if not records:
        raise ValueError(f"the {calc.potential.model_name} model has no recordable attention layer")
    layers = dict(model.named_modules())
    calls = {name: len(layer_records) for name, layer_records in records.items() if len(layer_records) != 1}
    if calls:
        raise ValueError(f"expected one call per attention layer, got {calls}")
    order = torch.as_tensor(calc.neighbors.order, device=batch.positions.device)
    per_head = np.stack([_matrix(layer_records[0], order) for layer_records in records.values()])
    return AttentionMaps(
        model=calc.potential.model_name,
        labels=[model.attention_label(name) for name in records],
        per_head=per_head,
        softmax=all(layers[name].softmax for name in records),
    )

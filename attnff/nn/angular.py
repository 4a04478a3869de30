"""Angular (three-body) invariants of an atom's neighbourhood, for models that otherwise see distances only.

For each receiver i and channel c the density A_i^{c,lm} = sum_j w_ij^c Y_lm(u_ij) of its neighbours'
directions u_ij = (r_i - r_j) / d_ij, weighted by learned, feature- and distance-dependent w_ij^c, is
contracted to rotation invariants B_i^{c,l} = sum_m (A_i^{c,lm})^2 for l = 1, 2 (the power spectrum of
SOAP and ACE: it depends on the angles between pairs of neighbours). The weights carry the enveloped
radial basis, so B changes smoothly as neighbours cross the cutoff.
"""

import math

import torch
from torch import nn

from .scatter import segment_sum

__all__ = ["AngularInvariants", "unit_harmonics"]

_SQRT3, _SQRT5, _SQRT15 = math.sqrt(3.0), math.sqrt(5.0), math.sqrt(15.0)


def unit_harmonics(vec: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """Real spherical harmonics of l = 1 and 2 of the directions vec / d, (E, 3), (E,) -> (E, 8).

    Component normalisation (sum_m Y_lm^2 = 2l + 1 for every direction); columns 0-2 are l = 1,
    columns 3-7 are l = 2, each set an orthonormal basis of its rotation representation.
    """
    x, y, z = (vec / d.unsqueeze(-1)).unbind(-1)
    return torch.stack([
        _SQRT3 * x, _SQRT3 * y, _SQRT3 * z,
        _SQRT15 * x * y, _SQRT15 * y * z, 0.5 * _SQRT5 * (3.0 * z * z - 1.0), _SQRT15 * x * z,
        0.5 * _SQRT15 * (x * x - y * y),
    ], dim=-1)


class AngularInvariants(nn.Module):
    """Per-atom angular invariants (N, F) from sender features, radial basis and edge directions.

    w_ij^c = (W_r rbf_ij)_c (W_h h_j)_c; B_i^{c,l} = sum_m (sum_j w_ij^c Y_lm(u_ij))^2;
    out_i = W_o log(1 + B_i) with W_o zero at start, so a model that gains this term starts as it was.

    Args:
        width: feature width F of h and of the output.
        num_basis: radial basis size K.
        channels: C, the number of weighted densities (2C invariants per atom).
    """

    def __init__(self, width: int, num_basis: int, channels: int):
        super().__init__()
        self.radial = nn.Linear(num_basis, channels, bias=False)
        self.sender = nn.Linear(width, channels, bias=False)
        self.out = nn.Linear(2 * channels, width)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, h: torch.Tensor, edge_index: torch.Tensor, rbf: torch.Tensor, harmonics: torch.Tensor):
        """h: (N, F); edge_index: (2, E); rbf: (E, K) enveloped; harmonics: (E, 8) -> (N, F)."""
        i, j = edge_index
        weights = self.radial(rbf) * self.sender(h).index_select(0, j)  # (E, C)
        density = segment_sum(weights.unsqueeze(-1) * harmonics.unsqueeze(1), i, h.shape[0])  # (N, C, 8)
        squares = density * density
        invariants = torch.cat([squares[..., :3].sum(-1), squares[..., 3:].sum(-1)], dim=-1)  # (N, 2C)
        return self.out(torch.log1p(invariants))

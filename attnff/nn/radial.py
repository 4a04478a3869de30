"""Radial basis expansions of interatomic distances.

All take d: (E,) in Angstrom and return (E, K). None includes the cutoff
envelope: models multiply by it so that one envelope serves every basis.
"""

import math

import torch
from torch import nn

__all__ = ["BesselBasis", "GaussianBasis", "ExpNormalBasis"]


class BesselBasis(nn.Module):
    """sqrt(2 / r_c) sin(n pi d / r_c) / d, n = 1..K (DimeNet, Eq. 7).

    Args:
        cutoff: r_c in Angstrom.
        num_basis: K.
        trainable: learn the frequencies n pi / r_c.
    """

    freqs: torch.Tensor  # buffer, or a Parameter when trainable
    prefactor: torch.Tensor  # buffer

    def __init__(self, cutoff: float, num_basis: int = 8, trainable: bool = False):
        super().__init__()
        freqs = torch.arange(1, num_basis + 1, dtype=torch.get_default_dtype()) * math.pi / cutoff
        if trainable:
            self.freqs = nn.Parameter(freqs)
        else:
            self.register_buffer("freqs", freqs)
        self.register_buffer("prefactor", torch.tensor(math.sqrt(2.0 / cutoff)))

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        d = d.unsqueeze(-1)
        return self.prefactor * torch.sin(self.freqs * d) / d


class GaussianBasis(nn.Module):
    """exp(-gamma (d - mu_k)^2) on an evenly spaced grid mu_k in [start, stop].

    Args:
        start, stop: grid ends in Angstrom.
        num_basis: K.
        gamma: width in 1/Angstrom^2; default 1 / (2 spacing^2).
        trainable: learn centres and widths.
    """

    def __init__(self, start: float, stop: float, num_basis: int, gamma: float | None = None,
                 trainable: bool = False):
        super().__init__()
        centres = torch.linspace(start, stop, num_basis, dtype=torch.get_default_dtype())
        spacing = (stop - start) / max(num_basis - 1, 1)
        gammas = torch.full((num_basis,), gamma if gamma is not None else 0.5 / spacing**2)
        if trainable:
            self.centres, self.gammas = nn.Parameter(centres), nn.Parameter(gammas)
        else:
            self.register_buffer("centres", centres)
            self.register_buffer("gammas", gammas)

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        return torch.exp(-self.gammas * (d.unsqueeze(-1) - self.centres) ** 2)


class ExpNormalBasis(nn.Module):
    """Gaussians in exp(-d) space: exp(-beta_k (exp(-d) - mu_k)^2) (PhysNet; CMRET's radial basis).

    Args:
        cutoff: r_c in Angstrom (the centres span exp(-r_c)..1).
        num_basis: K.
        trainable: learn centres and widths (the CMRET default).
    """

    def __init__(self, cutoff: float, num_basis: int = 20, trainable: bool = True):
        super().__init__()
        low = math.exp(-cutoff)
        centres = torch.linspace(low, 1.0, num_basis, dtype=torch.get_default_dtype())
        betas = torch.full((num_basis,), (2.0 / num_basis * (1.0 - low)) ** -2)
        if trainable:
            self.centres, self.betas = nn.Parameter(centres), nn.Parameter(betas)
        else:
            self.register_buffer("centres", centres)
            self.register_buffer("betas", betas)

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        return torch.exp(-self.betas * (torch.exp(-d).unsqueeze(-1) - self.centres) ** 2)

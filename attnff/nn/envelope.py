"""Cutoff envelopes phi(d): 1 at d = 0, exactly 0 for d >= cutoff, smooth in between."""

import math

import torch
from torch import nn

__all__ = ["CosineEnvelope", "PolynomialEnvelope", "make_envelope"]


class CosineEnvelope(nn.Module):
    """phi(d) = (cos(pi d / r_c) + 1) / 2 inside the cutoff (value and slope vanish at r_c).

    Args:
        cutoff: r_c in Angstrom.
    """

    cutoff: torch.Tensor  # buffer, Angstrom

    def __init__(self, cutoff: float):
        super().__init__()
        self.register_buffer("cutoff", torch.tensor(float(cutoff)))

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        """d: (E,) Angstrom -> (E,) dimensionless."""
        x = (d / self.cutoff).clamp(max=1.0)
        return torch.where(d < self.cutoff, 0.5 * (torch.cos(math.pi * x) + 1.0), torch.zeros_like(d))


class PolynomialEnvelope(nn.Module):
    """Polynomial envelope of DimeNet (Klicpera et al. 2020, Eq. 8) with exponent p.

    phi(x) = 1 - (p+1)(p+2)/2 x^p + p(p+2) x^(p+1) - p(p+1)/2 x^(p+2), x = d / r_c;
    value, first and second derivative vanish at r_c.

    Args:
        cutoff: r_c in Angstrom.
        exponent: p (default 5).
    """

    cutoff: torch.Tensor  # buffer, Angstrom

    def __init__(self, cutoff: float, exponent: int = 5):
        super().__init__()
        self.register_buffer("cutoff", torch.tensor(float(cutoff)))
        self.exponent = int(exponent)

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        """d: (E,) Angstrom -> (E,) dimensionless."""
        p = self.exponent
        x = (d / self.cutoff).clamp(max=1.0)
        xp = x.pow(p)
        value = 1.0 - 0.5 * (p + 1) * (p + 2) * xp + p * (p + 2) * xp * x - 0.5 * p * (p + 1) * xp * x * x
        return torch.where(d < self.cutoff, value, torch.zeros_like(d))


def make_envelope(kind: str, cutoff: float) -> nn.Module:
    """Envelope by name: ``"polynomial"`` or ``"cosine"``."""
    if kind == "polynomial":
        return PolynomialEnvelope(cutoff)
    if kind == "cosine":
        return CosineEnvelope(cutoff)
    raise ValueError(f"unknown envelope {kind!r}; use 'polynomial' or 'cosine'")

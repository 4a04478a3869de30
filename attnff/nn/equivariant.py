"""Equivariant building blocks on scalar (N, F) and vector (N, 3, F) features."""

import torch
from torch import nn

__all__ = ["GatedEquivariantBlock", "vector_norm"]


def vector_norm(v: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """|v| over the xyz axis, (N, 3, F) -> (N, F), with eps so the gradient at v = 0 is finite."""
    return torch.sqrt((v * v).sum(dim=1) + eps)


class GatedEquivariantBlock(nn.Module):
    """PaiNN's gated equivariant block (Schuett et al. 2021, Fig. 3).

    s' , g = MLP([s || |W2 v|]);  v' = g * (W1 v). No bias on vector maps, so v' rotates with v.

    Args:
        width_in: input feature width.
        width_out: output feature width.
        scalar_activation: apply SiLU to s' (True between blocks, False on the last).
    """

    def __init__(self, width_in: int, width_out: int, scalar_activation: bool):
        super().__init__()
        self.width_out = width_out
        self.vector_out = nn.Linear(width_in, width_out, bias=False)
        self.vector_norm_in = nn.Linear(width_in, width_in, bias=False)
        self.context = nn.Sequential(nn.Linear(2 * width_in, width_in), nn.SiLU(), nn.Linear(width_in, 2 * width_out))
        self.activation = nn.SiLU() if scalar_activation else nn.Identity()

    def forward(self, s: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """s: (N, F_in), v: (N, 3, F_in) -> (N, F_out), (N, 3, F_out)."""
        context = torch.cat([s, vector_norm(self.vector_norm_in(v))], dim=-1)
        s_out, gate = self.context(context).split(self.width_out, dim=-1)
        return self.activation(s_out), gate.unsqueeze(1) * self.vector_out(v)

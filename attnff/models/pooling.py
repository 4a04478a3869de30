"""Attention-based pooling: a Set Transformer readout for intensive molecular targets
(Buterez et al. 2023, seeds 000/001; docs/models/pooling.md).

Atom features of each structure form a set X; the readout is
    encoder: SAB(SAB(X)),  decoder: Linear(SAB(PMA_k(.)))  -> MLP -> (B, out)
with MAB(X, Y) = H + SiLU(Linear(H)), H = X + MultiheadAttention(X, Y, Y),
SAB(X) = MAB(X, X) and PMA_k(Z) = MAB(S, Z) for k learned seed vectors S.

``inducing=m > 0`` replaces each encoder SAB by the paper's ISAB_m(X) = MAB(X, MAB(I, X)) with m learned
inducing points I: cost linear in the atoms instead of quadratic (for sets far larger than QM9's <= 29).

Padding is masked, so the output does not depend on how far a structure is
padded (the authors' code does not mask). Duplicating every atom leaves the
output unchanged: the readout is intensive, which is right for orbital
energies or gaps and wrong for total energies, so attnff never uses it as an
energy head.
"""

import torch
from torch import nn

__all__ = ["AttentionPooling", "ISABInduction", "pad_by_structure"]


def pad_by_structure(features: torch.Tensor, batch: torch.Tensor, num_graphs: int
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, F) atom features -> (B, N_max, F) padded sets and a (B, N_max) mask, True where padded."""
    counts = torch.bincount(batch, minlength=num_graphs)
    starts = torch.cumsum(counts, 0) - counts
    order = torch.argsort(batch, stable=True)  # atoms need not be grouped by structure
    slot = torch.empty_like(batch)
    slot[order] = torch.arange(batch.shape[0], device=batch.device) - starts[batch[order]]
    width = int(counts.max()) if batch.numel() else 0
    padded = features.new_zeros((num_graphs, width, features.shape[-1]))
    padded[batch, slot] = features
    mask = torch.ones((num_graphs, width), dtype=torch.bool, device=batch.device)
    mask[batch, slot] = False
    return padded, mask


class MAB(nn.Module):
    """Multihead attention block MAB(X, Y) = H + SiLU(Linear(H)), H = X + MHA(X, Y, Y)."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.attention = nn.MultiheadAttention(width, heads, batch_first=True)
        self.feed_forward = nn.Linear(width, width)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor, y: torch.Tensor, y_padding: torch.Tensor) -> torch.Tensor:
        """x: (B, M, F) queries; y: (B, N, F) keys/values; y_padding: (B, N) True where padded."""
        h = x + self.attention(x, y, y, key_padding_mask=y_padding, need_weights=False)[0]
        return h + self.act(self.feed_forward(h))


class ISABInduction(nn.Module):
    """H = MAB(I, X): m learned inducing points attend to the (masked) set X; the first half of an ISAB."""

    def __init__(self, width: int, heads: int, points: int):
        super().__init__()
        self.points = nn.Parameter(torch.randn(1, points, width) / width**0.5)
        self.block = MAB(width, heads)

    def forward(self, x: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        """x: (B, N, F), padding: (B, N) -> (B, m, F)."""
        return self.block(self.points.expand(x.shape[0], -1, -1), x, padding)


class AttentionPooling(nn.Module):
    """Set Transformer readout of per-atom features into per-structure intensive outputs.

    Args:
        width_in: atom feature width.
        width: attention width (divisible by heads).
        heads: attention heads.
        num_seeds: k, the PMA seed vectors.
        out_features: outputs per structure.
        inducing: m inducing points of ISAB encoder blocks (0: SAB blocks).
    """

    def __init__(self, width_in: int, width: int = 64, heads: int = 4, num_seeds: int = 4, out_features: int = 1,
                 inducing: int = 0):
        super().__init__()
        self.project = nn.Linear(width_in, width)
        self.encoder = nn.ModuleList([MAB(width, heads), MAB(width, heads)])
        self.inducing = nn.ModuleList([ISABInduction(width, heads, inducing) for _ in self.encoder]) \
            if inducing else None
        self.seeds = nn.Parameter(torch.randn(1, num_seeds, width) / width**0.5)
        self.pool = MAB(width, heads)
        self.decoder = MAB(width, heads)
        self.head = nn.Sequential(nn.Linear(num_seeds * width, width), nn.SiLU(), nn.Linear(width, out_features))

    def forward(self, features: torch.Tensor, batch: torch.Tensor, num_graphs: int) -> torch.Tensor:
        """features: (N, F_in), batch: (N,) -> (B, out_features)."""
        x, padding = pad_by_structure(self.project(features), batch, num_graphs)
        for k, block in enumerate(self.encoder):
            if self.inducing is None:
                x = block(x, x, padding)  # SAB(X) = MAB(X, X)
            else:  # ISAB(X) = MAB(X, H), H = MAB(I, X): every atom attends to the m summaries H
                h = self.inducing[k](x, padding)
                x = block(x, h, torch.zeros(h.shape[:2], dtype=torch.bool, device=h.device))
        seeds = self.seeds.expand(num_graphs, -1, -1)
        pooled = self.pool(seeds, x, padding)  # (B, k, F): padded atoms never attended to
        no_padding = torch.zeros(pooled.shape[:2], dtype=torch.bool, device=pooled.device)
        pooled = self.decoder(pooled, pooled, no_padding)
        return self.head(pooled.flatten(1))

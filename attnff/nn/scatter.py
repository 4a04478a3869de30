"""Segment (scatter) operations over edges or atoms, written with index_add/scatter_reduce."""

import torch

__all__ = ["segment_sum", "segment_softmax_with_self", "expand_ranges"]


def expand_ranges(counts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For counts (M,): owner (S,) and position within the owner's block (S,), S = counts.sum().

    Enumerates variable-length blocks without Python loops, e.g. all partners of every atom.
    """
    owner = torch.repeat_interleave(torch.arange(counts.shape[0], device=counts.device), counts)
    block_start = torch.cumsum(counts, 0) - counts
    position = torch.arange(owner.shape[0], device=counts.device) - block_start[owner]
    return owner, position


def segment_sum(values: torch.Tensor, index: torch.Tensor, num_segments: int) -> torch.Tensor:
    """Sum rows of ``values`` (M, ...) into ``num_segments`` rows by ``index`` (M,)."""
    out = values.new_zeros((num_segments,) + values.shape[1:])
    return out.index_add(0, index, values)


def segment_softmax_with_self(
    edge_logits: torch.Tensor,
    edge_weights: torch.Tensor,
    receivers: torch.Tensor,
    self_logits: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax over each receiver's incoming edges plus its own self edge, with edge weights.

    alpha_ij = w_ij exp(e_ij) / (exp(e_ii) + sum_k w_ik exp(e_ik)),
    alpha_ii = exp(e_ii) / (same denominator).

    The self edge always takes part (w_ii = 1), so the denominator never vanishes.
    Edges with w_ij = 0 (beyond the cutoff) are excluded exactly: they change
    neither the normaliser nor the running maximum, so a neighbour list with a
    skin gives the same numbers as a tight one. With a smooth w (an envelope),
    the result is smooth as neighbours enter or leave.

    Args:
        edge_logits: (E, H) logits e_ij per head.
        edge_weights: (E,) weights w_ij >= 0.
        receivers: (E,) receiver index i of each edge.
        self_logits: (N, H) self logits e_ii.

    Returns:
        (alpha_edges (E, H), alpha_self (N, H)); each receiver's weights sum to 1.
    """
    active = (edge_weights > 0).unsqueeze(-1)
    masked = torch.where(active, edge_logits, torch.full_like(edge_logits, float("-inf")))
    shift = self_logits.detach().scatter_reduce(
        0, receivers.unsqueeze(-1).expand_as(masked), masked.detach(), reduce="amax", include_self=True
    )
    exp_self = torch.exp(self_logits - shift)
    exp_edges = torch.exp(masked - shift.index_select(0, receivers)) * edge_weights.unsqueeze(-1)
    denominator = exp_self.index_add(0, receivers, exp_edges)
    return exp_edges / denominator.index_select(0, receivers), exp_self / denominator

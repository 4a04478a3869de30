"""Segment (scatter) operations over edges or atoms, written with index_add/scatter_reduce."""

import torch

__all__ = ["expand_ranges", "receiver_layout", "receiver_slots", "segment_outer_sum", "segment_softmax_with_self",
           "segment_sum"]


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


def receiver_slots(receivers: torch.Tensor, num_atoms: int) -> torch.Tensor | None:
    """Position (E,) of each edge among the edges of its receiver (0 .. count - 1), in edge order.

    For ``segment_outer_sum``, which then lays the edges out as an (N, K, ...) block per receiver.
    None on a GPU and under torch.compile, where ``segment_outer_sum`` sums the products directly.
    """
    if receivers.device.type != "cpu" or torch.compiler.is_compiling():
        return None
    counts = torch.bincount(receivers, minlength=num_atoms)
    order = torch.argsort(receivers, stable=True)
    slots = torch.empty_like(receivers)
    slots[order] = torch.arange(receivers.shape[0], device=receivers.device) - (torch.cumsum(counts, 0) - counts)[
        receivers[order]]
    return slots


def receiver_layout(values: torch.Tensor, where: tuple[torch.Tensor, torch.Tensor], num_segments: int,
                    width: int) -> torch.Tensor:
    """Rows of ``values`` (E, F) placed at their (receiver, slot) positions ``where`` in a zero-padded
    (num_segments, width, F) block, ``width`` at least the largest slot + 1."""
    return values.new_zeros(num_segments, width, values.shape[1]).index_put(where, values)


def segment_outer_sum(left: torch.Tensor, right: torch.Tensor, receivers: torch.Tensor, num_segments: int,
                      slots: torch.Tensor | None = None) -> torch.Tensor:
    """out[n] = sum over edges e with receivers[e] = n of the outer product left[e] (M,) x right[e] (C,): (N, M, C).

    With ``slots`` (``receiver_slots``) on the CPU, each receiver's edges are laid out in a zero-padded
    (N, K, M) and (N, K, C) block and contracted by one batched matrix product, forward and backward:
    no (E, M, C) tensor is made, which on the CPU is memory-bound. Without slots (``receiver_slots`` gives
    None on a GPU, where the padded width K would need a host sync, and under torch.compile, which fuses
    the product into the sum) the (E, M, C) products are summed directly.

    Args:
        left: (E, M); right: (E, C); receivers: (E,); slots: (E,) or None.
    """
    if slots is None:
        return segment_sum(left.unsqueeze(-1) * right.unsqueeze(1), receivers, num_segments)
    width = int(slots.max()) + 1 if slots.numel() else 1
    where = (receivers, slots)
    left_blocks = receiver_layout(left, where, num_segments, width)  # (N, K, M)
    right_blocks = receiver_layout(right, where, num_segments, width)  # (N, K, C)
    return torch.bmm(left_blocks.transpose(1, 2), right_blocks)


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

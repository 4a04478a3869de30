"""GeomAtt's higher-order products for force calls with frozen weights: triplet chunks, hand-written backward.

An order-k stream chains k - 2 triplet sums w^(m)_c = sum over triplets (a, b, c) of w^(m-1)_a ⊙ w'_b
(``GeomAttention``). The plain sum makes two gathered (T, F_k) tensors and their product for each one,
and autograd keeps the gathered ones until the forces are taken: on liquid water T is about 50 times
the pairs, so these dominate GeomAtt's memory (1 GB each on 6144 atoms). ``triplet_sum`` works through
the triplets in chunks (``nn.chunks``) and keeps only the (P, F_k) factors; its backward pass gathers
again. Force calls only: the kernels' weights must not require gradients, and the backward is not
differentiable again (training keeps the plain sum).
"""

import torch
from torch.autograd.function import once_differentiable

from ..nn.chunks import edge_chunk, edge_ranges

__all__ = ["triplet_sum"]


class _TripletSum(torch.autograd.Function):
    @staticmethod
    def forward(ctx, weights, factor, first, second, target, chunk):
        out = torch.zeros_like(weights)
        for start, end in edge_ranges(target.shape[0], chunk):
            product = weights.index_select(0, first[start:end]).mul_(factor.index_select(0, second[start:end]))
            out.index_add_(0, target[start:end], product)
        ctx.save_for_backward(weights, factor, first, second, target)
        ctx.chunk = chunk
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        weights, factor, first, second, target = ctx.saved_tensors
        grad_weights, grad_factor = torch.zeros_like(weights), torch.zeros_like(factor)
        for start, end in edge_ranges(target.shape[0], ctx.chunk):
            a, b = first[start:end], second[start:end]
            incoming = grad_out.index_select(0, target[start:end])
            grad_weights.index_add_(0, a, factor.index_select(0, b).mul_(incoming))
            grad_factor.index_add_(0, b, incoming.mul_(weights.index_select(0, a)))
        return grad_weights, grad_factor, None, None, None, None


def triplet_sum(weights: torch.Tensor, factor: torch.Tensor, triplets: torch.Tensor,
                chunk: int | None = None) -> torch.Tensor:
    """out_c = sum over triplets (a, b, c) of weights_a ⊙ factor_b, (P, F_k).

    Args:
        weights, factor: (P, F_k) pair weights w^(m-1) and the kernel's factor w'.
        triplets: (3, T) pair indices (a, b, c) (``build_triplets``).
        chunk: triplets per chunk (default ``nn.chunks.edge_chunk``).
    """
    a, b, c = triplets
    return _TripletSum.apply(weights, factor, a, b, c, chunk or edge_chunk(weights, weights.shape[1]))

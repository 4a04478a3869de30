"""Gather-multiply-scatter over index lists in chunks, with a hand-written backward (force calls only).

A force call keeps, for the backward pass, every tensor autograd needs. For a product gathered over a
long index list (pairs, triplets) those are (E, ...) copies of node or pair features. The functions
here work through the index list in chunks (``nn.chunks``), keep only their (N, ...) inputs and
gather again in the backward pass. Their backward is not differentiable again, so they serve force
calls with frozen weights; training keeps plain autograd.

- ``pair_dot``:            out_e = scale <a_{i(e)}, b_{j(e)}>  (per-pair dot product over the last axis)
- ``weighted_gather_sum``: out_i = sum_e w_e v_{j(e)}, e with receiver i  (attention-weighted sums)
- ``product_gather_sum``:  out_c = sum over (a, b, c) of x_a * y_b  (e.g. GeomAtt's triplet products)
- ``angular_density``:     A_i = sum_e Y_e (x) (R rbf_e * s_j(e)), e with receiver i  (nn.angular's densities,
                           by blocks of receivers)
"""

import math

import torch
from torch.autograd.function import once_differentiable

from .chunks import edge_chunk, edge_ranges
from .scatter import receiver_layout

__all__ = ["angular_density", "pair_dot", "product_gather_sum", "weighted_gather_sum"]


class _PairDot(torch.autograd.Function):
    @staticmethod
    def forward(ctx, left, right, first, second, scale, chunk):
        out = left.new_empty(first.shape[0], *left.shape[1:-1])
        for start, end in edge_ranges(first.shape[0], chunk):
            product = left.index_select(0, first[start:end]) * right.index_select(0, second[start:end])
            torch.sum(product, -1, out=out[start:end])
        out *= scale
        ctx.save_for_backward(left, right, first, second)
        ctx.scale, ctx.chunk = scale, chunk
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        left, right, first, second = ctx.saved_tensors
        grad_left, grad_right = torch.zeros_like(left), torch.zeros_like(right)
        grad_out = (grad_out * ctx.scale).unsqueeze(-1)
        for start, end in edge_ranges(first.shape[0], ctx.chunk):
            a, b, grad = first[start:end], second[start:end], grad_out[start:end]
            grad_left.index_add_(0, a, right.index_select(0, b).mul_(grad))
            grad_right.index_add_(0, b, left.index_select(0, a).mul_(grad))
        return grad_left, grad_right, None, None, None, None


class _WeightedGatherSum(torch.autograd.Function):
    @staticmethod
    def forward(ctx, values, weights, targets, sources, size, chunk):
        out = values.new_zeros((size,) + values.shape[1:])
        for start, end in edge_ranges(targets.shape[0], chunk):
            weighted = values.index_select(0, sources[start:end]).mul_(weights[start:end].unsqueeze(-1))
            out.index_add_(0, targets[start:end], weighted)
        ctx.save_for_backward(values, weights, targets, sources)
        ctx.chunk = chunk
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        values, weights, targets, sources = ctx.saved_tensors
        grad_values, grad_weights = torch.zeros_like(values), torch.empty_like(weights)
        for start, end in edge_ranges(targets.shape[0], ctx.chunk):
            src, incoming = sources[start:end], grad_out.index_select(0, targets[start:end])
            torch.sum(incoming * values.index_select(0, src), -1, out=grad_weights[start:end])
            grad_values.index_add_(0, src, incoming.mul_(weights[start:end].unsqueeze(-1)))
        return grad_values, grad_weights, None, None, None, None


class _ProductGatherSum(torch.autograd.Function):
    @staticmethod
    def forward(ctx, left, right, first, second, target, chunk):
        out = torch.zeros_like(left)
        for start, end in edge_ranges(target.shape[0], chunk):
            product = left.index_select(0, first[start:end]).mul_(right.index_select(0, second[start:end]))
            out.index_add_(0, target[start:end], product)
        ctx.save_for_backward(left, right, first, second, target)
        ctx.chunk = chunk
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        left, right, first, second, target = ctx.saved_tensors
        grad_left, grad_right = torch.zeros_like(left), torch.zeros_like(right)
        for start, end in edge_ranges(target.shape[0], ctx.chunk):
            a, b = first[start:end], second[start:end]
            incoming = grad_out.index_select(0, target[start:end])
            grad_left.index_add_(0, a, right.index_select(0, b).mul_(incoming))
            grad_right.index_add_(0, b, incoming.mul_(left.index_select(0, a)))
        return grad_left, grad_right, None, None, None, None


def _density_block(sender, rbf, radial_weight, harmonics, receivers, senders, slots, block):
    """One receiver block's pair directions and weights laid out per receiver, (n, K, M) and (n, K, C), with
    the block's radial weights (k, C), gathered sender features (k, C) and layout index (k edges)."""
    first, end, start, stop = block
    where = (receivers[start:stop] - first, slots[start:stop])
    width = int(slots[start:stop].max()) + 1 if stop > start else 1
    radial = torch.mm(rbf[start:stop], radial_weight.t())
    gathered = sender.index_select(0, senders[start:stop])
    left = receiver_layout(harmonics[start:stop], where, end - first, width)
    right = receiver_layout(radial * gathered, where, end - first, width)
    return where, radial, gathered, left, right


class _AngularDensity(torch.autograd.Function):
    @staticmethod
    def forward(ctx, sender, rbf, radial_weight, harmonics, receivers, senders, slots, blocks):
        out = sender.new_empty(blocks[-1][1], harmonics.shape[1], sender.shape[1])
        for block in blocks:
            *_, left, right = _density_block(sender, rbf, radial_weight, harmonics, receivers, senders, slots, block)
            torch.bmm(left.transpose(1, 2), right, out=out[block[0]:block[1]])
        ctx.save_for_backward(sender, rbf, radial_weight, harmonics, receivers, senders, slots)
        ctx.blocks = blocks
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        sender, rbf, radial_weight, harmonics, receivers, senders, slots = ctx.saved_tensors
        grad_sender, grad_rbf = torch.zeros_like(sender), torch.empty_like(rbf)
        grad_harmonics = torch.empty_like(harmonics)
        for block in ctx.blocks:
            first, end, start, stop = block
            where, radial, gathered, left, right = _density_block(sender, rbf, radial_weight, harmonics, receivers,
                                                                  senders, slots, block)
            incoming = grad_out[first:end]  # (n, M, C)
            grad_harmonics[start:stop] = torch.bmm(right, incoming.transpose(1, 2))[where]
            grad_weights = torch.bmm(left, incoming)[where]  # (k, C)
            grad_sender.index_add_(0, senders[start:stop], grad_weights * radial)
            torch.mm(grad_weights.mul_(gathered), radial_weight, out=grad_rbf[start:stop])
        return grad_sender, grad_rbf, None, grad_harmonics, None, None, None, None


def angular_density(sender: torch.Tensor, rbf: torch.Tensor, radial_weight: torch.Tensor, harmonics: torch.Tensor,
                    edge_index: torch.Tensor, slots: torch.Tensor,
                    blocks: list[tuple[int, int, int, int]]) -> torch.Tensor:
    """A_i = sum over pairs e = (i, j) of the outer product Y_e (x) ((W_r rbf_e) * s_j), (N, M, C).

    The densities of ``nn.angular.AngularInvariants`` block by block of receivers, each block's pairs laid out
    per receiver (as ``nn.scatter.segment_outer_sum`` does for all at once) and contracted by one batched
    matrix product. Only the (N, C), (E, K) and (E, M) inputs are kept for the backward pass, which lays each
    block out again. The weights W_r must be frozen (no gradient is returned for them).

    Args:
        sender: (N, C) W_h h of every atom; rbf: (E, K) enveloped radial basis; radial_weight: (C, K) W_r.
        harmonics: (E, M) spherical harmonics of the pair directions.
        edge_index: (2, E) receivers i (row 0, sorted) and senders j (row 1).
        slots: (E,) position of each pair among its receiver's (``nn.scatter.receiver_slots``).
        blocks: receiver blocks covering atoms 0 .. N-1 (``nn.recompute.receiver_blocks``).
    """
    return _AngularDensity.apply(sender, rbf, radial_weight, harmonics, edge_index[0], edge_index[1], slots, blocks)


def pair_dot(left: torch.Tensor, right: torch.Tensor, index: torch.Tensor, scale: float = 1.0,
             chunk: int | None = None) -> torch.Tensor:
    """scale * <left_i, right_j> over the last axis for every pair (i, j) of ``index``.

    Args:
        left, right: (N, ..., D) node features (e.g. attention queries and keys, (N, H, D)).
        index: (2, E) pairs: row 0 indexes ``left``, row 1 ``right``.
        scale: factor on every dot product.
        chunk: pairs per chunk (default ``nn.chunks.edge_chunk``).

    Returns:
        (E, ...) dot products, e.g. (E, H).
    """
    return _PairDot.apply(left, right, index[0], index[1], scale,
                          chunk or edge_chunk(left, math.prod(left.shape[1:])))


def weighted_gather_sum(values: torch.Tensor, weights: torch.Tensor, index: torch.Tensor, size: int,
                        chunk: int | None = None) -> torch.Tensor:
    """out_i = sum over pairs e = (i, j) of ``index`` of weights_e * values_j.

    Args:
        values: (N, ..., D) features of the senders j.
        weights: (E, ...) one weight per pair (and head), broadcast over the last axis of ``values``.
        index: (2, E) receivers i (row 0) and senders j (row 1).
        size: number of receivers N of the output.
        chunk: pairs per chunk (default ``nn.chunks.edge_chunk``).

    Returns:
        (size, ..., D) weighted sums.
    """
    return _WeightedGatherSum.apply(values, weights, index[0], index[1], size,
                                    chunk or edge_chunk(values, math.prod(values.shape[1:])))


def product_gather_sum(left: torch.Tensor, right: torch.Tensor, index: torch.Tensor,
                       chunk: int | None = None) -> torch.Tensor:
    """out_c = sum over the rows (a, b, c) of ``index`` of left_a * right_b (elementwise).

    Args:
        left, right: (P, F) features (e.g. GeomAtt's pair weights and a kernel's factor).
        index: (3, T) rows a (into ``left``), b (into ``right``) and c (into the output).
        chunk: rows per chunk (default ``nn.chunks.edge_chunk``).

    Returns:
        (P, F), shaped like ``left``.
    """
    a, b, c = index
    return _ProductGatherSum.apply(left, right, a, b, c, chunk or edge_chunk(left, left.shape[1]))

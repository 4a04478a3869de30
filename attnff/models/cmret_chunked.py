"""CMRET's filter convolution for force calls with frozen weights: edge chunks and a hand-written backward.

The convolution of a CMRETLayer makes, per edge, the filters f(e_ij) (E, 2F), the pair features
[s^_i f2 || s^_j f1] phi (E, 2F), their mix [s1 | s2] (E, 2F) and s3 (E, F), and the vector
messages s3 r_ij / d_ij (E, 3, F); a plain autograd call keeps most of them for every layer until
the forces are taken. ``edge_convolution`` keeps only the (N, F) node features, the (E, K) basis,
the envelope and the unit vectors, works through the edges in chunks (``nn.chunks``) and
recomputes each chunk's features in the backward pass (the self-attention's logits and weighted sums use
the generic kernels of ``nn.pair_kernels``). Force calls only: the weights must not require gradients,
and the backward is not differentiable again (training keeps the plain layer).
"""


import torch
from torch.autograd.function import once_differentiable
from torch.nn.functional import linear, silu

from ..nn.chunks import edge_chunk, edge_ranges

__all__ = ["edge_convolution"]


class _EdgeConvolution(torch.autograd.Function):
    @staticmethod
    def forward(ctx, s_hat, basis, envelope, unit, receivers, ends, filter_weight, filter_bias, mix_weight,
                mix_bias, chunk):
        num_atoms, width = s_hat.shape
        pair_sums = s_hat.new_zeros(num_atoms, 2 * width)
        vector_sums = s_hat.new_zeros(num_atoms, 3, width)
        w12, b12, w3, b3 = mix_weight[:2 * width], mix_bias[:2 * width], mix_weight[2 * width:], mix_bias[2 * width:]
        for start, end in edge_ranges(receivers.shape[0], chunk):
            phi = envelope[start:end].unsqueeze(-1)
            pair = s_hat.index_select(0, ends[2 * start:2 * end]).view(end - start, 2 * width)
            pair *= silu(linear(basis[start:end], filter_weight, filter_bias))
            pair *= phi
            recv = receivers[start:end]
            pair_sums.index_add_(0, recv, linear(pair, w12, b12).mul_(phi))
            s3 = linear(pair, w3, b3).mul_(phi)
            vector_sums.index_add_(0, recv, s3.unsqueeze(1) * unit[start:end].unsqueeze(-1))
        ctx.save_for_backward(s_hat, basis, envelope, unit, receivers, ends, filter_weight, filter_bias, mix_weight,
                              mix_bias)
        ctx.chunk = chunk
        return pair_sums, vector_sums

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_pair_sums, grad_vector_sums):
        s_hat, basis, envelope, unit, receivers, ends, filter_weight, filter_bias, mix_weight, mix_bias = \
            ctx.saved_tensors
        width = s_hat.shape[1]
        w12, b12, w3, b3 = mix_weight[:2 * width], mix_bias[:2 * width], mix_weight[2 * width:], mix_bias[2 * width:]
        if grad_pair_sums is None:
            grad_pair_sums = s_hat.new_zeros(s_hat.shape[0], 2 * width)
        if grad_vector_sums is None:
            grad_vector_sums = s_hat.new_zeros(s_hat.shape[0], 3, width)
        grad_s_hat, grad_basis = torch.zeros_like(s_hat), torch.empty_like(basis)
        grad_envelope, grad_unit = torch.empty_like(envelope), torch.empty_like(unit)
        for start, end in edge_ranges(receivers.shape[0], ctx.chunk):
            size, recv, pair_ends = end - start, receivers[start:end], ends[2 * start:2 * end]
            phi = envelope[start:end].unsqueeze(-1)
            pre = linear(basis[start:end], filter_weight, filter_bias)
            sig = torch.sigmoid(pre)
            filters = pre * sig
            gathered = s_hat.index_select(0, pair_ends).view(size, 2 * width)
            pair_raw = gathered * filters
            pair = pair_raw * phi
            raw12, raw3 = linear(pair, w12, b12), linear(pair, w3, b3)
            grad12 = grad_pair_sums.index_select(0, recv)  # (C, 2F)
            grad_vec = grad_vector_sums.index_select(0, recv)  # (C, 3, F)
            grad3 = (grad_vec * unit[start:end].unsqueeze(-1)).sum(1)  # (C, F)
            grad_unit[start:end] = (grad_vec * (raw3 * phi).unsqueeze(1)).sum(-1)
            grad_phi = (grad12 * raw12).sum(-1) + (grad3 * raw3).sum(-1)
            grad_pair = torch.addmm(torch.mm(grad12.mul_(phi), w12), grad3.mul_(phi), w3)  # (C, 2F)
            grad_phi += (grad_pair * pair_raw).sum(-1)
            grad_envelope[start:end] = grad_phi
            grad_pair *= phi
            grad_s_hat.index_add_(0, pair_ends, (grad_pair * filters).view(2 * size, width))
            grad_pre = grad_pair.mul_(gathered).mul_(sig * (1.0 + pre * (1.0 - sig)))
            torch.mm(grad_pre, filter_weight, out=grad_basis[start:end])
        return grad_s_hat, grad_basis, grad_envelope, grad_unit, None, None, None, None, None, None, None


def edge_convolution(s_hat: torch.Tensor, basis: torch.Tensor, envelope: torch.Tensor, unit: torch.Tensor,
                     edge_index: torch.Tensor, filter_weight: torch.Tensor, filter_bias: torch.Tensor,
                     mix_weight: torch.Tensor, mix_bias: torch.Tensor, chunk: int | None = None):
    """Per-receiver sums of CMRET's mixed pair features, ((N, 2F) [s1 | s2], (N, 3, F) s3 r_ij / d_ij).

    Args:
        s_hat: (N, F) SiLU(W s + b).
        basis: (E, K) enveloped radial basis; envelope: (E,) phi_ij; unit: (E, 3) r_ij / d_ij.
        edge_index: (2, E) receivers i and senders j.
        filter_weight, filter_bias: (2F, K), (2F,) the filters [f2 (own) ; f1 (neighbour)].
        mix_weight, mix_bias: (3F, 2F), (3F,) W_o and b_o.
        chunk: edges per chunk (default ``nn.chunks.edge_chunk``).
    """
    ends = edge_index.t().reshape(-1)  # (2E,) i_0, j_0, i_1, j_1, ...
    return _EdgeConvolution.apply(s_hat, basis, envelope, unit, edge_index[0], ends, filter_weight, filter_bias,
                                  mix_weight, mix_bias, chunk or edge_chunk(s_hat, 2 * s_hat.shape[1]))

"""JAT's per-edge work for force calls with frozen weights: edge chunks and a hand-written backward.

A plain autograd call keeps, for every layer, four (E, F) tensors until the forces are taken
(the pre-activation, the gathered sender features, the radial value filter and the filtered
values), and makes about a dozen more (E, F) temporaries that each travel through main memory.
The two functions here take over the two per-edge parts of a smooth JATLayer:

- ``edge_logits``: e_ij = cap tanh(a_h . swish(W_r h_i + W_s h_j + W_e rbf_ij) / cap), (E, H);
- ``edge_messages``: m_i = sum_j alpha_ij (W_s h_j) * (W_v rbf_ij + b_v), (N, H, D).

Both keep only their (N, F) node inputs, the (E, K) radial basis and the (E, H) weights, and
recompute the per-edge features in the backward pass; both work through the edges in chunks
(``nn.chunks.edge_chunk``), so that on the CPU every (chunk, F) temporary stays in cache. They
serve force calls only: the weights must not require gradients (the calculator freezes them) and the backward
is not differentiable again (training keeps the plain autograd layer, which is).
"""

import torch
from torch.autograd.function import once_differentiable

from ..nn.chunks import edge_chunk, edge_ranges

__all__ = ["edge_logits", "edge_messages", "soft_cap"]


def soft_cap(z: torch.Tensor, cap: float) -> torch.Tensor:
    """c tanh(z / c), or z unchanged when c = 0 (JAT's logit cap)."""
    return cap * torch.tanh(z / cap) if cap else z


class _EdgeLogits(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h_recv, h_send, rbf, receivers, senders, edge_weight, attention, cap, chunk):
        num_edges, heads = receivers.shape[0], attention.shape[0]
        logits = h_recv.new_empty(num_edges, heads)
        for start, end in edge_ranges(num_edges, chunk):
            pre = torch.addmm(h_recv.index_select(0, receivers[start:end]) + h_send.index_select(0, senders[start:end]),
                              rbf[start:end], edge_weight.t())
            z = (torch.nn.functional.silu(pre).view(end - start, heads, -1) * attention).sum(-1)
            logits[start:end] = soft_cap(z, cap)
        ctx.save_for_backward(h_recv, h_send, rbf, receivers, senders, edge_weight, attention, logits)
        ctx.cap, ctx.chunk = cap, chunk
        return logits

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_logits):
        h_recv, h_send, rbf, receivers, senders, edge_weight, attention, logits = ctx.saved_tensors
        cap = ctx.cap
        grad_recv, grad_send = torch.zeros_like(h_recv), torch.zeros_like(h_send)
        grad_rbf = torch.empty_like(rbf)
        # d(cap tanh(z / cap)) / dz = 1 - (e / cap)^2
        grad_z = grad_logits * (1.0 - (logits / cap) ** 2) if cap else grad_logits
        for start, end in edge_ranges(receivers.shape[0], ctx.chunk):
            recv, send = receivers[start:end], senders[start:end]
            pre = torch.addmm(h_recv.index_select(0, recv) + h_send.index_select(0, send), rbf[start:end],
                              edge_weight.t())
            sig = torch.sigmoid(pre)
            # d swish(x) / dx = s (1 + x (1 - s)), s = sigmoid(x)
            grad_pre = (grad_z[start:end].unsqueeze(-1) * attention).view(end - start, -1)
            grad_pre *= sig * (1.0 + pre * (1.0 - sig))
            grad_recv.index_add_(0, recv, grad_pre)
            grad_send.index_add_(0, send, grad_pre)
            torch.mm(grad_pre, edge_weight, out=grad_rbf[start:end])
        return grad_recv, grad_send, grad_rbf, None, None, None, None, None, None


class _EdgeMessages(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h_send, rbf, alpha, receivers, senders, filter_weight, filter_bias, num_atoms, chunk):
        heads = alpha.shape[1]
        messages = h_send.new_zeros(num_atoms, h_send.shape[1])
        for start, end in edge_ranges(receivers.shape[0], chunk):
            values = h_send.index_select(0, senders[start:end])
            values *= torch.addmm(filter_bias, rbf[start:end], filter_weight.t())
            values = values.view(end - start, heads, -1) * alpha[start:end].unsqueeze(-1)
            messages.index_add_(0, receivers[start:end], values.view(end - start, -1))
        ctx.save_for_backward(h_send, rbf, alpha, receivers, senders, filter_weight, filter_bias)
        ctx.chunk = chunk
        return messages.view(num_atoms, heads, -1)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_messages):
        h_send, rbf, alpha, receivers, senders, filter_weight, filter_bias = ctx.saved_tensors
        heads = alpha.shape[1]
        grad_messages = grad_messages.reshape(grad_messages.shape[0], -1)
        grad_send, grad_rbf, grad_alpha = torch.zeros_like(h_send), torch.empty_like(rbf), torch.empty_like(alpha)
        for start, end in edge_ranges(receivers.shape[0], ctx.chunk):
            size, send = end - start, senders[start:end]
            incoming = grad_messages.index_select(0, receivers[start:end])  # (C, F)
            values = h_send.index_select(0, send)
            radial = torch.addmm(filter_bias, rbf[start:end], filter_weight.t())
            weight = alpha[start:end].unsqueeze(-1)
            grad_filter = (incoming * values).view(size, heads, -1)  # before alpha
            grad_alpha[start:end] = (grad_filter * radial.view(size, heads, -1)).sum(-1)
            grad_filter *= weight
            torch.mm(grad_filter.view(size, -1), filter_weight, out=grad_rbf[start:end])
            incoming = (incoming.view(size, heads, -1) * weight).view(size, -1)
            grad_send.index_add_(0, send, incoming.mul_(radial))
        return grad_send, grad_rbf, grad_alpha, None, None, None, None, None, None


def edge_logits(h_recv: torch.Tensor, h_send: torch.Tensor, rbf: torch.Tensor, edge_index: torch.Tensor,
                edge_weight: torch.Tensor, attention: torch.Tensor, cap: float,
                chunk: int | None = None) -> torch.Tensor:
    """GATv2 logits of every edge, (E, H).

    Args:
        h_recv, h_send: (N, F) W_r h and W_s h (biases included).
        rbf: (E, K) enveloped radial basis.
        edge_index: (2, E) receivers i and senders j.
        edge_weight: (F, K) W_e; attention: (H, D) vectors a_h, F = H D.
        cap: soft cap c of the logits (0: none).
        chunk: edges per chunk (default ``nn.chunks.edge_chunk``).
    """
    return _EdgeLogits.apply(h_recv, h_send, rbf, edge_index[0], edge_index[1], edge_weight, attention, cap,
                             chunk or edge_chunk(h_send, h_send.shape[1]))


def edge_messages(h_send: torch.Tensor, rbf: torch.Tensor, alpha: torch.Tensor, edge_index: torch.Tensor,
                  filter_weight: torch.Tensor, filter_bias: torch.Tensor, num_atoms: int,
                  chunk: int | None = None) -> torch.Tensor:
    """Attention-weighted, radially filtered messages summed per receiver, (N, H, D).

    Args:
        h_send: (N, F) W_s h; rbf: (E, K); alpha: (E, H) attention weights of the edges.
        edge_index: (2, E) receivers i and senders j.
        filter_weight: (F, K) W_v; filter_bias: (F,) b_v.
        num_atoms: N.
        chunk: edges per chunk (default ``nn.chunks.edge_chunk``).
    """
    return _EdgeMessages.apply(h_send, rbf, alpha, edge_index[0], edge_index[1], filter_weight, filter_bias,
                               num_atoms, chunk or edge_chunk(h_send, h_send.shape[1]))

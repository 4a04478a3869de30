"""Layer recomputation: keep only each layer's inputs for the backward pass and recompute the rest there.

Forces are a backward pass through every layer, so a plain call keeps all per-edge intermediates
of all layers alive until the gradient is taken. With recomputation only one layer's
intermediates exist at a time: peak memory falls by about the number of layers, at the price of
one more forward pass of each layer (torch.utils.checkpoint, non-reentrant).

For very large systems one layer's intermediates are still too many, so a layer whose output for
atom i depends only on i, its incoming edges and their senders (a message-passing layer) can also
be run in blocks of receivers (``run_layer_by_receivers``): each block sees the sub-graph of its
receivers' edges, and only one block's intermediates exist at a time.
"""

from bisect import bisect_right

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from .recording import RecordsAttention

__all__ = ["blocks_for", "can_recompute", "receiver_blocks", "run_layer", "run_layer_by_receivers"]


def can_recompute(module: nn.Module) -> bool:
    """Whether ``module`` may be recomputed now: autograd is on and none of its layers records attention.

    A recording layer (``nn.recording``) always runs plainly, so that each call records once.
    """
    return torch.is_grad_enabled() and not any(
        isinstance(m, RecordsAttention) and m.recording is not None for m in module.modules())


def run_layer(layer: nn.Module, *inputs, recompute: bool = False):
    """``layer(*inputs)``; with ``recompute`` (and ``can_recompute(layer)``) its intermediates are recomputed
    in the backward pass."""
    if recompute and can_recompute(layer):
        return checkpoint(layer, *inputs, use_reentrant=False, preserve_rng_state=False)
    return layer(*inputs)


def receiver_blocks(receivers: torch.Tensor, num_atoms: int, max_edges: int) -> list[tuple[int, int, int, int]] | None:
    """Contiguous blocks of receiving atoms with at most about ``max_edges`` incoming edges each.

    Args:
        receivers: (E,) receiver of each edge, sorted ascending (the calculator's edge order).
        num_atoms: N.
        max_edges: edges per block (a block holds at least one atom).

    Returns:
        [(first_atom, end_atom, first_edge, end_edge), ...] covering atoms 0..N-1 in order, or None
        when the receivers are not sorted (the blocks would not be contiguous in the edge list).
    """
    if receivers.numel() > 1 and bool((receivers[1:] < receivers[:-1]).any()):
        return None
    # edge_start[a] = first edge received by atom a; one host copy of N + 1 integers
    atoms = torch.arange(num_atoms + 1, device=receivers.device)
    edge_start = torch.searchsorted(receivers, atoms).tolist()
    blocks, first = [], 0
    while first < num_atoms:
        end = max(first + 1, bisect_right(edge_start, edge_start[first] + max_edges) - 1)
        blocks.append((first, end, edge_start[first], edge_start[end]))
        first = end
    return blocks


def blocks_for(model: nn.Module, edge_index: torch.Tensor, num_atoms: int) -> list[tuple[int, int, int, int]] | None:
    """Receiver blocks when ``model`` recomputes layers and has more than ``model.recompute_block_edges`` edges.

    None (run each layer whole) otherwise, when ``can_recompute(model)`` is False, or when the
    edges are not sorted by receiver. ``model`` is an ``attnff.models.AttnModel``; the blocks cost one
    host copy of N + 1 integers, negligible beside a layer on more than ``recompute_block_edges`` edges.
    """
    limit = model.recompute_block_edges
    if not (model.recompute_layers and limit) or edge_index.shape[1] <= limit:
        return None
    if not can_recompute(model):
        return None
    return receiver_blocks(edge_index[0], num_atoms, limit)


def _block_call(layer, first, end, edge_index, num_node_inputs, *tensors):
    """The layer on the sub-graph of receivers first..end-1: their edges, the receivers and the senders."""
    nodes, edges = tensors[:num_node_inputs], tensors[num_node_inputs:]
    num_atoms = nodes[0].shape[0]
    with torch.no_grad():
        receivers = torch.arange(first, end, device=edge_index.device)
        atoms = torch.unique(torch.cat([receivers, edge_index[1]]))  # sorted: the block's receivers and senders
        local = torch.full((num_atoms,), -1, dtype=torch.long, device=edge_index.device)
        local[atoms] = torch.arange(atoms.shape[0], device=edge_index.device)
        sub_index = local[edge_index]
        rows = local[receivers]
    outputs = layer(*(x.index_select(0, atoms) for x in nodes), sub_index, *edges)
    if isinstance(outputs, torch.Tensor):
        return outputs.index_select(0, rows)
    return tuple(out.index_select(0, rows) for out in outputs)


def run_layer_by_receivers(layer: nn.Module, nodes: tuple, edge_index: torch.Tensor, edges: tuple,
                           blocks: list[tuple[int, int, int, int]]):
    """``layer(*nodes, edge_index, *edges)`` computed block by block of receivers, each block recomputed.

    The layer must be local: its output for atom i depends only on the node inputs of i and of
    i's senders and on i's incoming edges. Every block is checkpointed, so at most one block's
    intermediates exist at a time, in the forward and in the backward pass.

    Args:
        layer: the message-passing layer; returns one (N, ...) tensor or a tuple of them.
        nodes: per-atom inputs, each (N, ...).
        edge_index: (2, E) receivers and senders, receivers sorted.
        edges: per-edge inputs, each (E, ...) or None.
        blocks: from ``receiver_blocks``.

    Returns:
        The layer's output(s) for all N atoms, as a plain call would give them.
    """
    pieces = []
    for first, end, first_edge, end_edge in blocks:
        block_edges = [None if x is None else x[first_edge:end_edge] for x in edges]
        pieces.append(checkpoint(_block_call, layer, first, end, edge_index[:, first_edge:end_edge], len(nodes),
                                 *nodes, *block_edges, use_reentrant=False, preserve_rng_state=False))
    if isinstance(pieces[0], torch.Tensor):
        return torch.cat(pieces)
    return tuple(torch.cat(parts) for parts in zip(*pieces))

"""Recording the attention weights of a model's layers, for attention maps; off unless asked for.

An attention layer inherits ``RecordsAttention`` and, once its weights are computed, runs

    if self.recording is not None:
        self.record(receivers, senders, weights)

so that a normal forward pass costs one attribute check and changes no number.
``record_attention(model)`` switches recording on for every such layer of the
model for the duration of a ``with`` block.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["AttentionRecord", "RecordsAttention", "record_attention"]


@dataclass(frozen=True)
class AttentionRecord:
    """The attention weights of one call of one layer, on P pairs receiver i <- sender j (self pairs included).

    Attributes:
        receivers: (P,) int64 receiver atom i.
        senders: (P,) int64 sender atom j; every periodic image of an atom carries that atom's index.
        weights: (P, H) weight of each pair per head, detached from the autograd graph.
    """

    receivers: torch.Tensor
    senders: torch.Tensor
    weights: torch.Tensor


class RecordsAttention:
    """Mixin for attention layers whose weights can be recorded.

    Attributes:
        recording: None (default: nothing is recorded), or the list each call appends its
            ``AttentionRecord`` to, set by ``record_attention``.
        softmax: True when the recorded weights of each receiver are a softmax (non-negative, summing
            to 1 over its pairs); False for signed, unnormalised coefficients (GeomAtt).
    """

    recording: list[AttentionRecord] | None = None
    softmax: bool = True

    def record(self, receivers: torch.Tensor, senders: torch.Tensor, weights: torch.Tensor) -> None:
        """Append one call's weights; receivers, senders (P,), weights (P, H). Call only while recording."""
        assert self.recording is not None, "record() called outside record_attention()"
        self.recording.append(AttentionRecord(receivers.detach(), senders.detach(), weights.detach()))

    def record_with_self(self, edge_index: torch.Tensor, edge_weights: torch.Tensor,
                         self_weights: torch.Tensor) -> None:
        """``record`` for a softmax over edges plus self edges.

        Args:
            edge_index: (2, E) receiver i, sender j of each edge.
            edge_weights: (E, H) weights of the edges.
            self_weights: (N, H) weights of the self edges i <- i.
        """
        atoms = torch.arange(self_weights.shape[0], device=edge_index.device)
        self.record(torch.cat([edge_index[0], atoms]), torch.cat([edge_index[1], atoms]),
                    torch.cat([edge_weights, self_weights]))


@contextmanager
def record_attention(model: nn.Module) -> Iterator[dict[str, list[AttentionRecord]]]:
    """Record the weights of every ``RecordsAttention`` layer of ``model`` while the block runs.

    Example::

        with record_attention(potential.model) as records:
            potential(batch, forces=False)
        records["layers.0"][0].weights  # (P, H)

    Args:
        model: any module; its ``RecordsAttention`` submodules (itself included) are recorded.

    Yields:
        Qualified layer name (as in ``model.named_modules()``, in registration order) -> that layer's
        records, one per call, filled as the model runs.

    Raises:
        RuntimeError: some layer of ``model`` is already being recorded.
    """
    layers = {name: module for name, module in model.named_modules() if isinstance(module, RecordsAttention)}
    if any(module.recording is not None for module in layers.values()):
        raise RuntimeError("this model's attention is already being recorded (nested record_attention)")
    records: dict[str, list[AttentionRecord]] = {name: [] for name in layers}
    try:
        for name, module in layers.items():
            module.recording = records[name]
        yield records
    finally:
        for module in layers.values():
            module.recording = None

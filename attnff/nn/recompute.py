"""Layer recomputation: keep only each layer's inputs for the backward pass and recompute the rest there.

Forces are a backward pass through every layer, so a plain call keeps all per-edge intermediates
of all layers alive until the gradient is taken. With recomputation only one layer's
intermediates exist at a time: peak memory falls by about the number of layers, at the price of
one more forward pass of each layer (torch.utils.checkpoint, non-reentrant).
"""

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

__all__ = ["run_layer"]


def run_layer(layer: nn.Module, *inputs, recompute: bool = False):
    """``layer(*inputs)``; with ``recompute`` (and autograd on) its intermediates are recomputed in the backward pass.

    A layer that is recording its attention weights (``nn.recording``) always runs plainly, so
    that each call records once.
    """
    if recompute and torch.is_grad_enabled() and getattr(layer, "recording", None) is None:
        return checkpoint(layer, *inputs, use_reentrant=False, preserve_rng_state=False)
    return layer(*inputs)

"""Edge chunks for the force paths that work through a neighbour list piece by piece (models/*_edges.py).

On the CPU a (chunk, F) temporary should stay in cache, so chunks are small; on a GPU what counts is
the number of kernel launches, so they are large. Also the test for "a force call with frozen weights",
the only calls those paths serve.
"""

import torch
from torch import nn

__all__ = ["CPU_EDGE_CHUNK", "DEVICE_EDGE_CHUNK", "edge_chunk", "edge_ranges", "frozen"]

#: edges per chunk on the CPU: a (chunk, 64) float32 temporary is 1 MiB
CPU_EDGE_CHUNK = 4096
#: edges per chunk elsewhere (a GPU)
DEVICE_EDGE_CHUNK = 1 << 20


def edge_chunk(device: torch.device) -> int:
    """Edges per chunk on ``device``: small on the CPU (cache), large on a GPU (kernel launches)."""
    return CPU_EDGE_CHUNK if device.type == "cpu" else DEVICE_EDGE_CHUNK


def edge_ranges(num_edges: int, chunk: int):
    """(start, end) of consecutive chunks of at most ``chunk`` edges covering 0..num_edges."""
    return ((start, min(start + chunk, num_edges)) for start in range(0, num_edges, chunk))


def frozen(*modules_or_parameters) -> bool:
    """True when none of the given modules' parameters (or the given parameters) requires a gradient."""
    for item in modules_or_parameters:
        parameters = item.parameters() if isinstance(item, nn.Module) else (item,)
        if any(p.requires_grad for p in parameters):
            return False
    return True

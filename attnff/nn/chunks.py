"""Edge chunks for the force paths that work through a pair list piece by piece.

Used by nn/pair_kernels.py and models/*_chunked.py.

On the CPU a (chunk, F) temporary should stay in cache, so chunks are small; on a GPU what counts is
the number of kernel launches, so they are large. Also the test for "a force call with frozen weights,
outside torch.compile" (``chunkable``), the only calls those paths serve.
"""

import torch
from torch import nn

__all__ = ["CPU_CHUNK_BYTES", "DEVICE_EDGE_CHUNK", "MIN_CHUNKED_BYTES", "chunkable", "edge_chunk", "edge_ranges",
           "worth_chunking"]

#: bytes of the widest per-edge temporary of a chunk on the CPU (4096 edges x 64 float32 features);
#: 0.5-2 MiB were within the noise of each other on 768 water atoms (benchmarks/edge_chunks.py)
CPU_CHUNK_BYTES = 1 << 20
#: edges per chunk elsewhere (a GPU)
DEVICE_EDGE_CHUNK = 1 << 20
#: below this size of one (E, features) tensor the plain layer is as fast or faster (its tensors largely stay
#: in cache, and the chunked backward recomputes): JAT took 8 % longer chunked on 768 water atoms in float32
#: (10 MB per tensor), 18-38 % longer on 96 atoms and 10-20 % on the 120- and 240-atom EAN boxes, but 13 % less
#: time on 768 atoms in float64 (21 MB);
#: CMRET's convolution, (E, 2F), broke even on 768 atoms (benchmarks/edge_chunks.py)
MIN_CHUNKED_BYTES = 16 << 20


def edge_chunk(reference: torch.Tensor, features: int) -> int:
    """Edges per chunk for per-edge temporaries of ``features`` numbers of ``reference``'s dtype and device.

    On the CPU the widest temporary takes about CPU_CHUNK_BYTES (cache); elsewhere DEVICE_EDGE_CHUNK
    edges (kernel launches).
    """
    if reference.device.type != "cpu":
        return DEVICE_EDGE_CHUNK
    return max(16, CPU_CHUNK_BYTES // (features * reference.element_size()))


def worth_chunking(reference: torch.Tensor, num_edges: int, features: int) -> bool:
    """Whether an (num_edges, features) tensor of ``reference``'s dtype is large enough for the chunked path."""
    return num_edges * features * reference.element_size() >= MIN_CHUNKED_BYTES


def edge_ranges(num_edges: int, chunk: int):
    """(start, end) of consecutive chunks of at most ``chunk`` edges covering 0..num_edges."""
    return ((start, min(start + chunk, num_edges)) for start in range(0, num_edges, chunk))


def chunkable(*modules_or_parameters) -> bool:
    """Whether a chunked force path may serve these weights now: none of the given modules' parameters (or
    the given parameters) requires a gradient, and torch.compile is not tracing (it fuses the plain layer)."""
    if torch.compiler.is_compiling():
        return False
    for item in modules_or_parameters:
        parameters = item.parameters() if isinstance(item, nn.Module) else (item,)
        if any(p.requires_grad for p in parameters):
            return False
    return True
